/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * broker.c - pools, hosts and extents.  Every operation checks all of its
 * input before it changes anything, so a refused request leaves no trace.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "dcd/json.h"
#include "core/broker.h"
#include "core/record.h"
#include "err.h"

static void broker_dirty(DcdBroker *b);

/* ---- latencies (metrics) ---------------------------------------------- */

/* From a hostsim's sub-millisecond answer to a guest's minute. */
const double dcd_latency_bounds[DCD_LATENCY_BOUNDS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5, 5, 10, 30, 60,
};

static void observe(DcdLatency *l, gint64 since_us)
{
    double s = MAX(g_get_monotonic_time() - since_us, 0) /
               (double)G_USEC_PER_SEC;
    unsigned i = 0;

    while (i < DCD_LATENCY_BOUNDS && s > dcd_latency_bounds[i]) {
        i++;
    }
    l->buckets[i]++;
    l->count++;
    l->sum_s += s;
}

/* ---- events ----------------------------------------------------------- */

void dcd_broker_watch(DcdBroker *b, DcdBrokerWatchFn fn, gpointer opaque)
{
    DcdBrokerWatcher w = { .fn = fn, .opaque = opaque };

    g_array_append_val(b->watchers, w);
}

void dcd_broker_unwatch(DcdBroker *b, gpointer opaque)
{
    for (guint i = 0; i < b->watchers->len; i++) {
        if (g_array_index(b->watchers, DcdBrokerWatcher, i).opaque ==
            opaque) {
            g_array_remove_index(b->watchers, i);
            return;
        }
    }
}

static void notify(DcdBroker *b, DcdBrokerEventKind kind, const DcdHost *h,
                   const DcdPool *p, const DcdExtent *e)
{
    DcdBrokerEvent ev = { .kind = kind, .host = h, .pool = p, .extent = e };
    g_autoptr(GArray) ws = NULL;

    if (!b->watchers->len) {
        return;
    }
    /* A watcher may unwatch itself or another while we walk. */
    ws = g_array_copy(b->watchers);
    for (guint i = 0; i < ws->len; i++) {
        DcdBrokerWatcher *w = &g_array_index(ws, DcdBrokerWatcher, i);
        bool still = false;

        for (guint j = 0; j < b->watchers->len && !still; j++) {
            still = g_array_index(b->watchers, DcdBrokerWatcher, j).opaque ==
                    w->opaque;
        }
        if (still) {
            w->fn(b, &ev, w->opaque);
        }
    }
}

static void extent_changed(DcdBroker *b, const DcdHost *h, const DcdExtent *e)
{
    notify(b, DCD_EVENT_EXTENT, h, e->pool, e);
}

/*
 * ---- saved state ------------------------------------------------------
 *
 * Changes are queued (save_*, forget_*) and written at once by commit(),
 * before anyone hears of them.  A change the broker may refuse (a
 * request) is undone when it cannot be saved, and the request fails.  One
 * it cannot refuse (a host released, went away, or its offer timed out)
 * stands in memory; the saved state then lags behind, erring towards
 * what hosts may still map, and is rewritten whole (the journal writes
 * a snapshot) as soon as it can be, and before any later change is
 * acknowledged.
 */

static bool rewrite(DcdBroker *b, GError **errp);

static void save_pool(DcdBroker *b, const DcdPool *p)
{
    if (b->store) {
        dcd_record_put_pool(b->store, p);
    }
}

/*
 * A change of a device pool puts the device's record too: brokers sharing
 * the device then carve it one after another (the store refuses a commit
 * whose keys moved since this broker saw them).
 */
static void save_device(DcdBroker *b, const DcdPool *p)
{
    if (b->store && p->ranges) {
        dcd_record_put_device(b->store, b->device->size);
    }
}

static void save_host(DcdBroker *b, const DcdHost *h)
{
    if (b->store) {
        dcd_record_put_host(b->store, h);
    }
}

static void save_extent(DcdBroker *b, const DcdHost *h, const DcdExtent *e)
{
    if (b->store) {
        dcd_record_put_extent(b->store, h, e);
    }
}

static void forget_extent(DcdBroker *b, const DcdHost *h, const DcdExtent *e)
{
    if (b->store) {
        dcd_record_del_extent(b->store, h, e);
    }
}

static bool commit(DcdBroker *b, GError **errp)
{
    if (!b->store) {
        return true;
    }
    if (b->store_behind && !rewrite(b, errp)) {
        dcd_store_discard(b->store);
        return false;
    }
    b->store_behind = false;
    if (!dcd_store_commit(b->store, errp)) {
        return false;
    }
    broker_dirty(b);
    return true;
}

static gboolean catch_up(gpointer opaque)
{
    DcdBroker *b = opaque;
    g_autoptr(GError) err = NULL;

    if (commit(b, &err)) {
        g_message("saved state caught up");
        b->catch_up_source = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* Save a change the broker could not refuse, now or later. */
static void commit_anyway(DcdBroker *b)
{
    g_autoptr(GError) err = NULL;

    if (commit(b, &err)) {
        return;
    }
    b->store_behind = true;
    if (!b->catch_up_source) {
        g_warning("%s; the saved state is rewritten once it can be",
                  err->message);
        b->catch_up_source = g_timeout_add(DCD_CATCH_UP_MS, catch_up, b);
    }
}

/*
 * A memfd pool whose memory died with an earlier broker can get it back
 * only from a host that holds extents of it.  Once none does, nobody
 * ever will: give it fresh memory rather than leave it unusable.
 */
static void renew_if_orphan(DcdBroker *b, DcdPool *p)
{
    g_autoptr(GError) err = NULL;

    if (dcd_pool_has_memory(p) || p->holders ||
        p->backing == DCD_BACKING_FILE) {
        return;
    }
    if (dcd_pool_renew(p, &err)) {
        g_message("pool %s: its memory died with an earlier broker and no"
                  " host holds it any more; it starts again, empty",
                  p->tag_str);
        notify(b, DCD_EVENT_POOL_MEMORY, NULL, p, NULL);
    } else {
        g_warning("pool %s: %s", p->tag_str, err->message);
    }
}

/* Every live extent is saved; ending one drops its record. */
static void end_extent(DcdBroker *b, DcdHost *h, DcdExtent *e,
                       DcdExtentState state)
{
    DcdPool *p = e->pool;

    forget_extent(b, h, e);
    dcd_host_end_extent(h, e, state);
    extent_changed(b, h, e);
    renew_if_orphan(b, p);
}

/* Everything in memory, written whole (a snapshot, in the journal). */
static bool rewrite(DcdBroker *b, GError **errp)
{
    g_autoptr(GPtrArray) pools = dcd_registry_pools(&b->reg);
    g_autoptr(GPtrArray) hosts = dcd_registry_hosts(&b->reg);

    dcd_store_rewrite_begin(b->store);
    dcd_record_put_meta(b->store, b->id, b->epoch);
    if (b->device) {
        dcd_record_put_device(b->store, b->device->size);
    }
    for (guint i = 0; i < pools->len; i++) {
        dcd_record_put_pool(b->store, pools->pdata[i]);
    }
    for (guint i = 0; i < hosts->len; i++) {
        DcdHost *h = hosts->pdata[i];
        g_autoptr(GPtrArray) ext = dcd_host_extents_of(h, NULL);

        dcd_record_put_host(b->store, h);
        for (guint j = 0; j < ext->len; j++) {
            dcd_record_put_extent(b->store, h, ext->pdata[j]);
        }
    }
    return dcd_store_rewrite_commit(b->store, errp);
}

static unsigned live_records(DcdBroker *b)
{
    DcdBrokerStats s;

    dcd_broker_stats(b, &s);
    return 1 + s.pools + s.hosts + s.extents;
}

static gboolean maintain(gpointer opaque)
{
    DcdBroker *b = opaque;
    g_autoptr(GError) err = NULL;

    b->maintain_source = 0;
    /* The line count alone rules out most passes; counting records doesn't. */
    if (dcd_store_wants_rewrite(b->store, 0) &&
        dcd_store_wants_rewrite(b->store, live_records(b)) &&
        !rewrite(b, &err)) {
        g_warning("%s; the saved state keeps growing", err->message);
    }
    dcd_store_sync(b->store);
    return G_SOURCE_REMOVE;
}

/* Sync and rewrite once the main loop has nothing else to do. */
static void broker_dirty(DcdBroker *b)
{
    if (!b->maintain_source) {
        b->maintain_source = g_idle_add_full(G_PRIORITY_LOW, maintain, b,
                                             NULL);
    }
}

/* ---- loading ---------------------------------------------------------- */

/* The saved layout and requesters of a restored pool; then it is known. */
static void add_restored_pool(DcdBroker *b, DcdPool *p, DcdSavedPool *sp)
{
    g_autoptr(GError) err = NULL;

    if (sp->segments->len &&
        !dcd_pool_set_layout(p, (uint64_t *)sp->segments->data,
                             sp->segments->len, &err)) {
        g_warning("saved state: pool %s: bad layout (%s); it has none",
                  p->tag_str, err->message);
    }
    p->requesters = g_steal_pointer(&sp->requesters);
    dcd_registry_add_pool(&b->reg, p);
}

/*
 * A device pool's ranges are taken again, or the broker does not start:
 * dropping the pool would free bytes its hosts may still map.
 */
static bool restore_device_pool(DcdBroker *b, DcdSavedPool *sp,
                                GError **errp)
{
    char tag[DCD_TAG_STR_LEN];
    g_autoptr(GError) err = NULL;
    DcdPool *p;

    dcd_tag_unparse(&sp->tag, tag);
    if (!b->device) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "saved state: pool %s"
                    " lives on a shared device: start the broker with"
                    " --shared-device", tag);
        return false;
    }
    p = dcd_pool_restore_on_device(&sp->tag, sp->size, b->device,
                                   g_steal_pointer(&sp->ranges), &err);
    if (!p) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "saved state: device"
                    " pool %s on %s: %s", tag, b->device->path, err->message);
        return false;
    }
    add_restored_pool(b, p, sp);
    return true;
}

