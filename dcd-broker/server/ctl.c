/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl.c - the control socket (docs/control.md).  A client's lines are
 * handled in order; while a reply waits for a host (extent-add with
 * "wait") the client's later lines wait too, so replies never reorder.
 *
 * A client may hang up at any moment, even while one of its lines is
 * being handled: client_close() ends its waits there and then, and
 * nothing is written to a closed client.
 */
#include <string.h>
#include <json-glib/json-glib.h>

#include "server/ctl.h"
#include "server/forward.h"
#include "core/record.h"
#include "err.h"
#include "dcd/json.h"

#define MAX_LINE (1u << 20)
#define MAX_OUT (16u << 20)
#define MAX_IN (16u << 20)    /* lines that wait behind a "wait" */
#define DEFAULT_WAIT_MS 10000
#define DEFAULT_TIMEOUT_MS 60000

struct DcdCtl {
    DcdBroker *b;
    DcdListener *listener;
    GHashTable *clients;
    char *host_path;
    char *ctl_path;
    guint timeout_ms;         /* idle connections are closed; 0: never */
    DcdForward *forward;      /* other brokers' commands run here */
    GHashTable *forwards;     /* "req-<id>" -> Client waiting for it */
    uint64_t forward_seq;
};

typedef struct Client {
    DcdCtl *ctl;
    GSocket *sock;
    GSource *in_src;
    GSource *out_src;
    GByteArray *in;
    GByteArray *out;
    /* a reply waiting for a host: an add's group, or released extents */
    bool waiting;
    JsonNode *wait_id;
    uint16_t wait_host;
    uint64_t wait_group;      /* while we are among the group's waiters */
    guint wait_timer;
    GPtrArray *wait_release;  /* DcdExtent copies still releasing, or NULL */
    GPtrArray *released;      /* DcdExtent copies in their final state */
    char *fwd_name;           /* its command, sent to another node */
    bool monitoring;          /* gets every broker event as a line */
    guint resume_idle;
    guint close_idle;
    guint idle_timer;         /* closes a client with nothing to do */
} Client;

static void client_close(Client *c);
static void process_lines(Client *c);
static void idle_arm(Client *c);

/* ---- arguments -------------------------------------------------------- */

static bool arg_tag(JsonObject *a, const char *k, bool required, DcdTag *out,
                    GError **errp)
{
    return dcd_jsonin_tag(a, k, required, false, out, errp);
}

static bool arg_host(JsonObject *a, uint16_t *out, GError **errp)
{
    uint64_t v;

    if (!dcd_jsonin_u64(a, "host-id", true, G_MAXUINT16, &v, errp)) {
        return false;
    }
    *out = v;
    return true;
}

static bool arg_region(JsonObject *a, uint8_t *out, GError **errp)
{
    uint64_t v = 0;

    if (!dcd_jsonin_u64(a, "region", false, DCD_MAX_REGIONS - 1, &v, errp)) {
        return false;
    }
    *out = v;
    return true;
}

/* "extents": [{"offset": N, "len": N}, ...] into DcdDpaRange. */
static bool arg_ranges(JsonObject *a, GArray *out, GError **errp)
{
    static const char *const keys[] = { "offset", "len", NULL };
    JsonNode *n = json_object_get_member(a, "extents");
    JsonArray *arr;

    if (!n) {
        return true;
    }
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        ERR(errp, DCD_ERR_INVAL, "'extents' must be an array");
        return false;
    }
    arr = json_node_get_array(n);
    if (json_array_get_length(arr) > DCD_MAX_RANGES) {
        ERR(errp, DCD_ERR_INVAL, "at most %u extents", DCD_MAX_RANGES);
        return false;
    }
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *e = json_array_get_element(arr, i);
        DcdDpaRange r;

        if (!JSON_NODE_HOLDS_OBJECT(e) ||
            !dcd_jsonin_only(json_node_get_object(e), keys, errp) ||
            !dcd_jsonin_u64(json_node_get_object(e), "offset", true, G_MAXINT64,
                     &r.dpa, errp) ||
            !dcd_jsonin_u64(json_node_get_object(e), "len", true, G_MAXINT64,
                     &r.len, errp)) {
            g_prefix_error(errp, "extent %u: ", i);
            if (errp && !*errp) {
                ERR(errp, DCD_ERR_INVAL, "extent %u is not an object", i);
            }
            return false;
        }
        g_array_append_val(out, r);
    }
    return true;
}

/* ---- results ---------------------------------------------------------- */

static void build_pool(DcdCtl *ctl, JsonBuilder *jb, const DcdPool *p)
{
    g_autoptr(GArray) holders = dcd_broker_pool_holders(ctl->b, p);

    json_builder_begin_object(jb);
    dcd_json_str(jb, "tag", p->tag_str);
    dcd_json_int(jb, "size", p->size);
    dcd_json_str(jb, "backing", dcd_backing_name(p->backing));
    if (p->path) {
        dcd_json_str(jb, "path", p->path);
    }
    dcd_json_bool(jb, "sealed", p->sealed);
    dcd_json_bool(jb, "memory", dcd_pool_has_memory(p));
    json_builder_set_member_name(jb, "segments");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < dcd_pool_nsegments(p); i++) {
        const DcdSegment *s = dcd_pool_segment(p, i);

        json_builder_begin_object(jb);
        dcd_json_int(jb, "shared-seq", s->seq);
        dcd_json_int(jb, "offset", s->offset);
        dcd_json_int(jb, "len", s->len);
        if (p->ranges) {
            dcd_json_int(jb, "device-offset", s->fd_offset);
        }
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    if (p->ranges) {
        dcd_record_ranges(jb, "device-ranges", p->ranges);
    }
    dcd_json_u16s(jb, "hosts", holders);
    if (p->requesters) {
        dcd_json_u16s(jb, "requesters", p->requesters);
    }
    json_builder_end_object(jb);
}

