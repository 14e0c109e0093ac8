/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * broker.c - pools, hosts and extents.  Every operation checks all of its
 * input before it changes anything, so a refused request leaves no trace.
 */
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "store.h"

#define ERR(errp, code, ...) g_set_error(errp, DCD_ERROR, code, __VA_ARGS__)

static void broker_dirty(DcdBroker *b);

/* ---- saved state ------------------------------------------------------ */

static void save_pool(DcdBroker *b, const DcdPool *p)
{
    if (b->store) {
        dcd_store_put_pool(b->store, p);
        broker_dirty(b);
    }
}

static void save_host(DcdBroker *b, const DcdHost *h)
{
    if (b->store) {
        dcd_store_put_host(b->store, h);
        broker_dirty(b);
    }
}

static void save_extent(DcdBroker *b, const DcdHost *h, const DcdExtent *e)
{
    if (b->store) {
        dcd_store_put_extent(b->store, h, e);
        broker_dirty(b);
    }
}

static void forget_extent(DcdBroker *b, const DcdHost *h, const DcdExtent *e)
{
    if (b->store) {
        dcd_store_del_extent(b->store, h, e);
        broker_dirty(b);
    }
}

/* An accepted or releasing extent is saved; ending it drops the record. */
static void end_extent(DcdBroker *b, DcdHost *h, DcdExtent *e,
                       DcdExtentState state)
{
    if (e->state == DCD_EXTENT_ACCEPTED || e->state == DCD_EXTENT_RELEASING) {
        forget_extent(b, h, e);
    }
    dcd_host_end_extent(h, e, state);
}

static void compact(DcdBroker *b)
{
    g_autoptr(GPtrArray) pools = dcd_registry_pools(&b->reg);
    g_autoptr(GPtrArray) hosts = dcd_registry_hosts(&b->reg);
    g_autoptr(GError) err = NULL;

    dcd_store_compact_begin(b->store);
    dcd_store_put_meta(b->store, b->id, b->epoch);
    for (guint i = 0; i < pools->len; i++) {
        dcd_store_put_pool(b->store, pools->pdata[i]);
    }
    for (guint i = 0; i < hosts->len; i++) {
        DcdHost *h = hosts->pdata[i];
        g_autoptr(GPtrArray) ext = dcd_host_extents_of(h, NULL);

        dcd_store_put_host(b->store, h);
        for (guint j = 0; j < ext->len; j++) {
            DcdExtent *e = ext->pdata[j];

            if (e->state != DCD_EXTENT_PENDING) {
                dcd_store_put_extent(b->store, h, e);
            }
        }
    }
    if (!dcd_store_compact_commit(b->store, &err)) {
        g_warning("saving a snapshot: %s", err->message);
    }
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

    b->maintain_source = 0;
    /* The line count alone rules out most passes; counting records doesn't. */
    if (dcd_store_wants_compact(b->store, 0) &&
        dcd_store_wants_compact(b->store, live_records(b))) {
        compact(b);
    }
    dcd_store_sync(b->store);
    return G_SOURCE_REMOVE;
}

/* Sync and compact once the main loop has nothing else to do. */
static void broker_dirty(DcdBroker *b)
{
    if (!b->maintain_source) {
        b->maintain_source = g_idle_add_full(G_PRIORITY_LOW, maintain, b,
                                             NULL);
    }
}

/* ---- loading ---------------------------------------------------------- */

