/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostclient.c - one host's side of the host protocol.
 *
 * Owns: the host's connection and its reconnect timer, the pools the
 * broker handed over (fds, checked before use), the offered groups and
 * the decision on each extent, the mapping of every held extent, and the
 * logical view of a tag assembled in shared_seq order.  Nothing the broker
 * sends is trusted: an extent that does not fit this host is rejected.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "dcd-client/hostclient.h"
#include "dcd/wire.h"

#define RETRY_MS 200

typedef struct Pool {
    DcdTag tag;
    uint64_t size;
    uint32_t backing;
    uint32_t flags;
    int fd;
} Pool;

/* A held extent and where it is mapped; x comes first for the API. */
typedef struct Held {
    DcdHostClientExtent x;
    uint8_t *map;
} Held;

struct DcdHostClient {
    char *socket_path;
    uint16_t host_id;
    uint16_t max_group;
    char *name;
    struct dcd_region regions[DCD_MAX_REGIONS];
    unsigned nregions;
    DcdHostClientPolicy policy;
    GArray *reject_tags;       /* of DcdTag */
    bool reconnect;
    bool ignore_forced;
    GMainContext *ctx;
    DcdHostClientEvents ev;
    gpointer opaque;

    GCancellable *cancel;      /* the connect in flight */
    GSocketConnection *conn;
    DcdWire *w;
    bool connected;            /* HELLO answered */
    bool freeing;
    GSource *retry_src;

    GHashTable *pools;         /* tag string -> Pool */
    GPtrArray *extents;        /* of Held */
    GPtrArray *groups;         /* of DcdHostClientGroup */
    GArray *release_acc;       /* ranges released by a RELEASE chain */
};

/* Context of one request: the host may go away before the reply. */
typedef struct ReqCtx {
    DcdHostClient *h;
    uint64_t group;
    DcdHostClientDoneFn cb;
    gpointer opaque;
    const char *what;          /* request type, for the log */
} ReqCtx;

static void connect_now(DcdHostClient *h);

/* ---- small helpers ------------------------------------------------- */

static char *tag_str(const uint8_t *b)
{
    char s[DCD_TAG_STR_LEN];

    dcd_tag_unparse((const DcdTag *)b, s);
    return g_strdup(s);
}

static Pool *find_pool(const DcdHostClient *h, const uint8_t *tag)
{
    g_autofree char *key = tag_str(tag);

    return g_hash_table_lookup(h->pools, key);
}

static bool same_tag(const struct dcd_extent *e, const DcdTag *tag)
{
    return memcmp(e->tag, tag->b, 16) == 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static void pool_free(gpointer data)
{
    Pool *p = data;

    if (p->fd >= 0) {
        close(p->fd);
    }
    g_free(p);
}

static void held_free(gpointer data)
{
    Held *x = data;

    if (x->map) {
        munmap(x->map, x->x.e.len);
    }
    g_free(x);
}

static void group_free(gpointer data)
{
    DcdHostClientGroup *g = data;

    g_array_unref(g->extents);
    g_free(g);
}

/* An ERROR reply or a wire error as a GError. */
static GError *reply_error(const DcdMsg *reply, const GError *err)
{
    if (err) {
        return g_error_copy(err);
    }
    if (reply && reply->hdr.type == DCD_MSG_ERROR) {
        const struct dcd_error *e = DCD_MSG_VIEW(reply, struct dcd_error);

        return g_error_new(DCD_ERROR, e->code, "%s", e->text);
    }
    return NULL;
}

/*
 * Close a tag's pool once nothing uses it.  Safe per tag: the broker sends
 * a tag's POOL again only after the host holds none of it.
 */
static void drop_pool_if_unused(DcdHostClient *h, const uint8_t *tag,
                                const DcdHostClientGroup *skip)
{
    g_autofree char *key = NULL;

    for (unsigned i = 0; i < h->extents->len; i++) {
        Held *x = g_ptr_array_index(h->extents, i);

        if (memcmp(x->x.e.tag, tag, 16) == 0) {
            return;
        }
    }
    for (unsigned i = 0; i < h->groups->len; i++) {
        DcdHostClientGroup *g = g_ptr_array_index(h->groups, i);

        for (unsigned j = 0; g != skip && j < g->extents->len; j++) {
            if (memcmp(g_array_index(g->extents, struct dcd_extent, j).tag,
                       tag, 16) == 0) {
                return;
            }
        }
    }
    key = tag_str(tag);
    g_hash_table_remove(h->pools, key);
}

static void drop_extent(DcdHostClient *h, Held *x)
{
    uint8_t tag[16];

    memcpy(tag, x->x.e.tag, sizeof(tag));
    g_ptr_array_remove_fast(h->extents, x);
    drop_pool_if_unused(h, tag, NULL);
}

/* ---- pools --------------------------------------------------------- */

/* Check that fd really is what the broker says before trusting it. */
static bool check_pool_fd(int fd, const struct dcd_pool *p, GError **errp)
{
    struct stat st;
    void *map;

    if (fstat(fd, &st) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "fstat: %s",
                    g_strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "pool fd is not a regular file or memfd");
        return false;
    }
    if ((uint64_t)st.st_size < p->size) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "pool fd holds %" G_GINT64_FORMAT " bytes, %"
                    G_GUINT64_FORMAT " declared", (gint64)st.st_size,
                    p->size);
        return false;
    }
    if (p->flags & DCD_POOL_SEALED) {
        int seals = fcntl(fd, F_GET_SEALS);

        if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
                         (F_SEAL_SHRINK | F_SEAL_GROW)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                        "pool declared sealed, but is not");
            return false;
        }
    }
    map = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "mmap of pool: %s",
                    g_strerror(errno));
        return false;
    }
    munmap(map, p->size);
    return true;
}