static void build_extent(JsonBuilder *jb, const DcdHost *h,
                         const DcdExtent *e)
{
    char tag[DCD_TAG_STR_LEN];
    uint64_t base = e->region < h->nregions ? h->regions[e->region].base : 0;

    dcd_tag_unparse(&e->tag, tag);
    json_builder_begin_object(jb);
    dcd_json_int(jb, "host-id", h->id);
    dcd_json_int(jb, "region", e->region);
    dcd_json_int(jb, "dpa", e->dpa);
    dcd_json_int(jb, "offset", e->dpa - base);
    dcd_json_int(jb, "len", e->len);
    dcd_json_str(jb, "tag", tag);
    dcd_json_int(jb, "shared-seq", e->seq);
    if (e->pool && e->seq < dcd_pool_nsegments(e->pool)) {
        const DcdSegment *s = dcd_pool_segment(e->pool, e->seq);

        dcd_json_int(jb, "pool-offset", s->offset);
        if (e->pool->ranges) {
            dcd_json_int(jb, "device-offset", s->fd_offset);
        }
    }
    dcd_json_str(jb, "state", dcd_extent_state_name(e->state));
    dcd_json_int(jb, "group", e->group);
    json_builder_end_object(jb);
}

static void build_host(JsonBuilder *jb, const DcdBroker *b, const DcdHost *h)
{
    json_builder_begin_object(jb);
    dcd_json_int(jb, "host-id", h->id);
    dcd_json_str(jb, "name", h->name);
    if (b->node) {
        dcd_json_str(jb, "node", b->node);
    }
    dcd_json_bool(jb, "connected", dcd_host_connected(h));
    if (dcd_host_connected(h)) {
        dcd_json_int(jb, "pid", h->pid);
        if (h->max_group) {
            dcd_json_int(jb, "max-group", h->max_group);
        }
    }
    json_builder_set_member_name(jb, "regions");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < h->nregions; i++) {
        const DcdSpace *s = &h->regions[i];

        json_builder_begin_object(jb);
        dcd_json_int(jb, "index", i);
        dcd_json_int(jb, "base", s->base);
        dcd_json_int(jb, "len", s->len);
        dcd_json_int(jb, "block-size", s->block);
        dcd_json_bool(jb, "sharable", s->sharable);
        dcd_json_int(jb, "free", s->nfree * s->block);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    dcd_json_int(jb, "extents", g_hash_table_size(h->extents));
    dcd_json_int(jb, "revoking", dcd_host_count_state(h, DCD_EXTENT_REVOKING));
    json_builder_end_object(jb);
}

/* A host of another node, as its records say (no connection to see). */
static void build_remote_host(JsonBuilder *jb, const DcdCluster *cl,
                              const DcdRemoteHost *r)
{
    GHashTableIter it;
    gpointer val;
    unsigned n = 0;

    g_hash_table_iter_init(&it, cl->extents);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        const DcdRemoteExtent *x = val;

        n += x->e.host_id == r->h.id && g_str_equal(x->node, r->node);
    }
    json_builder_begin_object(jb);
    dcd_json_int(jb, "host-id", r->h.id);
    dcd_json_str(jb, "name", r->h.name);
    dcd_json_str(jb, "node", r->node);
    json_builder_set_member_name(jb, "regions");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < r->h.nregions; i++) {
        json_builder_begin_object(jb);
        dcd_json_int(jb, "index", i);
        dcd_json_int(jb, "base", r->h.regions[i].base);
        dcd_json_int(jb, "len", r->h.regions[i].len);
        dcd_json_int(jb, "block-size", r->h.regions[i].block_size);
        dcd_json_bool(jb, "sharable",
                      r->h.regions[i].flags & DCD_REGION_SHARABLE);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    dcd_json_int(jb, "extents", n);
    json_builder_end_object(jb);
}

/* An extent of another node's host; pool offsets from the shared pool. */
static void build_remote_extent(JsonBuilder *jb, DcdBroker *b,
                                const DcdRemoteExtent *r)
{
    char tag[DCD_TAG_STR_LEN];
    DcdPool *p = dcd_broker_pool(b, &r->e.tag);
    const DcdSegment *seg = p ? dcd_pool_segment(p, r->e.seq) : NULL;
    g_autofree char *hk = g_strdup_printf("%s/host:%u", r->node,
                                          r->e.host_id);
    const DcdRemoteHost *h = g_hash_table_lookup(b->cluster.hosts, hk);
    uint64_t base = h && r->e.region < h->h.nregions ?
                    h->h.regions[r->e.region].base : 0;

    dcd_tag_unparse(&r->e.tag, tag);
    json_builder_begin_object(jb);
    dcd_json_int(jb, "host-id", r->e.host_id);
    dcd_json_str(jb, "node", r->node);
    dcd_json_int(jb, "region", r->e.region);
    dcd_json_int(jb, "dpa", r->e.dpa);
    dcd_json_int(jb, "offset", r->e.dpa - base);
    dcd_json_int(jb, "len", r->e.len);
    dcd_json_str(jb, "tag", tag);
    dcd_json_int(jb, "shared-seq", r->e.seq);
    if (seg) {
        dcd_json_int(jb, "pool-offset", seg->offset);
        if (p->ranges) {
            dcd_json_int(jb, "device-offset", seg->fd_offset);
        }
    }
    dcd_json_str(jb, "state", dcd_extent_state_name(r->e.state));
    json_builder_end_object(jb);
}

static JsonNode *finish(JsonBuilder *jb)
{
    JsonNode *n = json_builder_get_root(jb);

    g_object_unref(jb);
    return n;
}

static JsonNode *extents_result(const DcdHost *h, uint64_t group,
                                GPtrArray *extents)
{
    JsonBuilder *jb = json_builder_new();

    json_builder_begin_object(jb);
    if (group) {
        dcd_json_int(jb, "group", group);
    }
    json_builder_set_member_name(jb, "extents");
    json_builder_begin_array(jb);
    for (guint i = 0; i < extents->len; i++) {
        build_extent(jb, h, extents->pdata[i]);
    }
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    return finish(jb);
}

/* ---- commands --------------------------------------------------------- */

typedef JsonNode *(*CmdFn)(Client *c, JsonObject *args, GError **errp);