/* Optional members: json-glib's getters complain about missing ones. */
static JsonArray *json_array_of(JsonObject *o, const char *k)
{
    JsonNode *n = json_object_get_member(o, k);

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static bool json_u64(JsonObject *o, const char *k, uint64_t *v)
{
    JsonNode *n = json_object_get_member(o, k);

    if (!n || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0) {
        return false;
    }
    *v = json_node_get_int(n);
    return true;
}

static bool json_tag(JsonObject *o, const char *k, DcdTag *t)
{
    JsonNode *n = json_object_get_member(o, k);

    return n && json_node_get_value_type(n) == G_TYPE_STRING &&
           dcd_tag_parse(json_node_get_string(n), t);
}

static void restore_pool(DcdBroker *b, JsonObject *o)
{
    g_autoptr(GError) err = NULL;
    DcdTag tag;
    uint64_t size;
    DcdBacking backing;
    const char *path = json_object_get_string_member_with_default(o, "path",
                                                                  NULL);
    JsonArray *segs = json_array_of(o, "segments");
    DcdPool *p;

    if (!json_tag(o, "tag", &tag) || !json_u64(o, "size", &size) ||
        !dcd_backing_parse(json_object_get_string_member_with_default(
                               o, "backing", ""), &backing) || !segs) {
        g_warning("saved state: dropping a malformed pool record");
        return;
    }
    p = dcd_pool_restore(&tag, size, backing, path, &err);
    if (!p) {
        g_warning("saved state: pool %s: %s; keeping it without memory",
                  path, err->message);
        p = dcd_pool_restore(&tag, size, DCD_BACKING_MEMFD, NULL, NULL);
        p->backing = backing;
        p->path = g_strdup(path);
    }
    if (json_array_get_length(segs)) {
        guint n = json_array_get_length(segs);
        g_autofree uint64_t *lens = g_new(uint64_t, n);

        for (guint i = 0; i < n; i++) {
            lens[i] = json_array_get_int_element(segs, i);
        }
        if (!dcd_pool_set_layout(p, lens, n, &err)) {
            g_warning("saved state: pool %s: %s", p->tag_str, err->message);
        }
    }
    if (json_array_of(o, "requesters")) {
        JsonArray *ra = json_array_of(o, "requesters");

        p->requesters = g_array_new(FALSE, FALSE, sizeof(uint16_t));
        for (guint i = 0; i < json_array_get_length(ra); i++) {
            uint16_t id = json_array_get_int_element(ra, i);

            g_array_append_val(p->requesters, id);
        }
    }
    if (!dcd_registry_add_pool(&b->reg, p)) {
        dcd_pool_free(p);
    }
}

static void restore_host(DcdBroker *b, JsonObject *o)
{
    struct dcd_region r[DCD_MAX_REGIONS] = { 0 };
    JsonArray *regions = json_array_of(o, "regions");
    uint64_t id;
    guint n;

    if (!json_u64(o, "host-id", &id) || id > G_MAXUINT16 || !regions ||
        (n = json_array_get_length(regions)) == 0 || n > DCD_MAX_REGIONS) {
        g_warning("saved state: dropping a malformed host record");
        return;
    }
    for (guint i = 0; i < n; i++) {
        JsonObject *ro = json_array_get_object_element(regions, i);
        uint64_t block;

        if (!ro || !json_u64(ro, "base", &r[i].base) ||
            !json_u64(ro, "len", &r[i].len) ||
            !json_u64(ro, "block-size", &block) || block == 0 ||
            r[i].len % block) {
            g_warning("saved state: dropping host %u: bad region",
                      (unsigned)id);
            return;
        }
        r[i].block_size = block;
        r[i].flags = json_object_get_boolean_member_with_default(
            ro, "sharable", false) ? DCD_REGION_SHARABLE : 0;
    }
    dcd_registry_add_host(&b->reg, dcd_host_new(id,
        json_object_get_string_member_with_default(o, "name", ""), r, n));
}

static void restore_extent(DcdBroker *b, JsonObject *o)
{
    uint64_t id, dpa, len, region, seq;
    DcdTag tag;
    DcdHost *h;
    DcdPool *p;
    const DcdSegment *seg;
    DcdExtent *e;
    const char *state = json_object_get_string_member_with_default(o, "state",
                                                                   "");

    if (!json_u64(o, "host-id", &id) || !json_u64(o, "dpa", &dpa) ||
        !json_u64(o, "len", &len) || !json_u64(o, "region", &region) ||
        !json_u64(o, "shared-seq", &seq) || !json_tag(o, "tag", &tag) ||
        id > G_MAXUINT16 || !(h = dcd_registry_host(&b->reg, id)) ||
        !(p = dcd_registry_pool(&b->reg, &tag)) || region >= h->nregions ||
        !(seg = dcd_pool_segment(p, seq)) || seg->len != len ||
        !dcd_space_valid(&h->regions[region], dpa, len) ||
        !dcd_space_is_free(&h->regions[region], dpa, len)) {
        g_warning("saved state: dropping an extent record that does not fit");
        return;
    }
    e = dcd_host_add_extent(h, p, region, dpa, len, seq,
                            DCD_EXTENT_ACCEPTED);
    if (g_str_equal(state, "releasing")) {
        e->state = DCD_EXTENT_RELEASING;
    }
}

static bool load_state(DcdBroker *b, GError **errp)
{
    g_autoptr(GHashTable) all = NULL;
    g_autoptr(JsonObject) meta = NULL;
    const char *meta_text;
    unsigned dropped = 0;
    /* Pools and hosts first: extents refer to both. */
    static const char *const order[] = { "pool:", "host:", "extent:" };

    all = dcd_store_load(b->store, &dropped, errp);
    if (!all) {
        return false;
    }
    if (dropped) {
        g_warning("saved state: %u corrupt line(s) dropped", dropped);
    }
    meta_text = g_hash_table_lookup(all, "meta");
    meta = meta_text ? dcd_store_parse_record(meta_text) : NULL;
    if (meta && json_tag(meta, "id", (DcdTag *)b->id) &&
        json_u64(meta, "epoch", &b->epoch)) {
        b->epoch++;
    } else {
        dcd_tag_generate((DcdTag *)b->id);
        b->epoch = 1;
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
            o = dcd_store_parse_record(text);
            if (!o) {
                g_warning("saved state: dropping unreadable record %s",
                          (char *)key);
            } else if (k == 0) {
                restore_pool(b, o);
            } else if (k == 1) {
                restore_host(b, o);
            } else {
                restore_extent(b, o);
            }
            g_hash_table_iter_remove(&it);
        }
    }
    return true;
}