static bool restore_pool(DcdBroker *b, JsonObject *o, GError **errp)
{
    g_auto(DcdSavedPool) sp = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *want = NULL;
    const char *path;
    const char *backing = NULL;
    DcdPool *p;

    if (!dcd_record_decode_pool(o, &sp, &err)) {
        if (dcd_jsonin_str(o, "backing", true, &backing, NULL) &&
            g_strcmp0(backing, "device") == 0) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "saved state: a"
                        " device pool's record is malformed (%s); its bytes"
                        " cannot be given to others: repair the state",
                        err->message);
            return false;
        }
        g_warning("saved state: dropping a pool record: %s", err->message);
        return true;
    }
    if (dcd_registry_pool(&b->reg, &sp.tag)) {
        return true;
    }
    if (sp.backing == DCD_BACKING_DEVICE) {
        return restore_device_pool(b, &sp, errp);
    }
    path = sp.path;
    if (sp.backing == DCD_BACKING_FILE) {
        /* Only the file it would have made: a record names no other. */
        want = dcd_pool_file_path(b->pool_dir, &sp.tag);
        if (!want || g_strcmp0(path, want) != 0) {
            char tag[DCD_TAG_STR_LEN];

            dcd_tag_unparse(&sp.tag, tag);
            g_warning("saved state: file pool %s names %s, not its file in"
                      " the pool dir (%s); it has no memory until the broker"
                      " runs with the pool dir it was made in", tag,
                      path ? path : "no file",
                      b->pool_dir ? b->pool_dir : "none given");
            path = NULL;
        }
    }
    p = path || sp.backing != DCD_BACKING_FILE ?
        dcd_pool_restore(&sp.tag, sp.size, sp.backing, path, &err) : NULL;
    if (!p) {
        if (err) {
            g_warning("saved state: pool %s: %s; it has no memory", path,
                      err->message);
            g_clear_error(&err);
        }
        p = dcd_pool_restore(&sp.tag, sp.size, DCD_BACKING_MEMFD, NULL, NULL);
        p->backing = sp.backing;
    }
    add_restored_pool(b, p, &sp);
    return true;
}

static void restore_host(DcdBroker *b, JsonObject *o)
{
    DcdSavedHost sh;
    g_autoptr(GError) err = NULL;

    if (!dcd_record_decode_host(o, &sh, &err)) {
        g_warning("saved state: dropping a host record: %s", err->message);
        return;
    }
    if (!dcd_registry_host(&b->reg, sh.id)) {
        dcd_registry_add_host(&b->reg, dcd_host_new(sh.id, sh.name,
                                                    sh.regions, sh.nregions));
    }
}

static void restore_extent(DcdBroker *b, JsonObject *o)
{
    DcdSavedExtent se;
    DcdHost *h;
    DcdPool *p;
    const DcdSegment *seg;
    DcdExtent *e;

    if (!dcd_record_decode_extent(o, &se) ||
        !(h = dcd_registry_host(&b->reg, se.host_id)) ||
        !(p = dcd_registry_pool(&b->reg, &se.tag)) ||
        se.region >= h->nregions ||
        !(seg = dcd_pool_segment(p, se.seq)) || seg->len != se.len ||
        !dcd_space_valid(&h->regions[se.region], se.dpa, se.len) ||
        !dcd_space_is_free(&h->regions[se.region], se.dpa, se.len)) {
        g_warning("saved state: dropping an extent record that does not fit");
        return;
    }
    /* An offer from before the restart (group 0) waits for the host's HOLD. */
    e = dcd_host_add_extent(h, p, se.region, se.dpa, se.len, se.seq,
                            se.state);
    e->group = 0;
}

/* Brokers sharing a device must all see the same one. */
static bool check_device_record(DcdBroker *b, const char *text,
                                GError **errp)
{
    g_autoptr(JsonObject) o = dcd_record_parse(text);
    uint64_t size = 0;

    if (!o || !dcd_record_decode_device(o, &size)) {
        g_warning("saved state: the shared device's record is malformed");
        return true;
    }
    if (b->device && size != b->device->size) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "shared device %s has"
                    " %" G_GUINT64_FORMAT " bytes, but the saved state's"
                    " device has %" G_GUINT64_FORMAT ": not the same device",
                    b->device->path, b->device->size, size);
        return false;
    }
    return true;
}

static bool load_state(DcdBroker *b, GError **errp)
{
    g_autoptr(GHashTable) all = NULL;
    g_autoptr(JsonObject) meta = NULL;
    const char *meta_text;
    unsigned dropped = 0;
    /* Pools and hosts first: extents refer to both. */
    static const char *const order[] = {
        "pool:", "devpool:", "host:", "extent:"
    };
    const char *dev_text;

    all = dcd_store_load(b->store, &dropped, errp);
    if (!all) {
        return false;
    }
    if (dropped) {
        g_warning("saved state: %u corrupt line(s) dropped", dropped);
    }
    meta_text = g_hash_table_lookup(all, "meta");
    meta = meta_text ? dcd_record_parse(meta_text) : NULL;
    if (meta && dcd_record_decode_meta(meta, b->id, &b->epoch)) {
        b->epoch++;
    } else {
        dcd_tag_generate((DcdTag *)b->id);
        b->epoch = 1;
    }
    dev_text = g_hash_table_lookup(all, "device");
    if (dev_text && !check_device_record(b, dev_text, errp)) {
        return false;
    }
    /* One record parsed at a time, each freed once restored. */
    for (unsigned k = 0; k < G_N_ELEMENTS(order); k++) {
        GHashTableIter it;
        gpointer key, text;

        g_hash_table_iter_init(&it, all);
        while (g_hash_table_iter_next(&it, &key, &text)) {
            g_autoptr(JsonObject) o = NULL;

            if (!g_str_has_prefix(key, order[k])) {
                continue;
            }
            o = dcd_record_parse(text);
            if (!o) {
                g_warning("saved state: dropping unreadable record %s",
                          (char *)key);
            } else if (k <= 1) {
                if (!restore_pool(b, o, errp)) {
                    return false;
                }
            } else if (k == 2) {
                restore_host(b, o);
            } else {
                restore_extent(b, o);
            }
            g_hash_table_iter_remove(&it);
        }
    }
    return true;
}

static void renew_orphans(DcdBroker *b)
{
    g_autoptr(GPtrArray) pools = dcd_registry_pools(&b->reg);

    for (guint i = 0; i < pools->len; i++) {
        renew_if_orphan(b, pools->pdata[i]);
    }
}

static bool is_pool_file_name(const char *name, DcdTag *tag)
{
    g_autofree char *stem = NULL;

    if (!g_str_has_suffix(name, DCD_POOL_FILE_SUFFIX)) {
        return false;
    }
    stem = g_strndup(name, strlen(name) - strlen(DCD_POOL_FILE_SUFFIX));
    return strlen(stem) == DCD_TAG_STR_LEN - 1 && dcd_tag_parse(stem, tag);
}

/*
 * Own the pool dir (two brokers sharing one would delete each other's
 * files) and remove pool files no saved pool names: a crash between
 * making a file and saving its pool, or between forgetting a pool and
 * removing its file, leaves one, and it would block its tag for ever.
 */
static bool claim_pool_dir(DcdBroker *b, GError **errp)
{
    g_autofree char *lock = g_build_filename(b->pool_dir, ".dcd-broker.lock",
                                             NULL);
    g_autoptr(GDir) dir = NULL;
    const char *name;

    if (!g_file_test(b->pool_dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOENT, "pool dir %s: no such"
                    " directory", b->pool_dir);
        return false;
    }
    b->pool_dir_lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (b->pool_dir_lock < 0 ||
        flock(b->pool_dir_lock, LOCK_EX | LOCK_NB) < 0) {
        g_set_error(errp, DCD_ERROR, errno == EWOULDBLOCK ? DCD_ERR_BUSY :
                    DCD_ERR_IO, "pool dir %s: %s", b->pool_dir,
                    errno == EWOULDBLOCK ? "in use by another dcd-broker" :
                    g_strerror(errno));
        return false;
    }
    dir = g_dir_open(b->pool_dir, 0, errp);
    if (!dir) {
        return false;
    }
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = NULL;
        DcdPool *p;
        DcdTag tag;

        if (!is_pool_file_name(name, &tag)) {
            continue;
        }
        p = dcd_registry_pool(&b->reg, &tag);
        if (p && p->backing == DCD_BACKING_FILE) {
            continue;
        }
        path = g_build_filename(b->pool_dir, name, NULL);
        if (unlink(path) == 0) {
            g_message("pool dir: removed %s, which no pool owns (left by a"
                      " crash in pool create or destroy)", name);
        } else {
            g_warning("pool dir: removing %s: %s", path, g_strerror(errno));
        }
    }
    return true;
}

/* Several brokers may share a thread (tests); liburcu counts no nesting. */
static __thread unsigned rcu_users;

static void rcu_use(void)
{
    if (rcu_users++ == 0) {
        rcu_register_thread();
    }
}

static void rcu_unuse(void)
{
    if (--rcu_users == 0) {
        rcu_unregister_thread();
    }
}