static JsonNode *cmd_status(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = { NULL };
    DcdBroker *b = c->ctl->b;
    JsonBuilder *jb;
    DcdBrokerStats st;
    char id[DCD_TAG_STR_LEN];

    if (!dcd_jsonin_only(args, keys, errp)) {
        return NULL;
    }
    dcd_broker_stats(b, &st);
    dcd_tag_unparse((DcdTag *)b->id, id);
    jb = json_builder_new();
    json_builder_begin_object(jb);
    dcd_json_str(jb, "version", PACKAGE_VERSION);
    dcd_json_str(jb, "broker-id", id);
    dcd_json_int(jb, "epoch", b->epoch);
    dcd_json_int(jb, "uptime-ms",
                 (g_get_monotonic_time() - b->started_us) / 1000);
    dcd_json_int(jb, "pools", st.pools);
    dcd_json_int(jb, "hosts", st.hosts);
    dcd_json_int(jb, "hosts-connected", st.hosts_connected);
    dcd_json_int(jb, "extents", st.extents);
    dcd_json_str(jb, "host-socket", c->ctl->host_path);
    dcd_json_str(jb, "control-socket", c->ctl->ctl_path);
    if (b->state_dir) {
        dcd_json_str(jb, "state-dir", b->state_dir);
    } else if (b->cluster_store) {
        dcd_json_str(jb, "cluster-store", b->cluster_store);
        dcd_json_str(jb, "node", b->node);
    }
    if (b->store) {
        /* False while changes are refused with unavail (etcd gone). */
        dcd_json_bool(jb, "store-available",
                      dcd_broker_store_available(b));
    }
    json_builder_end_object(jb);
    return finish(jb);
}

static JsonNode *cmd_pool_create(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = {
        "size", "tag", "backing", "requesters", NULL
    };
    g_autoptr(GArray) requesters = NULL;
    /* A broker with a shared device carves pools from it by default. */
    const char *backing_s = c->ctl->b->device ? "device" : "memfd";
    DcdBacking backing;
    uint64_t size;
    DcdTag tag = { 0 };
    DcdPool *p;
    JsonBuilder *jb;

    if (!dcd_jsonin_only(args, keys, errp) ||
        !dcd_jsonin_u64(args, "size", true, G_MAXINT64, &size, errp) ||
        !arg_tag(args, "tag", false, &tag, errp) ||
        !dcd_jsonin_str(args, "backing", false, &backing_s, errp) ||
        !dcd_jsonin_host_ids(args, "requesters", &requesters, errp)) {
        return NULL;
    }
    if (!dcd_backing_parse(backing_s, &backing)) {
        ERR(errp, DCD_ERR_INVAL, "backing must be memfd, file, hugetlb or"
            " device, not '%s'", backing_s);
        return NULL;
    }
    p = dcd_broker_pool_create(c->ctl->b, &tag, size, backing, requesters,
                               errp);
    if (!p) {
        return NULL;
    }
    jb = json_builder_new();
    build_pool(c->ctl, jb, p);
    return finish(jb);
}

static JsonNode *cmd_pool_list(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = { "tag", NULL };
    g_autoptr(GPtrArray) pools = NULL;
    DcdTag tag = { 0 };
    JsonBuilder *jb;

    if (!dcd_jsonin_only(args, keys, errp) ||
        !arg_tag(args, "tag", false, &tag, errp)) {
        return NULL;
    }
    pools = dcd_broker_pools(c->ctl->b);
    jb = json_builder_new();
    json_builder_begin_array(jb);
    for (guint i = 0; i < pools->len; i++) {
        DcdPool *p = pools->pdata[i];

        if (dcd_tag_is_null(&tag) || dcd_tag_equal(&tag, &p->tag)) {
            build_pool(c->ctl, jb, p);
        }
    }
    json_builder_end_array(jb);
    return finish(jb);
}

static JsonNode *empty_object(void)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(n, json_object_new());
    return n;
}

static JsonNode *cmd_pool_destroy(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = { "tag", NULL };
    DcdTag tag;

    if (!dcd_jsonin_only(args, keys, errp) ||
        !arg_tag(args, "tag", true, &tag, errp) ||
        !dcd_broker_pool_destroy(c->ctl->b, &tag, errp)) {
        return NULL;
    }
    return empty_object();
}

static JsonNode *cmd_host_list(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = { NULL };
    g_autoptr(GPtrArray) hosts = NULL;
    JsonBuilder *jb;
    GHashTableIter it;
    gpointer val;

    if (!dcd_jsonin_only(args, keys, errp)) {
        return NULL;
    }
    hosts = dcd_broker_hosts(c->ctl->b);
    jb = json_builder_new();
    json_builder_begin_array(jb);
    for (guint i = 0; i < hosts->len; i++) {
        build_host(jb, c->ctl->b, hosts->pdata[i]);
    }
    g_hash_table_iter_init(&it, c->ctl->b->cluster.hosts);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        build_remote_host(jb, &c->ctl->b->cluster, val);
    }
    json_builder_end_array(jb);
    return finish(jb);
}