/*
 * A memfd pool no host held when the broker stopped has no one to hand
 * its memory back: its bytes are gone, so give it fresh memory now
 * rather than leave it unusable.  Pools with accepted extents wait for
 * their hosts.
 */
static void renew_orphans(DcdBroker *b)
{
    g_autoptr(GPtrArray) pools = dcd_registry_pools(&b->reg);

    for (guint i = 0; i < pools->len; i++) {
        DcdPool *p = pools->pdata[i];
        g_autoptr(GError) err = NULL;

        if (dcd_pool_has_memory(p) || p->holders ||
            p->backing == DCD_BACKING_FILE) {
            continue;
        }
        if (dcd_pool_renew(p, &err)) {
            g_message("pool %s: no host held it, so its contents died with"
                      " the last broker; it starts empty", p->tag_str);
        } else {
            g_warning("pool %s: %s", p->tag_str, err->message);
        }
    }
}

DcdBroker *dcd_broker_new(const DcdBrokerConfig *cfg, GError **errp)
{
    DcdBroker *b = g_new0(DcdBroker, 1);

    rcu_register_thread();
    dcd_registry_init(&b->reg);
    b->pool_dir = g_strdup(cfg->pool_dir);
    b->started_us = g_get_monotonic_time();
    if (cfg->state_dir) {
        b->state_dir = g_strdup(cfg->state_dir);
        b->store = dcd_store_open(cfg->state_dir, errp);
        if (!b->store || !load_state(b, errp)) {
            dcd_broker_free(b);
            return NULL;
        }
        renew_orphans(b);
        /* A fresh snapshot of what was restored; give loading's heap back. */
        compact(b);
        malloc_trim(0);
    } else {
        dcd_tag_generate((DcdTag *)b->id);
        b->epoch = 1;
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
    if (b->store) {
        dcd_store_sync(b->store);
        dcd_store_close(b->store);
    }
    rcu_barrier();
    dcd_registry_fini(&b->reg);
    g_free(b->state_dir);
    g_free(b->pool_dir);
    g_free(b);
    rcu_unregister_thread();
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

    if (!h) {
        ERR(errp, DCD_ERR_NOENT, "no host with host-id %u", id);
    }
    return h;
}

DcdPool *dcd_broker_pool_create(DcdBroker *b, const DcdTag *tag,
                                uint64_t size, DcdBacking backing,
                                GArray *requesters, GError **errp)
{
    DcdTag t;
    DcdPool *p;

    if (tag && !dcd_tag_is_null(tag)) {
        t = *tag;
    } else {
        dcd_tag_generate(&t);
    }
    if (dcd_registry_pool(&b->reg, &t)) {
        char s[DCD_TAG_STR_LEN];

        dcd_tag_unparse(&t, s);
        ERR(errp, DCD_ERR_EXIST, "a pool with tag %s already exists", s);
        return NULL;
    }
    p = dcd_pool_create(&t, size, backing, b->pool_dir, errp);
    if (!p) {
        return NULL;
    }
    if (requesters) {
        p->requesters = g_array_ref(requesters);
    }
    dcd_registry_add_pool(&b->reg, p);
    save_pool(b, p);
    return p;
}

GArray *dcd_broker_pool_holders(DcdBroker *b, const DcdPool *p)
{
    g_autoptr(GPtrArray) hosts = dcd_registry_hosts(&b->reg);
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(uint16_t));

    for (guint i = 0; p->holders && i < hosts->len; i++) {
        DcdHost *h = hosts->pdata[i];

        if (dcd_host_holds(h, p)) {
            g_array_append_val(ids, h->id);
        }
    }
    return ids;
}