/* Has p the layout of these lengths (shared_seq order)? */
static bool same_layout(const DcdPool *p, const GArray *lens)
{
    if (dcd_pool_nsegments(p) != lens->len) {
        return false;
    }
    for (guint i = 0; i < lens->len; i++) {
        if (dcd_pool_segment(p, i)->len != g_array_index(lens, uint64_t, i)) {
            return false;
        }
    }
    return true;
}

/* Another broker made, laid out or destroyed a pool of the device. */
static void shared_pool_changed(DcdBroker *b, const char *key,
                                const char *json)
{
    g_auto(DcdSavedPool) sp = { 0 };
    g_autoptr(JsonObject) o = json ? dcd_record_parse(json) : NULL;
    g_autoptr(GError) err = NULL;
    DcdTag tag;
    DcdPool *p;

    if (!dcd_tag_parse(key + strlen("devpool:"), &tag)) {
        return;
    }
    p = dcd_registry_pool(&b->reg, &tag);
    if (!json) {
        if (!p) {
            return;
        }
        if (p->holders) {
            /* The destroy's compare should have made this impossible. */
            g_critical("pool %s was destroyed by another broker while %u"
                       " extent(s) here hold it; its device ranges stay"
                       " taken", p->tag_str, p->holders);
            return;
        }
        if (p->ranges) {
            dcd_device_put(b->device, p->ranges);
        }
        notify(b, DCD_EVENT_POOL_DESTROYED, NULL, p, NULL);
        dcd_registry_del_pool(&b->reg, p);
        return;
    }
    if (!o || !dcd_record_decode_pool(o, &sp, &err) ||
        sp.backing != DCD_BACKING_DEVICE || !dcd_tag_equal(&sp.tag, &tag)) {
        g_warning("another broker's pool %s does not read: %s", key,
                  err ? err->message : "not a device pool of that tag");
        return;
    }
    if (!p) {
        if (!b->device) {
            g_warning("another broker made device pool %s; this one has no"
                      " --shared-device and cannot serve it", key);
            return;
        }
        p = dcd_pool_restore_on_device(&sp.tag, sp.size, b->device,
                                       g_steal_pointer(&sp.ranges), &err);
        if (!p) {
            g_critical("another broker's pool %s: %s", key, err->message);
            return;
        }
        add_restored_pool(b, p, &sp);
        notify(b, DCD_EVENT_POOL_CREATED, NULL, p, NULL);
        return;
    }
    /*
     * A first add elsewhere fixed the layout this broker follows, or laid
     * the pool out again once nobody held it.
     */
    if (sp.segments->len && !same_layout(p, sp.segments)) {
        if (p->holders) {
            g_critical("pool %s was laid out again by another broker while"
                       " %u extent(s) here hold it", p->tag_str, p->holders);
        } else if (!dcd_pool_set_layout(p, (uint64_t *)sp.segments->data,
                                        sp.segments->len, &err)) {
            g_warning("another broker's layout of pool %s: %s", p->tag_str,
                      err->message);
        }
    }
    if (sp.requesters || p->requesters) {
        g_clear_pointer(&p->requesters, g_array_unref);
        p->requesters = g_steal_pointer(&sp.requesters);
    }
}

/* What other brokers sharing the store hold and change (store.h). */
static void on_store_change(DcdStore *s, const char *node, const char *key,
                            const char *json, gpointer opaque)
{
    DcdBroker *b = opaque;
    uint64_t size;

    if (node && !key) {
        dcd_cluster_node(&b->cluster, node, json);
    } else if (node && g_str_has_prefix(key, "mail:")) {
        /* Nobody to read it yet (start): it is old, and goes. */
        if (b->mail_fn) {
            b->mail_fn(b, node, key + strlen("mail:"), json, b->mail_opaque);
        } else {
            dcd_store_drop(b->store, node, key + strlen("mail:"));
        }
    } else if (node) {
        dcd_cluster_record(&b->cluster, node, key, json);
    } else if (g_str_has_prefix(key, "devpool:")) {
        shared_pool_changed(b, key, json);
    } else if (g_str_equal(key, "device") && json && b->device) {
        g_autoptr(JsonObject) o = dcd_record_parse(json);

        if (o && dcd_record_decode_device(o, &size) &&
            size != b->device->size) {
            g_critical("another broker's shared device has %"
                       G_GUINT64_FORMAT " bytes, ours %" G_GUINT64_FORMAT
                       ": the brokers do not share one device", size,
                       b->device->size);
        }
    }
}

DcdBroker *dcd_broker_new(const DcdBrokerConfig *cfg, GError **errp)
{
    DcdBroker *b = g_new0(DcdBroker, 1);
    g_autoptr(GError) err = NULL;

    rcu_use();
    dcd_registry_init(&b->reg);
    dcd_cluster_init(&b->cluster);
    b->node = g_strdup(cfg->node);
    b->watchers = g_array_new(FALSE, FALSE, sizeof(DcdBrokerWatcher));
    b->pool_dir = g_strdup(cfg->pool_dir);
    b->pool_dir_lock = -1;
    b->offer_timeout_ms = cfg->offer_timeout_ms;
    b->started_us = g_get_monotonic_time();
    if (cfg->shared_device &&
        !(b->device = dcd_device_open(cfg->shared_device,
                                      cfg->cluster_store != NULL, errp))) {
        dcd_broker_free(b);
        return NULL;
    }
    if (cfg->state_dir || cfg->cluster_store) {
        DcdStoreConfig sc = {
            .state_dir = cfg->state_dir,
            .cluster_store = cfg->cluster_store,
            .node = cfg->node,
            .lease_ttl_s = cfg->lease_ttl_s,
            .timeout_ms = cfg->store_timeout_ms,
            .security = cfg->etcd_security,
        };

        b->state_dir = cfg->cluster_store ? NULL : g_strdup(cfg->state_dir);
        b->cluster_store = g_strdup(cfg->cluster_store);
        b->store = dcd_store_open(&sc, errp);
        if (!b->store || !load_state(b, errp) ||
            (b->pool_dir && !claim_pool_dir(b, errp))) {
            dcd_broker_free(b);
            return NULL;
        }
        renew_orphans(b);
        /* A fresh rewrite of what was restored; give loading's heap back. */
        if (!rewrite(b, &err)) {
            g_warning("%s", err->message);
        }
        dcd_store_set_watch(b->store, on_store_change, b);
        malloc_trim(0);
    } else {
        dcd_tag_generate((DcdTag *)b->id);
        b->epoch = 1;
        if (b->pool_dir && !claim_pool_dir(b, errp)) {
            dcd_broker_free(b);
            return NULL;
        }
    }
    return b;
}

void dcd_broker_free(DcdBroker *b)
{
    if (!b) {
        return;
    }
    if (b->maintain_source) {
        g_source_remove(b->maintain_source);
        b->maintain_source = 0;
    }
    if (b->catch_up_source) {
        g_source_remove(b->catch_up_source);
    }
    if (b->store) {
        dcd_store_sync(b->store);
        dcd_store_close(b->store);
    }
    rcu_barrier();
    dcd_registry_fini(&b->reg);
    dcd_device_close(b->device);
    dcd_cluster_fini(&b->cluster);
    g_free(b->node);
    if (b->pool_dir_lock >= 0) {
        close(b->pool_dir_lock);
    }
    g_array_unref(b->watchers);
    g_free(b->state_dir);
    g_free(b->cluster_store);
    g_free(b->pool_dir);
    g_free(b);
    rcu_unuse();
}

/* ---- pools ------------------------------------------------------------ */

static DcdPool *need_pool(DcdBroker *b, const DcdTag *tag, GError **errp)
{
    DcdPool *p = dcd_registry_pool(&b->reg, tag);
    char s[DCD_TAG_STR_LEN];

    if (!p) {
        dcd_tag_unparse(tag, s);
        ERR(errp, DCD_ERR_NOENT, "no pool with tag %s", s);
    }
    return p;
}

static DcdHost *need_host(DcdBroker *b, uint16_t id, GError **errp)
{
    DcdHost *h = dcd_registry_host(&b->reg, id);
    const char *node = h ? NULL : dcd_cluster_host_node(&b->cluster, id);

    if (node) {
        ERR(errp, DCD_ERR_UNAVAIL, "host %u is on node %s: its broker makes"
            " the changes to it (ask that broker)", id, node);
    } else if (!h) {
        ERR(errp, DCD_ERR_NOENT, "no host with host-id %u", id);
    }
    return h;
}

static DcdPool *pool_create_once(DcdBroker *b, const DcdTag *tag,
                                 uint64_t size, DcdBacking backing,
                                 GArray *requesters, GError **errp)
{
    DcdTag t = *tag;
    DcdPool *p;

    if (dcd_registry_pool(&b->reg, &t)) {
        char s[DCD_TAG_STR_LEN];

        dcd_tag_unparse(&t, s);
        ERR(errp, DCD_ERR_EXIST, "a pool with tag %s already exists", s);
        return NULL;
    }
    if (backing == DCD_BACKING_DEVICE && !b->device) {
        ERR(errp, DCD_ERR_NOTSUP, "device pools need the broker started with"
            " --shared-device");
        return NULL;
    }
    p = backing == DCD_BACKING_DEVICE ?
        dcd_pool_create_on_device(&t, size, b->device, errp) :
        dcd_pool_create(&t, size, backing, b->pool_dir, errp);
    if (!p) {
        return NULL;
    }
    if (requesters) {
        p->requesters = g_array_ref(requesters);
    }
    save_pool(b, p);
    save_device(b, p);
    if (!commit(b, errp)) {
        dcd_pool_unlink(p);
        if (p->ranges) {
            dcd_device_put(b->device, p->ranges);
        }
        dcd_pool_free(p);
        return NULL;
    }
    dcd_registry_add_pool(&b->reg, p);
    notify(b, DCD_EVENT_POOL_CREATED, NULL, p, NULL);
    return p;
}