static JsonNode *cmd_node_list(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = { NULL };
    DcdBroker *b = c->ctl->b;
    g_autoptr(GPtrArray) names = NULL;
    JsonBuilder *jb;

    if (!dcd_jsonin_only(args, keys, errp)) {
        return NULL;
    }
    if (!b->node) {
        ERR(errp, DCD_ERR_NOTSUP, "this broker is alone: nodes are brokers"
            " sharing a cluster store (--cluster-store)");
        return NULL;
    }
    names = dcd_cluster_node_names(&b->cluster);
    jb = json_builder_new();
    json_builder_begin_array(jb);
    for (guint i = 0; i < names->len; i++) {
        const char *n = names->pdata[i];
        g_autoptr(JsonObject) o = dcd_jsonin_object(
            g_hash_table_lookup(b->cluster.nodes, n), -1, NULL);
        const char *host = NULL;
        uint64_t pid = 0;

        json_builder_begin_object(jb);
        dcd_json_str(jb, "node", n);
        dcd_json_bool(jb, "self", g_str_equal(n, b->node));
        if (o && dcd_jsonin_str(o, "hostname", false, &host, NULL) && host) {
            dcd_json_str(jb, "hostname", host);
        }
        if (o && dcd_jsonin_u64(o, "pid", false, G_MAXINT32, &pid, NULL) &&
            pid) {
            dcd_json_int(jb, "pid", pid);
        }
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    return finish(jb);
}

static void send_reply(Client *c, JsonNode *id, JsonNode *result,
                       const GError *err);

/* Later lines run from the main loop, not inside the broker's callback. */
static gboolean resume(gpointer opaque)
{
    Client *c = opaque;

    c->resume_idle = 0;
    process_lines(c);
    return G_SOURCE_REMOVE;
}

/* End the client's wait, if any, without a reply. */
static void wait_cancel(Client *c)
{
    if (c->wait_group) {
        dcd_broker_group_unwait(c->ctl->b, c->wait_host, c->wait_group, c);
        c->wait_group = 0;
    }
    if (c->wait_timer) {
        g_source_remove(c->wait_timer);
        c->wait_timer = 0;
    }
    g_clear_pointer(&c->wait_release, g_ptr_array_unref);
    g_clear_pointer(&c->released, g_ptr_array_unref);
    g_clear_pointer(&c->wait_id, json_node_unref);
    if (c->fwd_name) {
        g_hash_table_remove(c->ctl->forwards, c->fwd_name);
        g_clear_pointer(&c->fwd_name, g_free);
    }
    c->waiting = false;
}

/*
 * The wait is over: reply, then go on with later lines.  The wait ends
 * first, since the reply may find the client gone and close it.
 */
static void wait_finish(Client *c, JsonNode *result, const GError *err)
{
    g_autoptr(JsonNode) id = g_steal_pointer(&c->wait_id);

    wait_cancel(c);
    send_reply(c, id, result, err);
    if (c->sock) {
        idle_arm(c);
        if (!c->resume_idle) {
            c->resume_idle = g_idle_add(resume, c);
        }
    }
}

static void wait_done(DcdHost *h, uint64_t group, GPtrArray *extents,
                      gpointer opaque)
{
    Client *c = opaque;
    g_autoptr(JsonNode) result = extents_result(h, group, extents);

    /* The group is calling its waiters: we are off its list already. */
    c->wait_group = 0;
    wait_finish(c, result, NULL);
}

static gboolean wait_timeout(gpointer opaque)
{
    Client *c = opaque;
    g_autoptr(GError) err = NULL;

    c->wait_timer = 0;
    ERR(&err, DCD_ERR_TIMEOUT, "host %u has not answered group %"
        G_GUINT64_FORMAT " in time; the offer stays pending", c->wait_host,
        c->wait_group);
    wait_finish(c, NULL, err);
    return G_SOURCE_REMOVE;
}

static JsonNode *cmd_extent_add(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = {
        "host-id", "tag", "region", "policy", "extents", "wait",
        "timeout-ms", NULL
    };
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(DcdDpaRange));
    const char *policy = "free";
    uint64_t timeout = DEFAULT_WAIT_MS;
    bool wait = false;
    DcdAddArgs a = { 0 };
    DcdGroup *g;

    if (!dcd_jsonin_only(args, keys, errp) ||
        !arg_host(args, &a.host_id, errp) ||
        !arg_tag(args, "tag", true, &a.tag, errp) ||
        !arg_region(args, &a.region, errp) ||
        !dcd_jsonin_str(args, "policy", false, &policy, errp) ||
        !arg_ranges(args, ranges, errp) ||
        !dcd_jsonin_bool(args, "wait", &wait, errp) ||
        !dcd_jsonin_u64(args, "timeout-ms", false, 3600000, &timeout, errp)) {
        return NULL;
    }
    if (!dcd_policy_parse(policy, &a.policy)) {
        ERR(errp, DCD_ERR_INVAL, "policy must be free, contiguous,"
            " prescriptive or enable-shared-access, not '%s'", policy);
        return NULL;
    }
    a.ranges = (DcdDpaRange *)ranges->data;
    a.nranges = ranges->len;
    g = dcd_broker_extent_add(c->ctl->b, &a, errp);
    if (!g) {
        return NULL;
    }
    /* An event of the add may have found the client gone: no wait then. */
    if (!wait || !c->sock) {
        return extents_result(dcd_broker_host(c->ctl->b, a.host_id),
                              g->id, g->extents);
    }
    c->waiting = true;
    c->wait_host = a.host_id;
    c->wait_group = g->id;
    c->wait_timer = g_timeout_add(timeout, wait_timeout, c);
    dcd_broker_group_wait(g, wait_done, c);
    return NULL;
}

static gboolean release_timeout(gpointer opaque)
{
    Client *c = opaque;
    g_autoptr(GError) err = NULL;

    c->wait_timer = 0;
    ERR(&err, DCD_ERR_TIMEOUT, "host %u has not confirmed the release of"
        " %u extent(s) in time; they stay releasing or revoking",
        c->wait_host, c->wait_release->len);
    wait_finish(c, NULL, err);
    return G_SOURCE_REMOVE;
}

/*
 * Copies of extents that have just ended have no pool, but a release
 * reply shows their pool-offset: the pool is still there, its layout
 * unchanged, as nothing can run between the end and the reply.
 */
static void find_pools(DcdCtl *ctl, GPtrArray *copies)
{
    for (guint i = 0; i < copies->len; i++) {
        DcdExtent *x = copies->pdata[i];

        if (!x->pool) {
            x->pool = dcd_broker_pool(ctl->b, &x->tag);
        }
    }
}

/* An extent event for a client waiting for its release to finish. */
/* Releasing and revoking end when the host confirms. */
static bool release_ongoing(const DcdExtent *e)
{
    return e->state == DCD_EXTENT_RELEASING ||
           e->state == DCD_EXTENT_REVOKING;
}

static void release_progress(Client *c, const DcdHost *h, const DcdExtent *e)
{
    if (h->id != c->wait_host || release_ongoing(e)) {
        return;
    }
    for (guint i = 0; i < c->wait_release->len; i++) {
        DcdExtent *x = c->wait_release->pdata[i];

        if (x->dpa == e->dpa && x->len == e->len) {
            x->state = e->state;
            x->pool = NULL;
            g_ptr_array_add(c->released,
                            g_ptr_array_steal_index(c->wait_release, i));
            break;
        }
    }
    if (!c->wait_release->len) {
        g_autoptr(JsonNode) result = NULL;

        find_pools(c->ctl, c->released);
        result = extents_result(h, 0, c->released);
        wait_finish(c, result, NULL);
    }
}