static void handle_pool(DcdHostClient *h, DcdMsg *m)
{
    const struct dcd_pool *p = DCD_MSG_VIEW(m, struct dcd_pool);
    g_autoptr(GError) err = NULL;
    g_autofree char *key = tag_str(p->tag);
    DcdTag tag;
    Pool *pool;
    int fd = dcd_msg_take_fd(m, 0);

    memcpy(tag.b, p->tag, 16);
    if (!check_pool_fd(fd, p, &err)) {
        close(fd);
        g_info("pool %s refused: %s", key, err->message);
        dcd_wire_error_gerror(h->w, m, err);
        return;
    }
    if (find_pool(h, p->tag) && dcd_hostclient_holds_tag(h, &tag)) {
        close(fd);
        dcd_wire_error(h->w, m, DCD_ERR_BUSY,
                       "pool %s is in use by this host", key);
        return;
    }
    pool = g_new0(Pool, 1);
    pool->tag = tag;
    pool->size = p->size;
    pool->backing = p->backing;
    pool->flags = p->flags;
    pool->fd = fd;
    g_hash_table_replace(h->pools, g_steal_pointer(&key), pool);
    dcd_wire_ack(h->w, m);
}

/* ---- offers -------------------------------------------------------- */

/* Why e cannot be held by this host, or NULL if it can. */
static char *extent_invalid(const DcdHostClient *h, const struct dcd_extent *e)
{
    const struct dcd_region *r;
    const Pool *pool = find_pool(h, e->tag);

    if (!pool) {
        return g_strdup("unknown pool");
    }
    if (e->region >= h->nregions) {
        return g_strdup_printf("no region %u", e->region);
    }
    r = &h->regions[e->region];
    if (e->dpa < r->base || e->dpa + e->len > r->base + r->len) {
        return g_strdup_printf("outside region %u", e->region);
    }
    if (e->dpa % r->block_size || e->len % r->block_size) {
        return g_strdup("not aligned to the region's block size");
    }
    if (e->pool_offset + e->len > pool->size) {
        return g_strdup("beyond the end of its pool");
    }
    if (e->pool_offset % sysconf(_SC_PAGESIZE)) {
        return g_strdup("pool offset not page aligned");
    }
    for (unsigned i = 0; i < h->extents->len; i++) {
        const Held *x = g_ptr_array_index(h->extents, i);

        if (overlaps(e->dpa, e->len, x->x.e.dpa, x->x.e.len)) {
            return g_strdup("overlaps an extent this host holds");
        }
        if (memcmp(x->x.e.tag, e->tag, 16) == 0 &&
            x->x.e.shared_seq == e->shared_seq) {
            return g_strdup("shared_seq already held");
        }
    }
    return NULL;
}

static bool policy_wants(const DcdHostClient *h, const struct dcd_extent *e)
{
    if (h->ev.decide) {
        return h->ev.decide((DcdHostClient *)h, e, h->opaque);
    }
    switch (h->policy) {
    case DCD_HOST_REJECT_ALL:
        return false;
    case DCD_HOST_REJECT_TAGS:
        for (unsigned i = 0; i < h->reject_tags->len; i++) {
            if (same_tag(e, &g_array_index(h->reject_tags, DcdTag, i))) {
                return false;
            }
        }
        return true;
    default:
        return true;
    }
}

static void reject_event(DcdHostClient *h, const struct dcd_extent *e,
                         const char *why)
{
    if (h->ev.rejected) {
        h->ev.rejected(h, e, why, h->opaque);
    }
}