/* How often a change of a device pool is tried again, another broker's
 * having come first. */
#define DEVICE_RACE_TRIES 8

DcdPool *dcd_broker_pool_create(DcdBroker *b, const DcdTag *tag,
                                uint64_t size, DcdBacking backing,
                                GArray *requesters, GError **errp)
{
    DcdTag t;

    if (tag && !dcd_tag_is_null(tag)) {
        t = *tag;
    } else {
        dcd_tag_generate(&t);
    }
    /*
     * Another broker carved the device since this one last heard: read
     * what it did and carve again (what etcd refused changed nothing).
     */
    for (unsigned i = 1;; i++) {
        g_autoptr(GError) err = NULL;
        DcdPool *p = pool_create_once(b, &t, size, backing, requesters,
                                      &err);

        if (p || backing != DCD_BACKING_DEVICE || i == DEVICE_RACE_TRIES ||
            !g_error_matches(err, DCD_ERROR, DCD_ERR_STATE) ||
            !dcd_store_refresh(b->store, NULL)) {
            if (!p) {
                g_propagate_error(errp, g_steal_pointer(&err));
            }
            return p;
        }
    }
}

/* Extents of p on other nodes' hosts. */
static unsigned remote_holders(DcdBroker *b, const DcdPool *p)
{
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    unsigned n;

    dcd_cluster_holders(&b->cluster, &p->tag, ids, &n);
    return n;
}

GArray *dcd_broker_pool_holders(DcdBroker *b, const DcdPool *p)
{
    g_autoptr(GPtrArray) hosts = dcd_registry_hosts(&b->reg);
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    unsigned n;

    for (guint i = 0; p->holders && i < hosts->len; i++) {
        DcdHost *h = hosts->pdata[i];

        if (dcd_host_holds(h, p)) {
            g_array_append_val(ids, h->id);
        }
    }
    dcd_cluster_holders(&b->cluster, &p->tag, ids, &n);
    return ids;
}

/* "1, 4, 7": the hosts holding p, for messages. */
static char *holders_text(DcdBroker *b, const DcdPool *p)
{
    g_autoptr(GArray) ids = dcd_broker_pool_holders(b, p);
    GString *who = g_string_new(NULL);

    for (guint i = 0; i < ids->len; i++) {
        g_string_append_printf(who, "%s%u", i ? ", " : "",
                               g_array_index(ids, uint16_t, i));
    }
    if (!ids->len) {
        g_string_assign(who, "none");
    }
    return g_string_free(who, FALSE);
}

static bool pool_destroy_once(DcdBroker *b, const DcdTag *tag,
                              GError **errp)
{
    DcdPool *p = need_pool(b, tag, errp);

    if (!p) {
        return false;
    }
    if (p->holders || remote_holders(b, p)) {
        g_autofree char *who = holders_text(b, p);

        ERR(errp, DCD_ERR_BUSY, "pool %s is held by host(s) %s (%u extents);"
            " release it first", p->tag_str, who,
            p->holders + remote_holders(b, p));
        return false;
    }
    if (b->store) {
        dcd_record_del_pool(b->store, p);
    }
    save_device(b, p);
    if (!commit(b, errp)) {
        return false;
    }
    dcd_pool_unlink(p);
    /* No extent holds it (above): no host may map these bytes now. */
    if (p->ranges) {
        dcd_device_put(b->device, p->ranges);
    }
    notify(b, DCD_EVENT_POOL_DESTROYED, NULL, p, NULL);
    dcd_registry_del_pool(&b->reg, p);
    return true;
}

bool dcd_broker_pool_destroy(DcdBroker *b, const DcdTag *tag, GError **errp)
{
    /* As a create: another broker changed the shared records first. */
    for (unsigned i = 1;; i++) {
        g_autoptr(GError) err = NULL;
        DcdPool *p = dcd_registry_pool(&b->reg, tag);
        bool shared = p && p->ranges;

        if (pool_destroy_once(b, tag, &err)) {
            return true;
        }
        if (!shared || i == DEVICE_RACE_TRIES ||
            !g_error_matches(err, DCD_ERROR, DCD_ERR_STATE) ||
            !dcd_store_refresh(b->store, NULL)) {
            g_propagate_error(errp, g_steal_pointer(&err));
            return false;
        }
    }
}

/* ---- adding capacity -------------------------------------------------- */

/* Why a pool has no memory, and what gives it back. */
static void no_memory_error(DcdBroker *b, const DcdPool *p, GError **errp)
{
    g_autofree char *who = holders_text(b, p);

    if (p->backing == DCD_BACKING_FILE) {
        ERR(errp, DCD_ERR_STATE, "pool %s has no memory: its file could not"
            " be opened when the broker started (see its log); host(s) %s"
            " hand it back when they reconnect", p->tag_str, who);
    } else {
        ERR(errp, DCD_ERR_STATE, "pool %s has no memory: it died with the"
            " previous broker; host(s) %s hold extents of it and hand it back"
            " when they reconnect, or release theirs with forced and the pool"
            " starts again, empty", p->tag_str, who);
    }
}

/*
 * Check that ranges (absolute) fit region s and overlap neither what the
 * host has nor each other; on success the ranges are taken in s.
 */
static bool take_ranges(DcdSpace *s, const DcdHost *h, unsigned region,
                        const GArray *ranges, GError **errp)
{
    for (guint i = 0; i < ranges->len; i++) {
        const DcdDpaRange *r = &g_array_index(ranges, DcdDpaRange, i);

        if (!dcd_space_valid(s, r->dpa, r->len)) {
            ERR(errp, DCD_ERR_INVAL, "extent at offset 0x%" G_GINT64_MODIFIER
                "x length 0x%" G_GINT64_MODIFIER "x is not aligned to the"
                " %" G_GUINT64_FORMAT "-byte block or lies outside DC region"
                " %u of host %u", r->dpa - s->base, r->len, s->block, region,
                h->id);
        } else if (!dcd_space_is_free(s, r->dpa, r->len)) {
            ERR(errp, DCD_ERR_EXIST, "extent at offset 0x%" G_GINT64_MODIFIER
                "x length 0x%" G_GINT64_MODIFIER "x overlaps capacity host %u"
                " already has or was offered in DC region %u",
                r->dpa - s->base, r->len, h->id, region);
        } else {
            dcd_space_take(s, r->dpa, r->len);
            continue;
        }
        while (i--) {
            r = &g_array_index(ranges, DcdDpaRange, i);
            dcd_space_put(s, r->dpa, r->len);
        }
        return false;
    }
    return true;
}

static void put_ranges(DcdSpace *s, const GArray *ranges)
{
    for (guint i = 0; i < ranges->len; i++) {
        const DcdDpaRange *r = &g_array_index(ranges, DcdDpaRange, i);

        dcd_space_put(s, r->dpa, r->len);
    }
}

static void given_ranges(const DcdAddArgs *a, const DcdSpace *s, GArray *out)
{
    for (unsigned i = 0; i < a->nranges; i++) {
        DcdDpaRange r = { .dpa = s->base + a->ranges[i].dpa,
                          .len = a->ranges[i].len };

        if (r.dpa < s->base) { /* offset wrapped: make it fail the check */
            r.dpa = 0;
            r.len = 0;
        }
        g_array_append_val(out, r);
    }
}

/* Where a shared tag's segments go on this host, in shared_seq order. */
static bool place_shared(const DcdAddArgs *a, DcdHost *h, DcdSpace *s,
                         DcdPool *p, GArray *place, GError **errp)
{
    unsigned n = dcd_pool_nsegments(p);

    if (n == 0) {
        ERR(errp, DCD_ERR_STATE, "tag %s has no allocation to share yet: add"
            " it to a first host with free, contiguous or prescriptive",
            p->tag_str);
        return false;
    }
    if (!s->sharable) {
        ERR(errp, DCD_ERR_INVAL, "DC region %u of host %u is not sharable",
            a->region, h->id);
        return false;
    }
    if (a->nranges) {
        if (a->nranges != n) {
            ERR(errp, DCD_ERR_INVAL, "enable-shared-access takes one extent"
                " for each of the tag's %u extents, got %u", n, a->nranges);
            return false;
        }
        given_ranges(a, s, place);
        for (unsigned i = 0; i < n; i++) {
            if (g_array_index(place, DcdDpaRange, i).len !=
                dcd_pool_segment(p, i)->len) {
                ERR(errp, DCD_ERR_INVAL, "extent %u has length 0x%"
                    G_GINT64_MODIFIER "x but shared_seq %u of tag %s is 0x%"
                    G_GINT64_MODIFIER "x long", i,
                    g_array_index(place, DcdDpaRange, i).len, i, p->tag_str,
                    dcd_pool_segment(p, i)->len);
                return false;
            }
        }
        return take_ranges(s, h, a->region, place, errp);
    }
    for (unsigned i = 0; i < n; i++) {
        DcdDpaRange r = { .len = dcd_pool_segment(p, i)->len };

        if (r.len % s->block || !dcd_space_find_contig(s, r.len, &r.dpa)) {
            put_ranges(s, place);
            g_array_set_size(place, 0);
            ERR(errp, r.len % s->block ? DCD_ERR_INVAL : DCD_ERR_NOSPC,
                "no room for shared_seq %u of tag %s (0x%" G_GINT64_MODIFIER
                "x bytes) in DC region %u of host %u", i, p->tag_str, r.len,
                a->region, h->id);
            return false;
        }
        dcd_space_take(s, r.dpa, r.len);
        g_array_append_val(place, r);
    }
    return true;
}