static JsonNode *cmd_extent_release(Client *c, JsonObject *args,
                                    GError **errp)
{
    static const char *const keys[] = {
        "host-id", "tag", "removal", "region", "extents", "forced", "wait",
        "timeout-ms", NULL
    };
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(DcdDpaRange));
    g_autoptr(GPtrArray) done = NULL;
    const char *removal = "tag-based";
    DcdReleaseArgs a = { 0 };
    uint64_t timeout = DEFAULT_WAIT_MS;
    bool wait = false;
    unsigned ongoing = 0;

    if (!dcd_jsonin_only(args, keys, errp) ||
        !arg_host(args, &a.host_id, errp) ||
        !arg_tag(args, "tag", true, &a.tag, errp) ||
        !arg_region(args, &a.region, errp) ||
        !dcd_jsonin_str(args, "removal", false, &removal, errp) ||
        !arg_ranges(args, ranges, errp) ||
        !dcd_jsonin_bool(args, "forced", &a.forced, errp) ||
        !dcd_jsonin_bool(args, "wait", &wait, errp) ||
        !dcd_jsonin_u64(args, "timeout-ms", false, 3600000, &timeout,
                        errp)) {
        return NULL;
    }
    if (!dcd_removal_parse(removal, &a.removal)) {
        ERR(errp, DCD_ERR_INVAL, "removal must be tag-based or prescriptive,"
            " not '%s'", removal);
        return NULL;
    }
    a.ranges = (DcdDpaRange *)ranges->data;
    a.nranges = ranges->len;
    done = dcd_broker_extent_release(c->ctl->b, &a, errp);
    if (!done) {
        return NULL;
    }
    for (guint i = 0; i < done->len; i++) {
        ongoing += release_ongoing(done->pdata[i]);
    }
    if (!wait || !ongoing || !c->sock) {
        find_pools(c->ctl, done);
        return extents_result(dcd_broker_host(c->ctl->b, a.host_id),
                              0, done);
    }
    /* The reply comes when the host has confirmed them all. */
    c->waiting = true;
    c->wait_host = a.host_id;
    c->released = g_ptr_array_new_with_free_func(g_free);
    for (guint i = done->len; i-- > 0;) {
        if (!release_ongoing(done->pdata[i])) {
            g_ptr_array_add(c->released, g_ptr_array_steal_index(done, i));
        }
    }
    c->wait_release = g_steal_pointer(&done);
    c->wait_timer = g_timeout_add(timeout, release_timeout, c);
    return NULL;
}

static JsonNode *cmd_host_forget(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = { "host-id", NULL };
    g_autoptr(GPtrArray) done = NULL;
    uint16_t host_id;

    if (!dcd_jsonin_only(args, keys, errp) ||
        !arg_host(args, &host_id, errp) ||
        !(done = dcd_broker_host_forget(c->ctl->b, host_id, errp))) {
        return NULL;
    }
    find_pools(c->ctl, done);
    return extents_result(dcd_broker_host(c->ctl->b, host_id), 0, done);
}

static JsonNode *cmd_monitor(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = { NULL };

    if (!dcd_jsonin_only(args, keys, errp)) {
        return NULL;
    }
    c->monitoring = true;
    return empty_object();
}

static JsonNode *cmd_extent_list(Client *c, JsonObject *args, GError **errp)
{
    static const char *const keys[] = { "host-id", "tag", "all", NULL };
    g_autoptr(GPtrArray) hosts = NULL;
    uint64_t host_id = G_MAXUINT64;
    DcdTag tag = { 0 };
    bool all = false;
    JsonBuilder *jb;
    GHashTableIter it;
    gpointer val;

    if (!dcd_jsonin_only(args, keys, errp) ||
        !dcd_jsonin_u64(args, "host-id", false, G_MAXUINT16, &host_id, errp) ||
        !arg_tag(args, "tag", false, &tag, errp) ||
        !dcd_jsonin_bool(args, "all", &all, errp)) {
        return NULL;
    }
    hosts = dcd_broker_hosts(c->ctl->b);
    jb = json_builder_new();
    json_builder_begin_array(jb);
    for (guint i = 0; i < hosts->len; i++) {
        DcdHost *h = hosts->pdata[i];
        g_autoptr(GPtrArray) ext = NULL;

        if (host_id != G_MAXUINT64 && h->id != host_id) {
            continue;
        }
        ext = dcd_host_extents_of(h, dcd_tag_is_null(&tag) ? NULL : &tag);
        for (GList *l = all ? h->history.head : NULL; l; l = l->next) {
            DcdExtent *e = l->data;

            if (dcd_tag_is_null(&tag) || dcd_tag_equal(&tag, &e->tag)) {
                build_extent(jb, h, e);
            }
        }
        for (guint j = 0; j < ext->len; j++) {
            build_extent(jb, h, ext->pdata[j]);
        }
    }
    g_hash_table_iter_init(&it, c->ctl->b->cluster.extents);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        const DcdRemoteExtent *r = val;

        if ((host_id == G_MAXUINT64 || r->e.host_id == host_id) &&
            (dcd_tag_is_null(&tag) || dcd_tag_equal(&tag, &r->e.tag))) {
            build_remote_extent(jb, c->ctl->b, r);
        }
    }
    json_builder_end_array(jb);
    return finish(jb);
}

static const struct {
    const char *name;
    CmdFn fn;
} commands[] = {
    { "status", cmd_status },
    { "pool-create", cmd_pool_create },
    { "pool-list", cmd_pool_list },
    { "pool-destroy", cmd_pool_destroy },
    { "host-list", cmd_host_list },
    { "host-forget", cmd_host_forget },
    { "node-list", cmd_node_list },
    { "extent-add", cmd_extent_add },
    { "extent-release", cmd_extent_release },
    { "extent-list", cmd_extent_list },
    { "monitor", cmd_monitor },
};

/* ---- connection ------------------------------------------------------- */

static gboolean on_writable(GSocket *sock, GIOCondition cond,
                            gpointer opaque);

static void flush_out(Client *c)
{
    if (!c->sock) {
        return;
    }
    while (c->out->len) {
        g_autoptr(GError) err = NULL;
        gssize n = g_socket_send(c->sock, (const char *)c->out->data,
                                 c->out->len, NULL, &err);

        if (n < 0) {
            if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
                break;
            }
            client_close(c);
            return;
        }
        g_byte_array_remove_range(c->out, 0, n);
    }
    if (c->out->len && !c->out_src) {
        c->out_src = g_socket_create_source(c->sock, G_IO_OUT, NULL);
        g_source_set_callback(c->out_src, G_SOURCE_FUNC(on_writable), c,
                              NULL);
        g_source_attach(c->out_src, NULL);
    } else if (!c->out->len && c->out_src) {
        g_source_destroy(c->out_src);
        g_clear_pointer(&c->out_src, g_source_unref);
    }
}