static void accept_done(DcdWire *w, DcdMsg *reply, const GError *err,
                        gpointer opaque)
{
    ReqCtx *c = opaque;
    DcdHostClient *h = c->h;
    g_autoptr(GError) fail = reply_error(reply, err);
    g_autoptr(GPtrArray) done = g_ptr_array_new();
    /*
     * No reply at all (the connection went, or the broker is slow) is no
     * refusal: the broker may have saved the ACCEPT and told its client.
     * Keep the extents; the next HOLD lets the broker decide.
     */
    bool refused = fail && reply;

    dcd_msg_free(reply);
    if (h->freeing) {
        g_free(c);
        return;
    }
    for (unsigned i = 0; i < h->extents->len; i++) {
        Held *x = g_ptr_array_index(h->extents, i);

        if (x->x.group == c->group && x->x.state == DCD_EXTENT_PENDING) {
            g_ptr_array_add(done, x);
        }
    }
    for (unsigned i = 0; i < done->len; i++) {
        Held *x = g_ptr_array_index(done, i);

        if (refused) {
            g_autofree char *why = g_strdup_printf("accept refused: %s",
                                                   fail->message);
            struct dcd_extent e = x->x.e;

            drop_extent(h, x);
            reject_event(h, &e, why);
        } else {
            x->x.state = DCD_EXTENT_ACCEPTED;
            if (h->ev.accepted) {
                h->ev.accepted(h, &x->x, h->opaque);
            }
        }
    }
    g_free(c);
}

static bool in_list(uint64_t dpa, const uint64_t *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (list[i] == dpa) {
            return true;
        }
    }
    return false;
}

/* Map e from its pool; it becomes a pending extent of the group. */
static bool map_extent(DcdHostClient *h, const struct dcd_extent *e,
                       uint64_t group, char **why)
{
    Pool *pool = find_pool(h, e->tag);
    Held *x;
    void *map = mmap(NULL, e->len, PROT_READ | PROT_WRITE, MAP_SHARED,
                     pool->fd, e->pool_offset);

    if (map == MAP_FAILED) {
        *why = g_strdup_printf("mmap: %s", g_strerror(errno));
        return false;
    }
    x = g_new0(Held, 1);
    x->x.e = *e;
    x->x.state = DCD_EXTENT_PENDING;
    x->x.group = group;
    x->x.mapped = true;
    x->map = map;
    g_ptr_array_add(h->extents, x);
    return true;
}

/*
 * Decide every extent of a complete group and send the ACCEPT.  mode:
 * 0 by policy, 1 the listed DPAs (all valid ones if none listed),
 * -1 reject everything.
 */
static void answer_group(DcdHostClient *h, DcdHostClientGroup *g, int mode,
                         const uint64_t *dpa, unsigned ndpa)
{
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE,
                                           sizeof(struct dcd_range));
    ReqCtx *c;

    for (unsigned i = 0; i < g->extents->len; i++) {
        const struct dcd_extent *e = &g_array_index(g->extents,
                                                    struct dcd_extent, i);
        g_autofree char *why = extent_invalid(h, e);
        bool want = mode == 0 ? policy_wants(h, e) :
                    mode > 0 ? (!ndpa || in_list(e->dpa, dpa, ndpa)) : false;
        struct dcd_range r = { e->dpa, e->len };

        if (!why && !want) {
            why = g_strdup("declined");
        }
        if (!why && ranges->len == DCD_MAX_RANGES) {
            why = g_strdup("more than one ACCEPT can hold");
        }
        if (!why && !map_extent(h, e, g->group, &why)) {
            g_assert(why);
        }
        if (why) {
            reject_event(h, e, why);
            continue;
        }
        g_array_append_val(ranges, r);
    }
    /* Pools of extents this group did not map are no longer needed. */
    for (unsigned i = 0; i < g->extents->len; i++) {
        drop_pool_if_unused(h, g_array_index(g->extents, struct dcd_extent,
                                             i).tag, g);
    }
    c = g_new0(ReqCtx, 1);
    c->h = h;
    c->group = g->group;
    if (!h->w ||
        !dcd_wire_request(h->w, dcd_msg_new_accept(0, g->group,
                                                   (void *)ranges->data,
                                                   ranges->len),
                          accept_done, c)) {
        GError err = { DCD_ERROR, DCD_ERR_UNAVAIL, (char *)"not connected" };

        accept_done(NULL, NULL, &err, c);
    }
}

static DcdHostClientGroup *find_group(const DcdHostClient *h, uint64_t group)
{
    for (unsigned i = 0; i < h->groups->len; i++) {
        DcdHostClientGroup *g = g_ptr_array_index(h->groups, i);

        if (g->group == group) {
            return g;
        }
    }
    return NULL;
}