/* Where a new allocation of the whole pool goes; also its layout. */
static bool place_new(DcdBroker *b, const DcdAddArgs *a, DcdHost *h,
                      DcdSpace *s, DcdPool *p, GArray *place, GError **errp)
{
    char need[16], have[16];
    /* Held on any node: its layout is fixed (a new one would differ). */
    unsigned held = p->holders + remote_holders(b, p);

    if (held) {
        ERR(errp, DCD_ERR_EXIST, "tag %s is already allocated (%u extents"
            " held); give another host access with enable-shared-access",
            p->tag_str, held);
        return false;
    }
    if (p->size % s->block) {
        ERR(errp, DCD_ERR_INVAL, "pool %s size %" G_GUINT64_FORMAT " is not"
            " a multiple of the %" G_GUINT64_FORMAT "-byte block of DC region"
            " %u", p->tag_str, p->size, s->block, a->region);
        return false;
    }
    if (a->policy != DCD_POLICY_PRESCRIPTIVE && a->nranges) {
        ERR(errp, DCD_ERR_INVAL, "the %s policy takes no extents; give them"
            " with prescriptive", dcd_policy_name(a->policy));
        return false;
    }
    switch (a->policy) {
    case DCD_POLICY_PRESCRIPTIVE:
        if (!a->nranges) {
            ERR(errp, DCD_ERR_INVAL, "prescriptive needs at least one extent");
            return false;
        }
        given_ranges(a, s, place);
        return take_ranges(s, h, a->region, place, errp);
    case DCD_POLICY_CONTIGUOUS: {
        DcdDpaRange r = { .len = p->size };

        if (!dcd_space_find_contig(s, r.len, &r.dpa)) {
            ERR(errp, DCD_ERR_NOSPC, "no free run of %s in DC region %u of"
                " host %u", dcd_size_format(p->size, need, sizeof(need)),
                a->region, h->id);
            return false;
        }
        g_array_append_val(place, r);
        return take_ranges(s, h, a->region, place, errp);
    }
    case DCD_POLICY_FREE:
        if (!dcd_space_find_free(s, p->size, place)) {
            ERR(errp, DCD_ERR_NOSPC, "DC region %u of host %u has %s free;"
                " tag %s needs %s", a->region, h->id,
                dcd_size_format(s->nfree * s->block, have, sizeof(have)),
                p->tag_str, dcd_size_format(p->size, need, sizeof(need)));
            return false;
        }
        return take_ranges(s, h, a->region, place, errp);
    default:
        ERR(errp, DCD_ERR_INVAL, "unknown selection policy %d", a->policy);
        return false;
    }
}

typedef struct OfferTimer {
    DcdBroker *b;
    uint16_t host_id;
    uint64_t group;
} OfferTimer;

/* Mark e revoking: the host may map it until it says it does not. */
static void revoke_extent(DcdBroker *b, DcdHost *h, DcdExtent *e)
{
    e->offer = e->state == DCD_EXTENT_PENDING;
    e->state = DCD_EXTENT_REVOKING;
    save_extent(b, h, e);
    extent_changed(b, h, e);
}

/*
 * Take back an offer: its extents stay the host's (revoking) until the
 * host confirms, with the WITHDRAW reply, that its device has dropped the
 * group and maps none of it; a late ACCEPT of it gets an ERROR.
 */
static void withdraw_group(DcdBroker *b, DcdHost *h, DcdGroup *g)
{
    if (g->withdrawing) {
        return;
    }
    for (guint i = 0; i < g->extents->len; i++) {
        DcdExtent *e = g->extents->pdata[i];

        if (e->state == DCD_EXTENT_PENDING) {
            revoke_extent(b, h, e);
        }
    }
    if (g->timer) {
        g_source_remove(g->timer);
        g->timer = 0;
    }
    g->withdrawing = true;
    /* A send that fails means the connection is going: detach keeps them. */
    h->ops->send_withdraw(h->link, g->id);
}

static gboolean offer_timeout(gpointer opaque)
{
    OfferTimer *t = opaque;
    DcdHost *h = dcd_registry_host(&t->b->reg, t->host_id);
    DcdGroup *g = h ? dcd_host_group(h, t->group) : NULL;

    if (g) {
        g->timer = 0;
        g_message("host %u has not answered group %" G_GUINT64_FORMAT " in"
                  " %u ms; the offer is withdrawn", h->id, g->id,
                  t->b->offer_timeout_ms);
        withdraw_group(t->b, h, g);
        commit_anyway(t->b);
    }
    return G_SOURCE_REMOVE;
}

static void arm_offer_timeout(DcdBroker *b, DcdHost *h, DcdGroup *g)
{
    OfferTimer *t = g_new(OfferTimer, 1);

    t->b = b;
    t->host_id = h->id;
    t->group = g->id;
    g->timer = g_timeout_add_full(G_PRIORITY_DEFAULT, b->offer_timeout_ms,
                                  offer_timeout, t, g_free);
}

/*
 * A device pool's extent must lie in one of its device ranges: cut the
 * placed DPA ranges where the pool's bytes jump to another range.
 */
static void cut_at_device_ranges(const DcdPool *p, GArray *place)
{
    uint64_t off = 0;

    for (guint i = 0; p->ranges && i < place->len; i++) {
        DcdDpaRange *r = &g_array_index(place, DcdDpaRange, i);
        uint64_t left = dcd_pool_run_left(p, off);

        if (r->len > left) {
            DcdDpaRange rest = { .dpa = r->dpa + left, .len = r->len - left };

            r->len = left;
            g_array_insert_val(place, i + 1, rest);
        }
        off += g_array_index(place, DcdDpaRange, i).len;
    }
}

static bool set_layout(DcdPool *p, GArray *place, GError **errp)
{
    g_autofree uint64_t *lens = NULL;

    cut_at_device_ranges(p, place);
    lens = g_new(uint64_t, MAX(place->len, 1));
    for (guint i = 0; i < place->len; i++) {
        lens[i] = g_array_index(place, DcdDpaRange, i).len;
    }
    return dcd_pool_set_layout(p, lens, place->len, errp);
}

DcdGroup *dcd_broker_extent_add(DcdBroker *b, const DcdAddArgs *a,
                                GError **errp)
{
    g_autoptr(GArray) place = g_array_new(FALSE, FALSE, sizeof(DcdDpaRange));
    DcdHost *h;
    DcdPool *p;
    g_autoptr(GArray) old_layout = NULL;
    DcdSpace *s;
    DcdGroup *g;
    bool shared = a->policy == DCD_POLICY_ENABLE_SHARED;
    gint64 started_us = g_get_monotonic_time();

    if (!(h = need_host(b, a->host_id, errp)) ||
        !(p = need_pool(b, &a->tag, errp))) {
        return NULL;
    }
    if (!dcd_host_connected(h)) {
        ERR(errp, DCD_ERR_UNAVAIL, "host %u is not connected", h->id);
        return NULL;
    }
    if (a->region >= h->nregions) {
        ERR(errp, DCD_ERR_INVAL, "host %u has no DC region %u (it has %u)",
            h->id, a->region, h->nregions);
        return NULL;
    }
    if (!dcd_pool_has_memory(p)) {
        no_memory_error(b, p, errp);
        return NULL;
    }
    if (dcd_host_holds(h, p)) {
        ERR(errp, DCD_ERR_EXIST, "host %u already holds tag %s", h->id,
            p->tag_str);
        return NULL;
    }
    if (a->by_host && !dcd_pool_may_request(p, h->id)) {
        ERR(errp, DCD_ERR_PERM, "host %u may not ask for pool %s itself",
            h->id, p->tag_str);
        return NULL;
    }
    s = &h->regions[a->region];
    if (shared ? !place_shared(a, h, s, p, place, errp) :
                 !place_new(b, a, h, s, p, place, errp)) {
        return NULL;
    }
    put_ranges(s, place); /* checked; dcd_host_add_extent() takes them */
    /* A tag reaches a host as one group: it must take that many at once */
    if (h->max_group && place->len > h->max_group) {
        ERR(errp, DCD_ERR_NOSPC, "the add needs %u extents, but host %u "
            "takes at most %u in one group", place->len, h->id,
            h->max_group);
        return NULL;
    }
    if (!shared) {
        old_layout = g_array_copy(p->segments);
        if (!set_layout(p, place, errp)) {
            return NULL;
        }
        save_pool(b, p);
    } else if (p->ranges) {
        /*
         * Put as it is: another broker's destroy of it, conditioned on
         * the pool record, then fails rather than free what this host
         * is about to map.
         */
        save_pool(b, p);
    }

    g = dcd_host_new_group(h);
    g->started_us = started_us;
    for (guint i = 0; i < place->len; i++) {
        const DcdDpaRange *r = &g_array_index(place, DcdDpaRange, i);
        DcdExtent *e = dcd_host_add_extent(h, p, a->region, r->dpa, r->len, i,
                                           DCD_EXTENT_PENDING);

        e->group = g->id;
        g_ptr_array_add(g->extents, e);
        /* Saved before the host can see it: HOLD can then only confirm. */
        save_extent(b, h, e);
    }
    if (!commit(b, errp)) {
        for (guint i = 0; i < g->extents->len; i++) {
            dcd_host_undo_extent(h, g->extents->pdata[i]);
        }
        g_ptr_array_set_size(g->extents, 0);
        dcd_host_close_group(h, g);
        if (old_layout) {
            g_array_unref(p->segments);
            p->segments = g_steal_pointer(&old_layout);
        }
        return NULL;
    }
    /* Every offer brings its pool fd: the host may have closed the last. */
    if (!h->ops->send_pool(h->link, p) ||
        !h->ops->send_offer(h->link, g->id, g->extents)) {
        for (guint i = 0; i < g->extents->len; i++) {
            end_extent(b, h, g->extents->pdata[i], DCD_EXTENT_RECLAIMED);
        }
        dcd_host_close_group(h, g);
        commit_anyway(b);
        ERR(errp, DCD_ERR_UNAVAIL, "lost the connection to host %u", h->id);
        return NULL;
    }
    if (b->offer_timeout_ms) {
        arm_offer_timeout(b, h, g);
    }
    for (guint i = 0; i < g->extents->len; i++) {
        extent_changed(b, h, g->extents->pdata[i]);
    }
    return g;
}