static gboolean on_writable(GSocket *sock, GIOCondition cond,
                            gpointer opaque)
{
    flush_out(opaque);
    return G_SOURCE_CONTINUE;
}

/* One reply line, without the newline. */
static char *reply_text(JsonNode *id, JsonNode *result, const GError *err)
{
    g_autofree char *desc = NULL;
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "id");
    json_builder_add_value(jb, id ? json_node_copy(id) :
                           json_node_new(JSON_NODE_NULL));
    if (err) {
        json_builder_set_member_name(jb, "error");
        json_builder_begin_object(jb);
        dcd_json_str(jb, "class", err->domain == DCD_ERROR ?
                dcd_err_name(err->code) : "io");
        /* It may quote a client's bytes: the reply must stay UTF-8. */
        desc = g_utf8_make_valid(err->message, -1);
        dcd_json_str(jb, "desc", desc);
        json_builder_end_object(jb);
    } else {
        json_builder_set_member_name(jb, "return");
        json_builder_add_value(jb, json_node_copy(result));
    }
    json_builder_end_object(jb);
    root = json_builder_get_root(jb);
    return json_to_string(root, FALSE);
}

static void send_line(Client *c, const char *text)
{
    if (!c->sock) {
        return;   /* hung up: nobody to tell */
    }
    if (c->out->len + strlen(text) + 1 > MAX_OUT) {
        g_message("control client is not reading its replies; closing");
        client_close(c);
        return;
    }
    g_byte_array_append(c->out, (const guint8 *)text, strlen(text));
    g_byte_array_append(c->out, (const guint8 *)"\n", 1);
    flush_out(c);
}

static void send_reply(Client *c, JsonNode *id, JsonNode *result,
                       const GError *err)
{
    g_autofree char *text = reply_text(id, result, err);

    send_line(c, text);
}

/* ---- commands for hosts of other nodes ---------------------------------*/

static gboolean forward_timeout(gpointer opaque)
{
    Client *c = opaque;
    g_autoptr(GError) err = NULL;

    c->wait_timer = 0;
    ERR(&err, DCD_ERR_TIMEOUT, "the broker of the host's node did not"
        " answer in time; the command may still be carried out there");
    wait_finish(c, NULL, err);
    return G_SOURCE_REMOVE;
}

/*
 * The command names a host of another node: its broker carries it out
 * and its reply comes back as a message (forward.h).  False if it could
 * not be sent (*errp set).
 */
static bool forward_command(Client *c, const char *node, const char *name,
                            JsonObject *args, JsonNode *id, GError **errp)
{
    DcdCtl *ctl = c->ctl;
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *json = NULL;
    g_autofree char *req = NULL;
    uint64_t ms = DEFAULT_WAIT_MS;
    bool wait = false;

    dcd_jsonin_bool(args, "wait", &wait, NULL);
    dcd_jsonin_u64(args, "timeout-ms", false, 3600000, &ms, NULL);
    json_builder_begin_object(jb);
    dcd_json_str(jb, "command", name);
    json_builder_set_member_name(jb, "arguments");
    json_builder_add_value(jb, json_node_init_object(json_node_alloc(),
                                                     args));
    json_builder_end_object(jb);
    root = json_builder_get_root(jb);
    json = json_to_string(root, FALSE);
    req = g_strdup_printf("req-%" G_GUINT64_FORMAT ".%" G_GUINT64_FORMAT,
                          ctl->b->epoch, ++ctl->forward_seq);
    if (!dcd_broker_send_mail(ctl->b, node, req, json, errp)) {
        g_prefix_error(errp, "host on node %s: ", node);
        return false;
    }
    c->waiting = true;
    c->wait_id = id ? json_node_copy(id) : NULL;
    c->fwd_name = g_steal_pointer(&req);
    g_hash_table_insert(ctl->forwards, c->fwd_name, c);
    /* Its own wait, and the time a message takes both ways. */
    c->wait_timer = g_timeout_add((wait ? ms : 0) + DEFAULT_WAIT_MS,
                                  forward_timeout, c);
    return true;
}

/* A reply line from another broker: {"return": ...} or {"error": ...}. */
static void forward_done(Client *c, const char *json)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) o = dcd_jsonin_object(json, -1, &err);
    JsonNode *ret = o ? json_object_get_member(o, "return") : NULL;
    JsonNode *en = o ? json_object_get_member(o, "error") : NULL;
    JsonObject *e = en && JSON_NODE_HOLDS_OBJECT(en) ?
                    json_node_get_object(en) : NULL;
    const char *class = NULL, *desc = NULL;

    if (ret) {
        wait_finish(c, ret, NULL);
        return;
    }
    if (e && dcd_jsonin_str(e, "class", true, &class, NULL) &&
        dcd_jsonin_str(e, "desc", true, &desc, NULL) &&
        dcd_err_parse(class) != DCD_ERR_OK) {
        g_set_error_literal(&err, DCD_ERROR, dcd_err_parse(class), desc);
    } else if (!err) {
        ERR(&err, DCD_ERR_IO, "another broker's reply does not read");
    }
    wait_finish(c, NULL, err);
}

/* Mail from another broker of the cluster: a command, or a reply. */
static void on_mail(DcdBroker *b, const char *from, const char *name,
                    const char *json, gpointer opaque)
{
    DcdCtl *ctl = opaque;

    dcd_broker_drop_mail(b, from, name);
    if (g_str_has_prefix(name, "req-")) {
        dcd_forward_serve(ctl->forward, from, name, json);
    } else if (g_str_has_prefix(name, "rep-")) {
        g_autofree char *req = g_strconcat("req-", name + strlen("rep-"),
                                           NULL);
        Client *c = g_hash_table_lookup(ctl->forwards, req);

        if (c) {
            forward_done(c, json);
        }
    }
}