static void handle_offer(DcdHostClient *h, DcdMsg *m)
{
    const struct dcd_offer *o = DCD_MSG_VIEW(m, struct dcd_offer);
    DcdHostClientGroup *g = find_group(h, o->group);

    if (g && g->complete) {
        dcd_wire_error(h->w, NULL, DCD_ERR_PROTO,
                       "OFFER: group %" G_GUINT64_FORMAT " already complete",
                       o->group);
        dcd_wire_close_after_flush(h->w, NULL);
        return;
    }
    if (!g) {
        g = g_new0(DcdHostClientGroup, 1);
        g->group = o->group;
        g->extents = g_array_new(FALSE, FALSE, sizeof(struct dcd_extent));
        g_ptr_array_add(h->groups, g);
    }
    g_array_append_vals(g->extents, o->extents, o->count);
    if (o->flags & DCD_GROUP_MORE) {
        return;
    }
    g->complete = true;
    if (h->policy == DCD_HOST_MANUAL) {
        if (h->ev.offered) {
            h->ev.offered(h, g, h->opaque);
        }
        return;
    }
    answer_group(h, g, 0, NULL, 0);
    g_ptr_array_remove(h->groups, g);
}

/* ---- releases ------------------------------------------------------ */

static Held *find_held(const DcdHostClient *h, const struct dcd_extent *e)
{
    for (unsigned i = 0; i < h->extents->len; i++) {
        Held *x = g_ptr_array_index(h->extents, i);

        if (x->x.e.dpa == e->dpa && x->x.e.len == e->len &&
            memcmp(x->x.e.tag, e->tag, 16) == 0) {
            return x;
        }
    }
    return NULL;
}

static void released_done(DcdWire *w, DcdMsg *reply, const GError *err,
                          gpointer opaque)
{
    ReqCtx *c = opaque;
    g_autoptr(GError) fail = reply_error(reply, err);

    dcd_msg_free(reply);
    if (!c->h->freeing) {
        if (fail) {
            g_info("%s refused: %s", c->what, fail->message);
        }
        if (c->cb) {
            c->cb(c->h, fail, c->opaque);
        }
    }
    g_free(c);
}

/* Send RELEASED for ranges, in chunks; cb follows the last chunk. */
static bool send_released(DcdHostClient *h, GArray *ranges,
                          DcdHostClientDoneFn cb, gpointer opaque)
{
    for (unsigned off = 0; off < ranges->len; off += DCD_MAX_RANGES) {
        unsigned n = MIN(ranges->len - off, DCD_MAX_RANGES);
        bool last = off + n == ranges->len;
        ReqCtx *c = g_new0(ReqCtx, 1);

        c->h = h;
        c->what = "RELEASED";
        c->cb = last ? cb : NULL;
        c->opaque = opaque;
        if (!h->w || !dcd_wire_request(h->w, dcd_msg_new_released(
                                           0, &g_array_index(ranges,
                                                             struct dcd_range,
                                                             off), n),
                                       released_done, c)) {
            g_free(c);
            return false;
        }
    }
    return true;
}

/* Unmap and forget x, telling the caller. */
static void release_one(DcdHostClient *h, Held *x, bool forced)
{
    DcdHostClientExtent copy = x->x;

    drop_extent(h, x);
    copy.state = DCD_EXTENT_RELEASED;
    copy.mapped = false;
    if (h->ev.released) {
        h->ev.released(h, &copy, forced, h->opaque);
    }
}

static void handle_release(DcdHostClient *h, DcdMsg *m)
{
    const struct dcd_release *r = DCD_MSG_VIEW(m, struct dcd_release);
    bool forced = r->flags & DCD_RELEASE_FORCED;

    if (forced && h->ignore_forced) {
        g_info("forced RELEASE of %u extent(s) ignored", r->count);
        return;
    }
    for (unsigned i = 0; i < r->count; i++) {
        Held *x = find_held(h, &r->extents[i]);
        struct dcd_range rr = { r->extents[i].dpa, r->extents[i].len };

        /*
         * A forced release is confirmed too, every extent of it, held or
         * not: the broker counts them until it hears "not mapped".
         */
        if (!x) {
            g_info("RELEASE of an extent at 0x%" G_GINT64_MODIFIER "x this "
                   "host does not hold", r->extents[i].dpa);
        } else {
            release_one(h, x, forced);
        }
        if (x || forced) {
            g_array_append_val(h->release_acc, rr);
        }
    }
    if (!(r->flags & DCD_GROUP_MORE) && h->release_acc->len) {
        send_released(h, h->release_acc, NULL, NULL);
        g_array_set_size(h->release_acc, 0);
    }
}

/*
 * The broker takes back an offer.  Whether unanswered or
 * answered with an ACCEPT still in flight, nothing of the group stays
 * mapped; the reply says so.
 */