bool dcd_broker_pool_destroy(DcdBroker *b, const DcdTag *tag, GError **errp)
{
    DcdPool *p = need_pool(b, tag, errp);

    if (!p) {
        return false;
    }
    if (p->holders) {
        g_autoptr(GArray) ids = dcd_broker_pool_holders(b, p);
        g_autoptr(GString) who = g_string_new(NULL);

        for (guint i = 0; i < ids->len; i++) {
            g_string_append_printf(who, "%s%u", i ? ", " : "",
                                   g_array_index(ids, uint16_t, i));
        }
        ERR(errp, DCD_ERR_BUSY, "pool %s is held by host(s) %s (%u extents);"
            " release it first", p->tag_str, who->str, p->holders);
        return false;
    }
    if (b->store) {
        dcd_store_del_pool(b->store, p);
        broker_dirty(b);
    }
    dcd_pool_unlink(p);
    dcd_registry_del_pool(&b->reg, p);
    return true;
}

/* ---- adding capacity -------------------------------------------------- */

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
static bool place_new(const DcdAddArgs *a, DcdHost *h, DcdSpace *s,
                      DcdPool *p, GArray *place, GError **errp)
{
    char need[16], have[16];

    if (p->holders) {
        ERR(errp, DCD_ERR_EXIST, "tag %s is already allocated (%u extents"
            " held); give another host access with enable-shared-access",
            p->tag_str, p->holders);
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

static bool set_layout(DcdPool *p, const GArray *place, GError **errp)
{
    g_autofree uint64_t *lens = g_new(uint64_t, MAX(place->len, 1));

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
    DcdSpace *s;
    DcdGroup *g;
    bool shared = a->policy == DCD_POLICY_ENABLE_SHARED;

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
        ERR(errp, DCD_ERR_STATE, "pool %s has no memory: the broker restarted"
            " and waits for a host to hand it back", p->tag_str);
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
                 !place_new(a, h, s, p, place, errp)) {
        return NULL;
    }
    put_ranges(s, place); /* checked; dcd_host_add_extent() takes them */
    if (!shared) {
        if (!set_layout(p, place, errp)) {
            return NULL;
        }
        save_pool(b, p);
    }

    g = dcd_host_new_group(h);
    for (guint i = 0; i < place->len; i++) {
        const DcdDpaRange *r = &g_array_index(place, DcdDpaRange, i);
        DcdExtent *e = dcd_host_add_extent(h, p, a->region, r->dpa, r->len, i,
                                           DCD_EXTENT_PENDING);

        e->group = g->id;
        g_ptr_array_add(g->extents, e);
    }
    /* Every offer brings its pool fd: the host may have closed the last. */
    if (!h->ops->send_pool(h->link, p) ||
        !h->ops->send_offer(h->link, g->id, g->extents)) {
        for (guint i = 0; i < g->extents->len; i++) {
            end_extent(b, h, g->extents->pdata[i], DCD_EXTENT_RECLAIMED);
        }
        dcd_host_close_group(h, g);
        ERR(errp, DCD_ERR_UNAVAIL, "lost the connection to host %u", h->id);
        return NULL;
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
    GPtrArray *out;
    DcdHost *h;
    DcdPool *p;
    unsigned pending = 0;

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
        for (guint i = 0; i < mine->len; i++) {
            DcdExtent *e = mine->pdata[i];

            pending += e->state == DCD_EXTENT_PENDING;
            if (e->state != DCD_EXTENT_PENDING) {
                g_ptr_array_add(sel, e);
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

        if (e->state == DCD_EXTENT_PENDING ||
            (e->state == DCD_EXTENT_RELEASING && !a->forced)) {
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

    out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < sel->len; i++) {
        DcdExtent *e = sel->pdata[i];

        if (!a->forced) {
            e->state = DCD_EXTENT_RELEASING;
            save_extent(b, h, e);
        }
        g_ptr_array_add(out, g_memdup2(e, sizeof(*e)));
    }
    if (dcd_host_connected(h)) {
        h->ops->send_release(h->link, ++h->next_release, a->forced, sel);
    }
    if (a->forced) {
        for (guint i = 0; i < sel->len; i++) {
            end_extent(b, h, sel->pdata[i], DCD_EXTENT_RELEASED);
            ((DcdExtent *)out->pdata[i])->state = DCD_EXTENT_RELEASED;
            ((DcdExtent *)out->pdata[i])->pool = NULL;
        }
        dcd_host_trim_history(h);
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

    if (h && dcd_host_connected(h)) {
        ERR(errp, DCD_ERR_EXIST, "host-id %u is already connected (pid %d)",
            a->host_id, (int)h->pid);
        return NULL;
    }
    if (!h) {
        h = dcd_host_new(a->host_id, a->name, a->regions, a->nregions);
        dcd_registry_add_host(&b->reg, h);
        save_host(b, h);
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
    }
    h->ops = ops;
    h->link = link;
    h->pid = a->pid;
    h->uid = a->uid;
    h->reconnecting = a->reconnect;
    return h;
}

void dcd_broker_host_detach(DcdBroker *b, DcdHost *h)
{
    g_autoptr(GList) groups = g_hash_table_get_values(h->groups);

    for (GList *l = groups; l; l = l->next) {
        DcdGroup *g = l->data;

        for (guint i = 0; i < g->extents->len; i++) {
            end_extent(b, h, g->extents->pdata[i], DCD_EXTENT_RECLAIMED);
        }
        dcd_host_close_group(h, g);
    }
    h->ops = NULL;
    h->link = NULL;
    h->reconnecting = false;
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
    for (guint i = 0; i < g->extents->len; i++) {
        DcdExtent *e = g->extents->pdata[i];

        if (ok && g_hash_table_contains(chosen, e)) {
            e->state = DCD_EXTENT_ACCEPTED;
            save_extent(b, h, e);
        } else {
            end_extent(b, h, e, DCD_EXTENT_REJECTED);
        }
    }
    dcd_host_close_group(h, g);
    return ok;
}

bool dcd_broker_host_released(DcdBroker *b, DcdHost *h,
                              const struct dcd_range *ranges, unsigned n,
                              GError **errp)
{
    g_autoptr(GPtrArray) sel = g_ptr_array_new();

    for (unsigned i = 0; i < n; i++) {
        DcdExtent *e = dcd_host_extent(h, ranges[i].dpa);

        if (!e || e->len != ranges[i].len ||
            (e->state != DCD_EXTENT_ACCEPTED &&
             e->state != DCD_EXTENT_RELEASING)) {
            ERR(errp, DCD_ERR_INVAL, "released range DPA 0x%"
                G_GINT64_MODIFIER "x length 0x%" G_GINT64_MODIFIER "x is not"
                " an accepted extent", ranges[i].dpa, ranges[i].len);
            return false;
        }
        if (g_ptr_array_find(sel, e, NULL)) {
            ERR(errp, DCD_ERR_INVAL, "DPA 0x%" G_GINT64_MODIFIER "x is"
                " released twice", ranges[i].dpa);
            return false;
        }
        g_ptr_array_add(sel, e);
    }
    for (guint i = 0; i < sel->len; i++) {
        end_extent(b, h, sel->pdata[i], DCD_EXTENT_RELEASED);
    }
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
    if (p->size != size || p->backing != backing) {
        ERR(errp, DCD_ERR_INVAL, "pool %s is %" G_GUINT64_FORMAT " bytes of"
            " %s, not %" G_GUINT64_FORMAT " of %s", p->tag_str, p->size,
            dcd_backing_name(p->backing), size, dcd_backing_name(backing));
        return false;
    }
    if (dcd_pool_has_memory(p)) {
        close(fd); /* we never lost it; the host keeps its own copy */
        return true;
    }
    if (!dcd_pool_adopt_fd(p, fd, errp)) {
        return false;
    }
    g_message("pool %s: memory handed back by host %u", p->tag_str, h->id);
    return true;
}

static bool hold_one(DcdBroker *b, DcdHost *h, const struct dcd_extent *w)
{
    DcdTag tag;
    DcdPool *p;
    const DcdSegment *seg;
    DcdExtent *e;
    DcdSpace *s;

    memcpy(tag.b, w->tag, sizeof(tag.b));
    p = dcd_registry_pool(&b->reg, &tag);
    if (!p || w->region >= h->nregions ||
        !(seg = dcd_pool_segment(p, w->shared_seq)) ||
        seg->offset != w->pool_offset || seg->len != w->len) {
        return false;
    }
    e = dcd_host_extent(h, w->dpa);
    if (e) {
        if (e->pool != p || e->seq != w->shared_seq || e->len != w->len ||
            e->state == DCD_EXTENT_PENDING) {
            return false;
        }
        e->confirmed = true;
        return true;
    }
    s = &h->regions[w->region];
    if (!dcd_space_valid(s, w->dpa, w->len) ||
        !dcd_space_is_free(s, w->dpa, w->len)) {
        return false;
    }
    e = dcd_host_add_extent(h, p, w->region, w->dpa, w->len, w->shared_seq,
                            DCD_EXTENT_ACCEPTED);
    e->confirmed = true;
    save_extent(b, h, e);
    return true;
}

void dcd_broker_host_hold(DcdBroker *b, DcdHost *h,
                          const struct dcd_extent *w, unsigned n, bool last)
{
    g_autoptr(GPtrArray) refused = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) releasing = g_ptr_array_new();

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

        if (e->state == DCD_EXTENT_PENDING) {
            continue;
        }
        if (!e->confirmed) {
            end_extent(b, h, e, DCD_EXTENT_RELEASED);
            continue;
        }
        e->confirmed = false;
        if (e->state == DCD_EXTENT_RELEASING) {
            g_ptr_array_add(releasing, e);
        }
    }
    if (releasing->len) {
        h->ops->send_release(h->link, ++h->next_release, false, releasing);
    }
    dcd_host_trim_history(h);
    h->reconnecting = false;
}

/* ---- status ----------------------------------------------------------- */

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