static void handle_line(Client *c, const char *line, gsize len)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) result = NULL;
    g_autoptr(JsonObject) empty = json_object_new();
    g_autoptr(GError) bad = NULL;
    g_autoptr(JsonObject) req = dcd_jsonin_object(line, len, &bad);
    JsonNode *id = NULL;
    JsonObject *args = empty;
    JsonNode *argn;
    const char *name = NULL;
    CmdFn fn = NULL;

    if (!req) {
        ERR(&err, DCD_ERR_INVAL, "a request is one JSON object per line"
            " (%s)", bad->message);
        send_reply(c, NULL, NULL, err);
        return;
    }
    id = json_object_get_member(req, "id");
    argn = json_object_get_member(req, "arguments");
    if (!dcd_jsonin_str(req, "command", true, &name, &err)) {
        g_prefix_error(&err, "request: ");
    } else if (argn && !JSON_NODE_HOLDS_OBJECT(argn)) {
        ERR(&err, DCD_ERR_INVAL, "'arguments' must be an object");
    } else {
        for (unsigned i = 0; i < G_N_ELEMENTS(commands); i++) {
            if (g_str_equal(commands[i].name, name)) {
                fn = commands[i].fn;
            }
        }
        if (!fn) {
            ERR(&err, DCD_ERR_INVAL, "unknown command '%s'", name);
        } else {
            uint64_t host = G_MAXUINT64;
            const char *node;

            if (argn) {
                args = json_node_get_object(argn);
            }
            if (dcd_forward_allowed(name) &&
                dcd_jsonin_u64(args, "host-id", false, G_MAXUINT16, &host,
                               NULL) && host != G_MAXUINT64 &&
                (node = dcd_broker_host_node(c->ctl->b, host))) {
                if (forward_command(c, node, name, args, id, &err)) {
                    return;
                }
            } else {
                result = fn(c, args, &err);
            }
        }
    }
    if (!result && !err) {
        c->wait_id = id ? json_node_copy(id) : NULL;
        return; /* the reply comes when the host answers */
    }
    send_reply(c, id, result, err);
}

static void process_lines(Client *c)
{
    bool handled = false;
    guint8 *nl;

    while (!c->waiting && c->sock &&
           (nl = memchr(c->in->data, '\n', c->in->len))) {
        gsize len = nl - c->in->data;
        g_autofree char *line = g_strndup((const char *)c->in->data, len);

        g_byte_array_remove_range(c->in, 0, len + 1);
        handle_line(c, line, len);
        handled = true;
    }
    /* Only a whole request counts as activity, not a trickle of bytes. */
    if (handled) {
        idle_arm(c);
    }
}

static gboolean on_readable(GSocket *sock, GIOCondition cond,
                            gpointer opaque)
{
    Client *c = opaque;
    char buf[65536];
    g_autoptr(GError) err = NULL;
    gssize n = g_socket_receive(sock, buf, sizeof(buf), NULL, &err);

    if (n < 0 && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        client_close(c);
        return G_SOURCE_REMOVE;
    }
    g_byte_array_append(c->in, (guint8 *)buf, n);
    if (c->in->len > MAX_LINE && !memchr(c->in->data, '\n', c->in->len)) {
        g_autoptr(GError) big = NULL;

        ERR(&big, DCD_ERR_INVAL, "request longer than %u bytes", MAX_LINE);
        send_reply(c, NULL, NULL, big);
        client_close(c);
        return G_SOURCE_REMOVE;
    }
    if (c->in->len > MAX_IN) {
        g_autoptr(GError) big = NULL;

        ERR(&big, DCD_ERR_INVAL, "more than %u bytes of requests wait for"
            " a reply", MAX_IN);
        send_reply(c, NULL, NULL, big);
        client_close(c);
        return G_SOURCE_REMOVE;
    }
    process_lines(c);
    return G_SOURCE_CONTINUE;
}

static void client_free(gpointer p)
{
    Client *c = p;

    if (c->close_idle) {
        g_source_remove(c->close_idle);
    }
    if (c->resume_idle) {
        g_source_remove(c->resume_idle);
    }
    if (c->idle_timer) {
        g_source_remove(c->idle_timer);
    }
    wait_cancel(c);
    if (c->in_src) {
        g_source_destroy(c->in_src);
        g_source_unref(c->in_src);
    }
    if (c->out_src) {
        g_source_destroy(c->out_src);
        g_source_unref(c->out_src);
    }
    if (c->sock) {
        g_socket_close(c->sock, NULL);
        g_object_unref(c->sock);
    }
    g_byte_array_unref(c->in);
    g_byte_array_unref(c->out);
    g_free(c);
}

/* Deferred: a source callback may still be on the stack. */
static gboolean close_idle(gpointer opaque)
{
    Client *c = opaque;

    c->close_idle = 0;
    g_hash_table_remove(c->ctl->clients, c);
    return G_SOURCE_REMOVE;
}

/*
 * Close now; the Client is freed later.  Everything that could reach it
 * in between ends here: its wait (the group's waiter list, the timer),
 * monitoring, the timers of its own.  Replies to it are dropped.
 */
static void client_close(Client *c)
{
    if (!c->sock) {
        return;
    }
    if (c->in_src) {
        g_source_destroy(c->in_src);
        g_clear_pointer(&c->in_src, g_source_unref);
    }
    if (c->out_src) {
        g_source_destroy(c->out_src);
        g_clear_pointer(&c->out_src, g_source_unref);
    }
    g_socket_close(c->sock, NULL);
    g_clear_object(&c->sock);
    wait_cancel(c);
    c->monitoring = false;
    if (c->resume_idle) {
        g_source_remove(c->resume_idle);
        c->resume_idle = 0;
    }
    if (c->idle_timer) {
        g_source_remove(c->idle_timer);
        c->idle_timer = 0;
    }
    g_byte_array_set_size(c->in, 0);
    g_byte_array_set_size(c->out, 0);
    c->close_idle = g_idle_add(close_idle, c);
}

static gboolean idle_timeout(gpointer opaque)
{
    Client *c = opaque;
    g_autoptr(GError) err = NULL;

    c->idle_timer = 0;
    ERR(&err, DCD_ERR_UNAVAIL, "no request for %u ms; closing the"
        " connection", c->ctl->timeout_ms);
    g_message("control client: %s", err->message);
    send_reply(c, NULL, NULL, err);
    client_close(c);
    return G_SOURCE_REMOVE;
}