static void handle_withdraw(DcdHostClient *h, DcdMsg *m)
{
    uint64_t group = DCD_MSG_VIEW(m, struct dcd_withdraw)->group;
    DcdHostClientGroup *g = find_group(h, group);

    if (g) {
        for (unsigned i = 0; i < g->extents->len; i++) {
            const struct dcd_extent *e = &g_array_index(g->extents,
                                                        struct dcd_extent, i);

            reject_event(h, e, "withdrawn");
            drop_pool_if_unused(h, e->tag, g);
        }
        g_ptr_array_remove(h->groups, g);
    }
    for (unsigned i = h->extents->len; i-- > 0;) {
        Held *x = g_ptr_array_index(h->extents, i);

        if (x->x.group == group && x->x.state == DCD_EXTENT_PENDING) {
            struct dcd_extent e = x->x.e;

            drop_extent(h, x);
            reject_event(h, &e, "withdrawn");
        }
    }
    dcd_wire_ack(h->w, m);
}

/* ---- connection ---------------------------------------------------- */

static void on_msg(DcdWire *w, DcdMsg *m, gpointer opaque)
{
    DcdHostClient *h = opaque;

    switch (m->hdr.type) {
    case DCD_MSG_POOL:
        handle_pool(h, m);
        break;
    case DCD_MSG_OFFER:
        handle_offer(h, m);
        break;
    case DCD_MSG_RELEASE:
        handle_release(h, m);
        break;
    case DCD_MSG_WITHDRAW:
        handle_withdraw(h, m);
        break;
    default:
        dcd_wire_error(w, NULL, DCD_ERR_PROTO, "%s is not for a host",
                       dcd_msg_type_name(m->hdr.type));
        dcd_wire_close_after_flush(w, NULL);
        break;
    }
    dcd_msg_free(m);
}

static void schedule_retry(DcdHostClient *h);

/* Groups never answered die with the session that offered them. */
static void forget_session(DcdHostClient *h)
{
    g_ptr_array_set_size(h->groups, 0);
    g_array_set_size(h->release_acc, 0);
    for (unsigned i = h->extents->len; i-- > 0;) {
        Held *x = g_ptr_array_index(h->extents, i);

        if (x->x.state != DCD_EXTENT_ACCEPTED) {
            g_ptr_array_remove_index_fast(h->extents, i);
        }
    }
    /*
     * A pool given only for those offers goes too: handed back after a
     * restart, it could be taken for memory the real holders have.
     */
    {
        g_autoptr(GList) pools = g_hash_table_get_values(h->pools);

        for (GList *l = pools; l; l = l->next) {
            drop_pool_if_unused(h, ((Pool *)l->data)->tag.b, NULL);
        }
    }
}

static void on_closed(DcdWire *w, const GError *why, gpointer opaque)
{
    DcdHostClient *h = opaque;
    bool was = h->connected;

    h->w = NULL;
    h->connected = false;
    dcd_wire_free(w);
    g_clear_object(&h->conn);
    forget_session(h);
    if ((was || !h->reconnect) && h->ev.disconnected) {
        h->ev.disconnected(h, why, h->opaque);
    }
    if (h->reconnect) {
        schedule_retry(h);
    }
}

static void handback_done(DcdWire *w, DcdMsg *reply, const GError *err,
                          gpointer opaque)
{
    DcdHostClient *h = opaque;
    g_autoptr(GError) fail = reply_error(reply, err);

    /* Called with an error while freeing too: only log. */
    if (fail && !h->freeing) {
        g_info("hand-back refused: %s", fail->message);
    }
    dcd_msg_free(reply);
}

/* After a reconnect HELLO: every pool fd, then every held extent. */
static void hand_back(DcdHostClient *h)
{
    GHashTableIter it;
    gpointer value;
    g_autoptr(GArray) held = g_array_new(FALSE, FALSE,
                                         sizeof(struct dcd_extent));
    unsigned off = 0;

    g_hash_table_iter_init(&it, h->pools);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        Pool *p = value;
        int fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);

        if (fd < 0) {
            g_info("dup of pool fd: %s", g_strerror(errno));
            continue;
        }
        dcd_wire_request(h->w, dcd_msg_new_pool(0, &p->tag, p->size,
                                                p->backing, p->flags, fd),
                         handback_done, h);
    }
    for (unsigned i = 0; i < h->extents->len; i++) {
        Held *x = g_ptr_array_index(h->extents, i);

        g_array_append_val(held, x->x.e);
    }
    do {
        unsigned n = MIN(held->len - off, DCD_MAX_EXTENTS);
        bool more = off + n < held->len;

        dcd_wire_request(h->w, dcd_msg_new_hold(0, more ? DCD_GROUP_MORE : 0,
                                                &g_array_index(held,
                                                    struct dcd_extent, off),
                                                n),
                         handback_done, h);
        off += n;
    } while (off < held->len);
}