void dcd_broker_group_wait(DcdGroup *g, DcdGroupDoneFn fn, gpointer opaque)
{
    DcdGroupWaiter w = { .fn = fn, .opaque = opaque };

    g_array_append_val(g->waiters, w);
}

void dcd_broker_group_unwait(DcdBroker *b, uint16_t host_id, uint64_t group,
                             gpointer opaque)
{
    DcdHost *h = dcd_registry_host(&b->reg, host_id);
    DcdGroup *g = h ? dcd_host_group(h, group) : NULL;

    for (guint i = 0; g && i < g->waiters->len; i++) {
        if (g_array_index(g->waiters, DcdGroupWaiter, i).opaque == opaque) {
            g_array_remove_index(g->waiters, i);
            return;
        }
    }
}

/* ---- releasing capacity ----------------------------------------------- */

static bool select_prescriptive(const DcdReleaseArgs *a, DcdHost *h,
                                DcdPool *p, GPtrArray *mine, GPtrArray *sel,
                                GError **errp)
{
    DcdSpace *s;

    if (a->region >= h->nregions) {
        ERR(errp, DCD_ERR_INVAL, "host %u has no DC region %u", h->id,
            a->region);
        return false;
    }
    if (!a->nranges) {
        ERR(errp, DCD_ERR_INVAL, "prescriptive release needs extents");
        return false;
    }
    s = &h->regions[a->region];
    for (unsigned i = 0; i < a->nranges; i++) {
        uint64_t start = s->base + a->ranges[i].dpa;
        uint64_t len = a->ranges[i].len, covered = 0;

        if (start < s->base || !dcd_space_valid(s, start, len)) {
            ERR(errp, DCD_ERR_INVAL, "release range at offset 0x%"
                G_GINT64_MODIFIER "x length 0x%" G_GINT64_MODIFIER "x is not"
                " block-aligned or lies outside DC region %u",
                a->ranges[i].dpa, len, a->region);
            return false;
        }
        for (guint j = 0; j < mine->len; j++) {
            DcdExtent *e = mine->pdata[j];

            if (e->dpa >= start + len || e->dpa + e->len <= start) {
                continue;
            }
            if (e->dpa < start || e->dpa + e->len > start + len) {
                ERR(errp, DCD_ERR_INVAL, "partial release of a tagged extent:"
                    " the range at offset 0x%" G_GINT64_MODIFIER "x covers"
                    " only part of the extent at offset 0x%" G_GINT64_MODIFIER
                    "x length 0x%" G_GINT64_MODIFIER "x of tag %s",
                    a->ranges[i].dpa, e->dpa - s->base, e->len, p->tag_str);
                return false;
            }
            covered += e->len;
            if (!g_ptr_array_find(sel, e, NULL)) {
                g_ptr_array_add(sel, e);
            }
        }
        if (covered != len) {
            ERR(errp, DCD_ERR_NOENT, "the range at offset 0x%"
                G_GINT64_MODIFIER "x length 0x%" G_GINT64_MODIFIER "x is not"
                " all held by tag %s on host %u", a->ranges[i].dpa, len,
                p->tag_str, h->id);
            return false;
        }
    }
    return true;
}

GPtrArray *dcd_broker_extent_release(DcdBroker *b, const DcdReleaseArgs *a,
                                     GError **errp)
{
    g_autoptr(GPtrArray) mine = NULL;
    g_autoptr(GPtrArray) sel = g_ptr_array_new();
    g_autoptr(GPtrArray) held = g_ptr_array_new();
    g_autoptr(GArray) groups = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    GPtrArray *out;
    DcdHost *h;
    DcdPool *p;
    unsigned pending = 0;
    gint64 started_us = g_get_monotonic_time();

    if (!(h = need_host(b, a->host_id, errp)) ||
        !(p = need_pool(b, &a->tag, errp))) {
        return NULL;
    }
    mine = dcd_host_extents_of(h, &a->tag);
    if (a->removal == DCD_REMOVAL_TAG) {
        if (a->nranges) {
            ERR(errp, DCD_ERR_INVAL, "tag-based release takes no extents");
            return NULL;
        }
        /* A forced release withdraws offers not answered yet, too. */
        for (guint i = 0; i < mine->len; i++) {
            DcdExtent *e = mine->pdata[i];

            if (e->state != DCD_EXTENT_PENDING || a->forced) {
                g_ptr_array_add(sel, e);
            } else {
                pending++;
            }
        }
        if (!sel->len) {
            if (pending) {
                ERR(errp, DCD_ERR_STATE, "the offer of tag %s to host %u is"
                    " still pending", p->tag_str, h->id);
            } else {
                ERR(errp, DCD_ERR_NOENT, "host %u holds no extent of tag %s",
                    h->id, p->tag_str);
            }
            return NULL;
        }
    } else if (!select_prescriptive(a, h, p, mine, sel, errp)) {
        return NULL;
    }
    for (guint i = 0; i < sel->len; i++) {
        DcdExtent *e = sel->pdata[i];

        if ((e->state == DCD_EXTENT_PENDING &&
             a->removal != DCD_REMOVAL_TAG) ||
            (e->state == DCD_EXTENT_RELEASING && !a->forced) ||
            e->state == DCD_EXTENT_REVOKING) {
            ERR(errp, DCD_ERR_STATE, "the extent at DPA 0x%" G_GINT64_MODIFIER
                "x of tag %s is %s", e->dpa, p->tag_str,
                dcd_extent_state_name(e->state));
            return NULL;
        }
    }
    if (!dcd_host_connected(h) && !a->forced) {
        ERR(errp, DCD_ERR_UNAVAIL, "host %u is not connected; only a forced"
            " release works now", h->id);
        return NULL;
    }

    /*
     * Saved first.  A release marks them releasing; a forced one, revoking
     * until the host confirms.
     */
    for (guint i = 0; i < sel->len; i++) {
        DcdExtent *e = sel->pdata[i];
        DcdExtentState was = e->state;

        e->state = a->forced ? DCD_EXTENT_REVOKING : DCD_EXTENT_RELEASING;
        save_extent(b, h, e);
        e->state = was;
    }
    if (!commit(b, errp)) {
        return NULL;
    }
    /* The reply's copies, with the states the extents are about to take. */
    out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < sel->len; i++) {
        DcdExtent *e = sel->pdata[i];
        DcdExtent *o = g_memdup2(e, sizeof(*e));

        o->state = a->forced ? DCD_EXTENT_REVOKING : DCD_EXTENT_RELEASING;
        g_ptr_array_add(out, o);
        /* Offers in an open group are withdrawn, not released. */
        if (e->state == DCD_EXTENT_PENDING && e->group != 0) {
            if (groups->len == 0 ||
                g_array_index(groups, uint64_t, groups->len - 1) !=
                e->group) {
                g_array_append_val(groups, e->group);
            }
        } else {
            g_ptr_array_add(held, e);
        }
    }
    if (dcd_host_connected(h) && held->len) {
        h->ops->send_release(h->link, ++h->next_release, a->forced, held);
    }
    if (held->len) {
        b->releases++;
    }
    for (guint i = 0; i < held->len; i++) {
        DcdExtent *e = held->pdata[i];

        e->release = b->releases;
        e->release_us = started_us;

        if (!a->forced) {
            e->state = DCD_EXTENT_RELEASING;
            extent_changed(b, h, e);
        } else {
            revoke_extent(b, h, e);
        }
    }
    /* Last: closing a group may trim the history sel points into. */
    for (guint i = 0; i < groups->len; i++) {
        DcdGroup *g = dcd_host_group(h, g_array_index(groups, uint64_t, i));

        if (g) {
            withdraw_group(b, h, g);
        }
    }
    dcd_host_trim_history(h);
    /* What this queued is saved already. */
    if (b->store) {
        dcd_store_discard(b->store);
    }
    return out;
}

/* ---- host connection events ------------------------------------------- */

static void drop_all(DcdBroker *b, DcdHost *h, const char *why)
{
    g_autoptr(GPtrArray) all = dcd_host_extents_of(h, NULL);

    if (all->len) {
        g_message("host %u: %s; dropping %u extent(s) it held", h->id, why,
                  all->len);
    }
    for (guint i = 0; i < all->len; i++) {
        end_extent(b, h, all->pdata[i], DCD_EXTENT_RELEASED);
    }
    dcd_host_trim_history(h);
}