/*
 * (Re)start the idle clock, from now: a client with no wait and no
 * monitor open must send its next request within the timeout.
 */
static void idle_arm(Client *c)
{
    if (c->idle_timer) {
        g_source_remove(c->idle_timer);
        c->idle_timer = 0;
    }
    if (c->sock && c->ctl->timeout_ms && !c->waiting && !c->monitoring) {
        c->idle_timer = g_timeout_add(c->ctl->timeout_ms, idle_timeout, c);
    }
}

static const char *const event_names[] = {
    [DCD_EVENT_HOST_CONNECTED] = "host-connected",
    [DCD_EVENT_HOST_DISCONNECTED] = "host-disconnected",
    [DCD_EVENT_POOL_CREATED] = "pool-created",
    [DCD_EVENT_POOL_DESTROYED] = "pool-destroyed",
    [DCD_EVENT_POOL_MEMORY] = "pool-memory",
    [DCD_EVENT_EXTENT] = "extent",
};

/* One event line: {"event": NAME, "time-ms": N, OBJECT-KIND: {...}}. */
static char *event_text(DcdCtl *ctl, const DcdBrokerEvent *ev)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(jb);
    dcd_json_str(jb, "event", event_names[ev->kind]);
    dcd_json_int(jb, "time-ms", g_get_real_time() / 1000);
    if (ev->kind == DCD_EVENT_EXTENT) {
        DcdExtent e = *ev->extent;

        /* Ended just now: its pool is still there (see find_pools). */
        if (!e.pool) {
            e.pool = dcd_broker_pool(ctl->b, &e.tag);
        }
        json_builder_set_member_name(jb, "extent");
        build_extent(jb, ev->host, &e);
    } else if (ev->kind == DCD_EVENT_HOST_CONNECTED ||
               ev->kind == DCD_EVENT_HOST_DISCONNECTED) {
        json_builder_set_member_name(jb, "host");
        build_host(jb, ctl->b, ev->host);
    } else {
        json_builder_set_member_name(jb, "pool");
        build_pool(ctl, jb, ev->pool);
    }
    json_builder_end_object(jb);
    root = json_builder_get_root(jb);
    return json_to_string(root, FALSE);
}

static void on_event(DcdBroker *b, const DcdBrokerEvent *ev, gpointer opaque)
{
    DcdCtl *ctl = opaque;
    g_autofree char *text = NULL;
    g_autoptr(GList) clients = g_hash_table_get_keys(ctl->clients);

    for (GList *l = clients; l; l = l->next) {
        Client *c = l->data;

        if (!c->sock) {
            continue;
        }
        if (c->monitoring) {
            if (!text) {
                text = event_text(ctl, ev);
            }
            send_line(c, text);
        }
        if (c->wait_release && ev->kind == DCD_EVENT_EXTENT) {
            release_progress(c, ev->host, ev->extent);
        }
    }
}

void dcd_ctl_adopt(DcdCtl *ctl, GSocket *sock)
{
    Client *c = g_new0(Client, 1);

    c->ctl = ctl;
    c->sock = g_object_ref(sock);
    c->in = g_byte_array_new();
    c->out = g_byte_array_new();
    g_socket_set_blocking(sock, FALSE);
    c->in_src = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                       NULL);
    g_source_set_callback(c->in_src, G_SOURCE_FUNC(on_readable), c, NULL);
    g_source_attach(c->in_src, NULL);
    g_hash_table_add(ctl->clients, c);
    idle_arm(c);
}

static void on_accept(GSocket *sock, pid_t pid, uid_t uid, gpointer opaque)
{
    dcd_ctl_adopt(opaque, sock);
    g_object_unref(sock);
}

static void on_refuse(GSocket *sock, const GError *why, gpointer opaque)
{
    g_autofree char *text = reply_text(NULL, NULL, why);
    g_autofree char *line = g_strconcat(text, "\n", NULL);

    g_socket_send(sock, line, strlen(line), NULL, NULL);
}

DcdCtl *dcd_ctl_new(DcdBroker *b, const char *path, const char *host_path,
                    const DcdPeerPolicy *pol, GError **errp)
{
    DcdCtl *ctl = g_new0(DcdCtl, 1);

    ctl->b = b;
    ctl->ctl_path = g_strdup(path);
    ctl->host_path = g_strdup(host_path);
    ctl->timeout_ms = DEFAULT_TIMEOUT_MS;
    ctl->clients = g_hash_table_new_full(NULL, NULL, client_free, NULL);
    ctl->forwards = g_hash_table_new(g_str_hash, g_str_equal);
    ctl->forward = dcd_forward_new(b, ctl);
    dcd_broker_watch(b, on_event, ctl);
    dcd_broker_set_mail(b, on_mail, ctl);
    ctl->listener = path ? dcd_listener_new(path, pol, on_accept, on_refuse,
                                            ctl, errp) : NULL;
    if (path && !ctl->listener) {
        dcd_ctl_free(ctl);
        return NULL;
    }
    return ctl;
}

void dcd_ctl_set_timeout(DcdCtl *ctl, guint ms)
{
    ctl->timeout_ms = ms;
}

bool dcd_ctl_listen_fd(DcdCtl *ctl, int fd, const DcdPeerPolicy *pol,
                       GError **errp)
{
    g_return_val_if_fail(!ctl->listener, false);
    ctl->listener = dcd_listener_adopt(fd, pol, on_accept, on_refuse, ctl,
                                       errp);
    if (ctl->listener && !ctl->ctl_path) {
        ctl->ctl_path = g_strdup(dcd_listener_path(ctl->listener));
    }
    return ctl->listener != NULL;
}

void dcd_ctl_free(DcdCtl *ctl)
{
    if (!ctl) {
        return;
    }
    dcd_listener_free(ctl->listener);
    dcd_broker_unwatch(ctl->b, ctl);
    dcd_broker_set_mail(ctl->b, NULL, NULL);
    dcd_forward_free(ctl->forward);
    g_hash_table_unref(ctl->clients);
    g_hash_table_unref(ctl->forwards);
    g_free(ctl->ctl_path);
    g_free(ctl->host_path);
    g_free(ctl);
}