static void hello_done(DcdWire *w, DcdMsg *reply, const GError *err,
                       gpointer opaque)
{
    ReqCtx *c = opaque;
    DcdHostClient *h = c->h;
    bool reconnecting = c->group;
    g_autoptr(GError) fail = reply_error(reply, err);

    dcd_msg_free(reply);
    g_free(c);
    if (h->freeing || !h->w) {
        return;
    }
    if (fail) {
        g_info("HELLO refused: %s", fail->message);
        dcd_wire_close_after_flush(h->w, fail);
        return;
    }
    h->connected = true;
    if (reconnecting) {
        hand_back(h);
    }
    if (h->ev.connected) {
        h->ev.connected(h, reconnecting, h->opaque);
    }
}

static void send_hello(DcdHostClient *h)
{
    ReqCtx *c = g_new0(ReqCtx, 1);
    bool holds = g_hash_table_size(h->pools) || h->extents->len;
    DcdMsg *m = dcd_msg_new_hello(0, h->host_id, h->name, h->regions,
                                  h->nregions,
                                  holds ? DCD_HELLO_RECONNECT : 0);

    if (h->max_group) {
        dcd_msg_hello_set_limits(m, h->max_group);
    }
    c->h = h;
    c->group = holds; /* remembers that this HELLO is a reconnect */
    if (!dcd_wire_request(h->w, m, hello_done, c)) {
        g_free(c);
    }
}

static void connect_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    g_autoptr(GError) err = NULL;
    GSocketConnection *conn;
    DcdHostClient *h;

    conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, &err);
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        return; /* the host is being freed: do not touch it */
    }
    h = opaque;
    g_clear_object(&h->cancel);
    if (!conn) {
        g_debug("connect %s: %s", h->socket_path, err->message);
        if (h->reconnect) {
            schedule_retry(h);
        } else if (h->ev.disconnected) {
            g_autoptr(GError) why = g_error_new(DCD_ERROR, DCD_ERR_UNAVAIL,
                                                "connect %s: %s",
                                                h->socket_path, err->message);
            h->ev.disconnected(h, why, h->opaque);
        }
        return;
    }
    h->conn = conn;
    h->w = dcd_wire_new(g_socket_connection_get_socket(conn), h->ctx, on_msg,
                        on_closed, h);
    send_hello(h);
}

static void connect_now(DcdHostClient *h)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(h->socket_path);

    if (h->cancel || h->w) {
        return;
    }
    h->cancel = g_cancellable_new();
    g_main_context_push_thread_default(h->ctx);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(addr),
                                  h->cancel, connect_done, h);
    g_main_context_pop_thread_default(h->ctx);
}

static gboolean retry_cb(gpointer opaque)
{
    DcdHostClient *h = opaque;

    g_source_unref(h->retry_src);
    h->retry_src = NULL;
    connect_now(h);
    return G_SOURCE_REMOVE;
}

static void schedule_retry(DcdHostClient *h)
{
    if (h->retry_src || h->freeing) {
        return;
    }
    h->retry_src = g_timeout_source_new(RETRY_MS);
    g_source_set_callback(h->retry_src, retry_cb, h, NULL);
    g_source_attach(h->retry_src, h->ctx);
}

/* ---- public -------------------------------------------------------- */

DcdHostClient *dcd_hostclient_new(const DcdHostClientConfig *cfg,
                                  const DcdHostClientEvents *ev,
                                  gpointer opaque)
{
    DcdHostClient *h = g_new0(DcdHostClient, 1);

    g_return_val_if_fail(cfg->nregions >= 1 &&
                         cfg->nregions <= DCD_MAX_REGIONS, NULL);
    h->socket_path = g_strdup(cfg->socket_path);
    h->host_id = cfg->host_id;
    h->max_group = cfg->max_group;
    h->name = g_strdup(cfg->name ? cfg->name : "");
    memcpy(h->regions, cfg->regions, cfg->nregions * sizeof(*cfg->regions));
    h->nregions = cfg->nregions;
    h->policy = cfg->policy;
    h->reject_tags = g_array_new(FALSE, FALSE, sizeof(DcdTag));
    if (cfg->n_reject_tags) {
        g_array_append_vals(h->reject_tags, cfg->reject_tags,
                            cfg->n_reject_tags);
    }
    h->reconnect = cfg->reconnect;
    h->ignore_forced = cfg->ignore_forced;
    h->ctx = cfg->ctx ? g_main_context_ref(cfg->ctx)
                      : g_main_context_ref_thread_default();
    if (ev) {
        h->ev = *ev;
    }
    h->opaque = opaque;
    h->pools = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     pool_free);
    h->extents = g_ptr_array_new_with_free_func(held_free);
    h->groups = g_ptr_array_new_with_free_func(group_free);
    h->release_acc = g_array_new(FALSE, FALSE, sizeof(struct dcd_range));
    return h;
}

void dcd_hostclient_start(DcdHostClient *h)
{
    connect_now(h);
}