DcdHost *dcd_broker_host_attach(DcdBroker *b, const DcdHelloArgs *a,
                                const DcdHostLinkOps *ops, gpointer link,
                                GError **errp)
{
    DcdHost *h = dcd_registry_host(&b->reg, a->host_id);
    const char *node = dcd_cluster_host_node(&b->cluster, a->host_id);

    if (node && !h) {
        ERR(errp, DCD_ERR_EXIST, "host-id %u belongs to node %s: host-ids"
            " are unique in the cluster", a->host_id, node);
        return NULL;
    }
    if (h && dcd_host_connected(h)) {
        ERR(errp, DCD_ERR_EXIST, "host-id %u is already connected (pid %d)",
            a->host_id, (int)h->pid);
        return NULL;
    }
    if (!h) {
        h = dcd_host_new(a->host_id, a->name, a->regions, a->nregions);
        save_host(b, h);
        if (!commit(b, errp)) {
            dcd_host_free(h);
            return NULL;
        }
        dcd_registry_add_host(&b->reg, h);
    } else {
        if (!a->reconnect) {
            drop_all(b, h, "connected afresh, so it holds nothing");
        }
        if (!dcd_host_regions_equal(h, a->regions, a->nregions) ||
            g_strcmp0(h->name, a->name) != 0) {
            if (g_hash_table_size(h->extents)) {
                ERR(errp, DCD_ERR_STATE, "host %u reconnects with a different"
                    " DC region layout while it holds extents", h->id);
                return NULL;
            }
            dcd_host_set_regions(h, a->regions, a->nregions);
            g_strlcpy(h->name, a->name, sizeof(h->name));
            save_host(b, h);
        }
        commit_anyway(b);
    }
    g_hash_table_remove_all(h->handed);
    h->ops = ops;
    h->link = link;
    h->pid = a->pid;
    h->uid = a->uid;
    h->version = a->version;
    h->max_group = a->max_group;
    h->reconnecting = a->reconnect;
    notify(b, DCD_EVENT_HOST_CONNECTED, h, NULL, NULL);
    return h;
}

void dcd_broker_host_detach(DcdBroker *b, DcdHost *h)
{
    g_autoptr(GList) groups = g_hash_table_get_values(h->groups);

    /* Its device may still hold the offers: they wait for it, revoking. */
    for (GList *l = groups; l; l = l->next) {
        DcdGroup *g = l->data;

        for (guint i = 0; i < g->extents->len; i++) {
            DcdExtent *e = g->extents->pdata[i];

            if (e->state == DCD_EXTENT_PENDING) {
                revoke_extent(b, h, e);
            }
        }
        dcd_host_close_group(h, g);
    }
    commit_anyway(b);
    h->ops = NULL;
    h->link = NULL;
    h->reconnecting = false;
    g_hash_table_remove_all(h->handed);
    notify(b, DCD_EVENT_HOST_DISCONNECTED, h, NULL, NULL);
}

/*
 * A host's answer to an offer.  A malformed answer rejects the whole group:
 * the host treats an ERROR reply that way too, and a group left pending
 * would hold its DPAs until the host disconnects.
 */
bool dcd_broker_host_accept(DcdBroker *b, DcdHost *h, uint64_t group,
                            const struct dcd_range *ranges, unsigned n,
                            GError **errp)
{
    g_autoptr(GHashTable) chosen = g_hash_table_new(NULL, NULL);
    DcdGroup *g = dcd_host_group(h, group);
    bool ok = true;

    if (!g) {
        ERR(errp, DCD_ERR_NOENT, "no pending extent group %" G_GUINT64_FORMAT,
            group);
        return false;
    }
    if (g->withdrawing) {
        ERR(errp, DCD_ERR_NOENT, "extent group %" G_GUINT64_FORMAT " was"
            " withdrawn; nothing of it is held", group);
        return false;
    }
    for (unsigned i = 0; ok && i < n; i++) {
        DcdExtent *e = dcd_host_extent(h, ranges[i].dpa);

        if (!e || e->group != group || e->state != DCD_EXTENT_PENDING ||
            e->len != ranges[i].len) {
            ERR(errp, DCD_ERR_INVAL, "accepted range DPA 0x%"
                G_GINT64_MODIFIER "x length 0x%" G_GINT64_MODIFIER "x is not"
                " an extent of group %" G_GUINT64_FORMAT "; the group is"
                " rejected", ranges[i].dpa, ranges[i].len, group);
            ok = false;
        } else if (!g_hash_table_add(chosen, e)) {
            ERR(errp, DCD_ERR_INVAL, "DPA 0x%" G_GINT64_MODIFIER "x is"
                " accepted twice; the group is rejected", ranges[i].dpa);
            ok = false;
        }
    }
    /* Accepted only once saved; else the group is rejected whole. */
    for (guint i = 0; ok && i < g->extents->len; i++) {
        DcdExtent *e = g->extents->pdata[i];

        if (g_hash_table_contains(chosen, e)) {
            e->state = DCD_EXTENT_ACCEPTED;
            save_extent(b, h, e);
            e->state = DCD_EXTENT_PENDING;
        }
    }
    if (ok && !commit(b, errp)) {
        g_prefix_error(errp, "group %" G_GUINT64_FORMAT " is rejected: ",
                       group);
        ok = false;
    }
    /* The add's outcome is known now, before anyone hears of it. */
    if (g->started_us) {
        observe(&b->add_latency, g->started_us);
    }
    for (guint i = 0; i < g->extents->len; i++) {
        DcdExtent *e = g->extents->pdata[i];

        if (ok && g_hash_table_contains(chosen, e)) {
            e->state = DCD_EXTENT_ACCEPTED;
            extent_changed(b, h, e);
        } else {
            end_extent(b, h, e, DCD_EXTENT_REJECTED);
        }
    }
    commit_anyway(b);
    dcd_host_close_group(h, g);
    return ok;
}

void dcd_broker_host_withdrawn(DcdBroker *b, DcdHost *h, uint64_t group)
{
    DcdGroup *g = dcd_host_group(h, group);

    if (!g || !g->withdrawing) {
        g_message("host %u confirmed the withdrawal of group %"
                  G_GUINT64_FORMAT ", which was not being withdrawn", h->id,
                  group);
        return;
    }
    for (guint i = 0; i < g->extents->len; i++) {
        DcdExtent *e = g->extents->pdata[i];

        if (e->state == DCD_EXTENT_REVOKING) {
            end_extent(b, h, e, DCD_EXTENT_RECLAIMED);
        }
    }
    commit_anyway(b);
    dcd_host_close_group(h, g);
}

GPtrArray *dcd_broker_host_forget(DcdBroker *b, uint16_t host_id,
                                  GError **errp)
{
    g_autoptr(GPtrArray) all = NULL;
    GPtrArray *out;
    DcdHost *h;

    if (!(h = need_host(b, host_id, errp))) {
        return NULL;
    }
    if (dcd_host_connected(h)) {
        ERR(errp, DCD_ERR_STATE, "host %u is connected; release its extents"
            " instead", h->id);
        return NULL;
    }
    all = dcd_host_extents_of(h, NULL);
    for (guint i = 0; i < all->len; i++) {
        forget_extent(b, h, all->pdata[i]);
    }
    if (!commit(b, errp)) {
        return NULL;
    }
    if (all->len) {
        g_message("host %u declared gone: %u extent(s) it may have mapped"
                  " end now", h->id, all->len);
    }
    out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < all->len; i++) {
        DcdExtent *e = all->pdata[i];

        end_extent(b, h, e, e->state == DCD_EXTENT_PENDING || e->offer ?
                   DCD_EXTENT_RECLAIMED : DCD_EXTENT_RELEASED);
        g_ptr_array_add(out, g_memdup2(e, sizeof(*e)));
    }
    dcd_host_trim_history(h);
    if (b->store) {
        dcd_store_discard(b->store);
    }
    return out;
}

/*
 * sel are about to be released: a release request whose last extents
 * they are has its outcome now.  Each request is observed once, when the
 * host no longer holds any extent of it outside sel.
 */
static void observe_releases(DcdBroker *b, DcdHost *h, GPtrArray *sel)
{
    for (guint i = 0; i < sel->len; i++) {
        DcdExtent *r = sel->pdata[i], *e;
        uint64_t req = r->release;
        bool last = req != 0;
        GHashTableIter it;

        g_hash_table_iter_init(&it, h->extents);
        while (last && g_hash_table_iter_next(&it, NULL, (gpointer *)&e)) {
            last = e->release != req || g_ptr_array_find(sel, e, NULL);
        }
        if (last) {
            observe(&b->release_latency, r->release_us);
        }
        /* The rest of sel from the same request is not observed again. */
        for (guint j = i; req && j < sel->len; j++) {
            DcdExtent *o = sel->pdata[j];

            if (o->release == req) {
                o->release = 0;
            }
        }
    }
}

bool dcd_broker_host_released(DcdBroker *b, DcdHost *h,
                              const struct dcd_range *ranges, unsigned n,
                              GError **errp)
{
    g_autoptr(GPtrArray) sel = g_ptr_array_new();

    for (unsigned i = 0; i < n; i++) {
        DcdExtent *e = dcd_host_extent(h, ranges[i].dpa);

        /*
         * Not (or no longer) the host's: it says it maps a range the
         * broker does not count, which changes nothing.  A RELEASED that
         * confirms a forced RELEASE lists every extent of it, and one of
         * them may have crossed it in a RELEASED of the host's own.
         */
        if (!e || e->state == DCD_EXTENT_PENDING) {
            continue;
        }
        if (e->len != ranges[i].len) {
            ERR(errp, DCD_ERR_INVAL, "released range DPA 0x%"
                G_GINT64_MODIFIER "x length 0x%" G_GINT64_MODIFIER "x is not"
                " the extent there (length 0x%" G_GINT64_MODIFIER "x)",
                ranges[i].dpa, ranges[i].len, e->len);
            return false;
        }
        if (g_ptr_array_find(sel, e, NULL)) {
            ERR(errp, DCD_ERR_INVAL, "DPA 0x%" G_GINT64_MODIFIER "x is"
                " released twice", ranges[i].dpa);
            return false;
        }
        g_ptr_array_add(sel, e);
    }
    observe_releases(b, h, sel);
    for (guint i = 0; i < sel->len; i++) {
        end_extent(b, h, sel->pdata[i], DCD_EXTENT_RELEASED);
    }
    commit_anyway(b);
    dcd_host_trim_history(h);
    return true;
}