void dcd_hostclient_free(DcdHostClient *h)
{
    if (!h) {
        return;
    }
    h->freeing = true;
    if (h->cancel) {
        g_cancellable_cancel(h->cancel);
        g_clear_object(&h->cancel);
    }
    if (h->retry_src) {
        g_source_destroy(h->retry_src);
        g_source_unref(h->retry_src);
    }
    if (h->w) {
        dcd_wire_free(h->w);
    }
    g_clear_object(&h->conn);
    g_ptr_array_unref(h->groups);
    g_ptr_array_unref(h->extents);
    g_hash_table_unref(h->pools);
    g_array_unref(h->release_acc);
    g_array_unref(h->reject_tags);
    g_main_context_unref(h->ctx);
    g_free(h->socket_path);
    g_free(h->name);
    g_free(h);
}

bool dcd_hostclient_is_connected(const DcdHostClient *h)
{
    return h->connected;
}

uint16_t dcd_hostclient_id(const DcdHostClient *h)
{
    return h->host_id;
}

const GPtrArray *dcd_hostclient_extents(const DcdHostClient *h)
{
    return h->extents;
}

const GPtrArray *dcd_hostclient_groups(const DcdHostClient *h)
{
    return h->groups;
}

unsigned dcd_hostclient_count_extents(const DcdHostClient *h,
                                      const DcdTag *tag)
{
    unsigned n = 0;

    for (unsigned i = 0; i < h->extents->len; i++) {
        const Held *x = g_ptr_array_index(h->extents, i);

        n += x->x.state == DCD_EXTENT_ACCEPTED && x->map &&
             same_tag(&x->x.e, tag);
    }
    return n;
}

unsigned dcd_hostclient_holds_tag(const DcdHostClient *h, const DcdTag *tag)
{
    unsigned n = 0;

    for (unsigned i = 0; i < h->extents->len; i++) {
        const Held *x = g_ptr_array_index(h->extents, i);

        n += same_tag(&x->x.e, tag);
    }
    return n;
}

static DcdHostClientGroup *complete_group(DcdHostClient *h, uint64_t group,
                                    GError **errp)
{
    DcdHostClientGroup *g = find_group(h, group);

    if (!g || !g->complete) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOENT,
                    "no pending group %" G_GUINT64_FORMAT, group);
        return NULL;
    }
    if (!h->connected) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "not connected");
        return NULL;
    }
    return g;
}

bool dcd_hostclient_accept(DcdHostClient *h, uint64_t group,
                           const uint64_t *dpa, unsigned ndpa, GError **errp)
{
    DcdHostClientGroup *g = complete_group(h, group, errp);

    if (!g) {
        return false;
    }
    for (unsigned i = 0; i < ndpa; i++) {
        bool found = false;

        for (unsigned j = 0; j < g->extents->len && !found; j++) {
            found = g_array_index(g->extents, struct dcd_extent, j).dpa ==
                    dpa[i];
        }
        if (!found) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_NOENT,
                        "group %" G_GUINT64_FORMAT " has no extent at 0x%"
                        G_GINT64_MODIFIER "x", group, dpa[i]);
            return false;
        }
    }
    answer_group(h, g, 1, dpa, ndpa);
    g_ptr_array_remove(h->groups, g);
    return true;
}

bool dcd_hostclient_reject(DcdHostClient *h, uint64_t group, GError **errp)
{
    DcdHostClientGroup *g = complete_group(h, group, errp);

    if (!g) {
        return false;
    }
    answer_group(h, g, -1, NULL, 0);
    g_ptr_array_remove(h->groups, g);
    return true;
}

static void request_done(DcdWire *w, DcdMsg *reply, const GError *err,
                         gpointer opaque)
{
    released_done(w, reply, err, opaque);
}

static bool send_request(DcdHostClient *h, DcdMsg *m, DcdHostClientDoneFn cb,
                         gpointer opaque, GError **errp)
{
    ReqCtx *c;

    if (!h->connected) {
        dcd_msg_free(m);
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "not connected");
        return false;
    }
    c = g_new0(ReqCtx, 1);
    c->h = h;
    c->cb = cb;
    c->opaque = opaque;
    c->what = dcd_msg_type_name(m->hdr.type);
    if (!dcd_wire_request(h->w, m, request_done, c)) {
        g_free(c);
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "connection closing");
        return false;
    }
    return true;
}

bool dcd_hostclient_add_request(DcdHostClient *h, const DcdTag *tag,
                                uint64_t length, DcdPolicy policy,
                                uint8_t region, const struct dcd_range *r,
                                unsigned count, DcdHostClientDoneFn cb,
                                gpointer opaque, GError **errp)
{
    if (count > DCD_MAX_RANGES) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "too many ranges");
        return false;
    }
    return send_request(h, dcd_msg_new_add_req(0, tag, length, policy, region,
                                               r, count), cb, opaque, errp);
}

bool dcd_hostclient_release_request(DcdHostClient *h, const DcdTag *tag,
                                    DcdRemoval removal, uint8_t region,
                                    uint16_t flags, const struct dcd_range *r,
                                    unsigned count, DcdHostClientDoneFn cb,
                                    gpointer opaque, GError **errp)
{
    if (count > DCD_MAX_RANGES) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "too many ranges");
        return false;
    }
    return send_request(h, dcd_msg_new_release_req(0, tag, removal, region,
                                                   flags, r, count),
                        cb, opaque, errp);
}

bool dcd_hostclient_drop(DcdHostClient *h, const DcdTag *tag,
                         DcdHostClientDoneFn cb, gpointer opaque,
                         GError **errp)
{
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE,
                                           sizeof(struct dcd_range));

    /* Check first: nothing is unmapped unless the broker can be told. */
    if (!h->connected || !h->w || !dcd_wire_is_open(h->w)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "not connected");
        return false;
    }
    for (unsigned i = h->extents->len; i-- > 0;) {
        Held *x = g_ptr_array_index(h->extents, i);
        struct dcd_range r = { x->x.e.dpa, x->x.e.len };

        if (x->x.state == DCD_EXTENT_ACCEPTED && same_tag(&x->x.e, tag)) {
            g_array_append_val(ranges, r);
            release_one(h, x, false);
        }
    }
    if (!ranges->len) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOENT,
                    "no accepted extent of this tag");
        return false;
    }
    if (!send_released(h, ranges, cb, opaque)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "connection closing");
        return false;
    }
    return true;
}

/* ---- logical view -------------------------------------------------- */

static gint by_seq(gconstpointer a, gconstpointer b)
{
    const Held *x = *(Held *const *)a, *y = *(Held *const *)b;

    return (gint)x->x.e.shared_seq - (gint)y->x.e.shared_seq;
}

/* Accepted extents of tag in shared_seq order, up to the first gap. */
static GPtrArray *layout(const DcdHostClient *h, const DcdTag *tag)
{
    GPtrArray *l = g_ptr_array_new();

    for (unsigned i = 0; i < h->extents->len; i++) {
        Held *x = g_ptr_array_index(h->extents, i);

        if (x->x.state == DCD_EXTENT_ACCEPTED && x->map &&
            same_tag(&x->x.e, tag)) {
            g_ptr_array_add(l, x);
        }
    }
    g_ptr_array_sort(l, by_seq);
    for (unsigned i = 0; i < l->len; i++) {
        if (((Held *)g_ptr_array_index(l, i))->x.e.shared_seq != i) {
            g_ptr_array_set_size(l, i);
            break;
        }
    }
    return l;
}

uint64_t dcd_hostclient_tag_size(const DcdHostClient *h, const DcdTag *tag)
{
    g_autoptr(GPtrArray) l = layout(h, tag);
    uint64_t size = 0;

    for (unsigned i = 0; i < l->len; i++) {
        size += ((Held *)g_ptr_array_index(l, i))->x.e.len;
    }
    return size;
}

/* Copy between buf and the tag's logical bytes [off, off+len). */
static bool access_tag(DcdHostClient *h, const DcdTag *tag, uint64_t off,
                       uint8_t *buf, size_t len, bool write, GError **errp)
{
    g_autoptr(GPtrArray) l = layout(h, tag);
    uint64_t size = dcd_hostclient_tag_size(h, tag);
    uint64_t start = 0;

    /* Check first, so a write never lands half. */
    if (off > size || len > size - off) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "bytes 0x%" G_GINT64_MODIFIER "x+0x%zx are beyond the %"
                    G_GUINT64_FORMAT " bytes of the tag this host holds",
                    off, len, size);
        return false;
    }
    for (unsigned i = 0; i < l->len && len; i++) {
        Held *x = g_ptr_array_index(l, i);
        uint64_t end = start + x->x.e.len;

        if (off < end) {
            size_t n = MIN(len, end - off);
            uint8_t *p = x->map + (off - start);

            if (write) {
                memcpy(p, buf, n);
            } else {
                memcpy(buf, p, n);
            }
            buf += n;
            off += n;
            len -= n;
        }
        start = end;
    }
    return true;
}

bool dcd_hostclient_read(DcdHostClient *h, const DcdTag *tag, uint64_t off,
                         void *buf, size_t len, GError **errp)
{
    return access_tag(h, tag, off, buf, len, false, errp);
}

bool dcd_hostclient_write(DcdHostClient *h, const DcdTag *tag, uint64_t off,
                          const void *buf, size_t len, GError **errp)
{
    return access_tag(h, tag, off, (uint8_t *)buf, len, true, errp);
}

int dcd_hostclient_pool_fd(const DcdHostClient *h, const DcdTag *tag)
{
    Pool *p = find_pool(h, tag->b);

    return p ? p->fd : -1;
}