bool dcd_broker_host_pool(DcdBroker *b, DcdHost *h, const DcdTag *tag,
                          uint64_t size, DcdBacking backing, int fd,
                          GError **errp)
{
    DcdPool *p = need_pool(b, tag, errp);

    if (!p) {
        return false;
    }
    /* As the host was told it (POOL): a device pool is the device. */
    if (p->fd_size != size || dcd_pool_wire_backing(p) != backing) {
        ERR(errp, DCD_ERR_INVAL, "pool %s is %" G_GUINT64_FORMAT " bytes of"
            " %s, not %" G_GUINT64_FORMAT " of %s", p->tag_str, p->fd_size,
            dcd_backing_name(dcd_pool_wire_backing(p)), size,
            dcd_backing_name(backing));
        return false;
    }
    if (dcd_pool_has_memory(p)) {
        /*
         * Memory the broker kept: the host's must be that very file, or
         * the host maps a copy nobody else sees (a pool renewed while it
         * was away) and its extents of the pool are refused in HOLD.
         */
        if (!dcd_pool_same_memory(p, fd)) {
            ERR(errp, DCD_ERR_STATE, "pool %s: the memory handed back is not"
                " the pool's (it was renewed while host %u was away); its"
                " extents of the pool will be released", p->tag_str, h->id);
            return false;
        }
        close(fd);
    } else if (!dcd_host_holds(h, p)) {
        /* Only a holder maps the pool's memory; others may have a stale fd. */
        ERR(errp, DCD_ERR_STATE, "pool %s: host %u holds no extent of it, so"
            " the memory it hands back may be stale; not taken", p->tag_str,
            h->id);
        return false;
    } else if (!dcd_pool_adopt_fd(p, fd, errp)) {
        return false;
    } else {
        g_message("pool %s: memory handed back by host %u", p->tag_str,
                  h->id);
        notify(b, DCD_EVENT_POOL_MEMORY, h, p, NULL);
    }
    g_hash_table_add(h->handed, g_strdup(p->tag_str));
    return true;
}

/*
 * The broker saves every extent before the host first sees it, so HOLD
 * can only confirm what the broker knows, and only with the memory the
 * host handed back in this session.  Anything else was withdrawn,
 * force-released or renewed while the host was away.
 */
static bool hold_one(DcdBroker *b, DcdHost *h, const struct dcd_extent *w)
{
    DcdTag tag;
    DcdPool *p;
    const DcdSegment *seg;
    DcdExtent *e;

    memcpy(tag.b, w->tag, sizeof(tag.b));
    p = dcd_registry_pool(&b->reg, &tag);
    if (!p || !g_hash_table_contains(h->handed, p->tag_str) ||
        !(seg = dcd_pool_segment(p, w->shared_seq)) ||
        seg->fd_offset != w->pool_offset || seg->len != w->len) {
        return false;
    }
    e = dcd_host_extent(h, w->dpa);
    if (!e || e->pool != p || e->seq != w->shared_seq || e->len != w->len ||
        e->region != w->region ||
        (e->state == DCD_EXTENT_PENDING && e->group != 0)) {
        return false;
    }
    e->confirmed = true;
    return true;
}

void dcd_broker_host_hold(DcdBroker *b, DcdHost *h,
                          const struct dcd_extent *w, unsigned n, bool last)
{
    g_autoptr(GPtrArray) refused = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) releasing = g_ptr_array_new();
    g_autoptr(GPtrArray) revoking = g_ptr_array_new();

    for (unsigned i = 0; i < n; i++) {
        if (!hold_one(b, h, &w[i])) {
            DcdExtent *x = g_new0(DcdExtent, 1);

            x->dpa = w[i].dpa;
            x->len = w[i].len;
            x->region = w[i].region;
            x->seq = w[i].shared_seq;
            memcpy(x->tag.b, w[i].tag, sizeof(x->tag.b));
            g_ptr_array_add(refused, x);
        }
    }
    if (refused->len) {
        g_message("host %u: %u held extent(s) do not match the broker's"
                  " pools; forcing their release", h->id, refused->len);
        h->ops->send_release(h->link, ++h->next_release, true, refused);
    }
    if (!last) {
        return;
    }
    /* The host's list is complete: what it did not list, it lost. */
    all = dcd_host_extents_of(h, NULL);
    for (guint i = 0; i < all->len; i++) {
        DcdExtent *e = all->pdata[i];
        bool offered = e->state == DCD_EXTENT_PENDING;

        if (offered && e->group != 0) {
            continue; /* offered in this session, after the HELLO */
        }
        if (!e->confirmed) {
            end_extent(b, h, e, offered || e->offer ? DCD_EXTENT_RECLAIMED :
                                                      DCD_EXTENT_RELEASED);
            continue;
        }
        e->confirmed = false;
        if (offered) {
            /* Its ACCEPT was sent but the broker died before saving it. */
            e->state = DCD_EXTENT_ACCEPTED;
            save_extent(b, h, e);
            extent_changed(b, h, e);
        } else if (e->state == DCD_EXTENT_RELEASING) {
            g_ptr_array_add(releasing, e);
        } else if (e->state == DCD_EXTENT_REVOKING) {
            g_ptr_array_add(revoking, e);
        }
    }
    if (releasing->len) {
        h->ops->send_release(h->link, ++h->next_release, false, releasing);
    }
    /* Taken back while it was away: it must drop them now. */
    if (revoking->len) {
        h->ops->send_release(h->link, ++h->next_release, true, revoking);
    }
    commit_anyway(b);
    dcd_host_trim_history(h);
    h->reconnecting = false;
}

/* ---- lookups and status ----------------------------------------------- */

DcdPool *dcd_broker_pool(DcdBroker *b, const DcdTag *tag)
{
    return dcd_registry_pool(&b->reg, tag);
}

DcdHost *dcd_broker_host(DcdBroker *b, uint16_t id)
{
    return dcd_registry_host(&b->reg, id);
}

GPtrArray *dcd_broker_pools(DcdBroker *b)
{
    return dcd_registry_pools(&b->reg);
}

GPtrArray *dcd_broker_hosts(DcdBroker *b)
{
    return dcd_registry_hosts(&b->reg);
}

void dcd_broker_stats(DcdBroker *b, DcdBrokerStats *st)
{
    g_autoptr(GPtrArray) hosts = dcd_registry_hosts(&b->reg);

    memset(st, 0, sizeof(*st));
    st->pools = b->reg.npools;
    st->hosts = hosts->len;
    for (guint i = 0; i < hosts->len; i++) {
        DcdHost *h = hosts->pdata[i];

        st->hosts_connected += dcd_host_connected(h);
        st->extents += g_hash_table_size(h->extents);
    }
}

bool dcd_broker_store_available(DcdBroker *b)
{
    return !b->store || dcd_store_available(b->store);
}

void dcd_broker_set_mail(DcdBroker *b, DcdBrokerMailFn fn, gpointer opaque)
{
    b->mail_fn = fn;
    b->mail_opaque = opaque;
}

bool dcd_broker_send_mail(DcdBroker *b, const char *to, const char *name,
                          const char *json, GError **errp)
{
    return dcd_store_send(b->store, to, name, json, errp);
}

void dcd_broker_drop_mail(DcdBroker *b, const char *from, const char *name)
{
    dcd_store_drop(b->store, from, name);
}

const char *dcd_broker_host_node(DcdBroker *b, uint16_t id)
{
    return dcd_registry_host(&b->reg, id) ? NULL :
           dcd_cluster_host_node(&b->cluster, id);
}

void dcd_broker_metrics(DcdBroker *b, DcdBrokerMetrics *m)
{
    g_autoptr(GPtrArray) pools = dcd_registry_pools(&b->reg);
    g_autoptr(GPtrArray) hosts = dcd_registry_hosts(&b->reg);

    memset(m, 0, sizeof(*m));
    dcd_broker_stats(b, &m->stats);
    for (guint i = 0; i < pools->len; i++) {
        m->pool_bytes += ((DcdPool *)pools->pdata[i])->size;
    }
    for (guint i = 0; i < hosts->len; i++) {
        GHashTableIter it;
        DcdExtent *e;

        g_hash_table_iter_init(&it, ((DcdHost *)hosts->pdata[i])->extents);
        while (g_hash_table_iter_next(&it, NULL, (gpointer *)&e)) {
            m->extents[e->state]++;
        }
    }
    m->add_latency = b->add_latency;
    m->release_latency = b->release_latency;
    m->store_available = dcd_broker_store_available(b);
    if (b->store) {
        DcdStoreCounts c;

        m->store = dcd_store_backend(b->store);
        dcd_store_counts(b->store, &c);
        m->store_requests = c.requests;
        m->store_errors = c.errors;
    }
    if (b->device) {
        m->device = true;
        m->device_free = dcd_device_free_bytes(b->device);
        m->device_used = b->device->size - m->device_free;
    }
}
