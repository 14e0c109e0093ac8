/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcdstore.c - records in etcd, each change one transaction.  Writes
 * block on the broker's thread for at most the request timeout (the core
 * acknowledges nothing before it is saved); the lease is kept alive on
 * the main loop.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "dcd/json.h"
#include "dcd/types.h"
#include "core/etcd.h"
#include "core/etcdstore.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define CLAIM_RETRY_MS 250
#define REGAIN_SOON_MS 200

/* What this broker knows of a record key in etcd. */
typedef struct Known {
    char *json;              /* NULL: there, but unreadable */
    int64_t rev;             /* its mod_revision */
} Known;

typedef struct DcdEtcdStore {
    DcdStore base;
    DcdEtcd *etcd;
    char *node;
    char *node_key;          /* PREFIX "node/<name>" */
    char *own;               /* "state/<name>/": where our records are */
    char *prefix_end;
    unsigned ttl_s;
    int64_t lease;
    gint64 lease_until;      /* monotonic us: the lease may be gone after */
    GHashTable *known;       /* record key -> Known */
    /*
     * Record keys this broker deleted -> the revision of the delete:
     * until the watch has passed it, an older put it brings is stale.
     */
    GHashTable *gone;
    GHashTable *queue;       /* record key -> JSON text, or NULL: delete */
    GHashTable *rewrite;     /* record key -> JSON text, during a rewrite */
    GHashTable *uncertain;   /* keys of a transaction of unknown outcome */
    bool reachable;          /* etcd answered the last request */
    bool fenced;             /* the lease is lost: take the node again */
    bool stale;              /* etcd changed while fenced: never writes */
    guint timer;
    guint soon;              /* a regain sooner than the next tick */
    bool keepalive_out;
    gint64 keepalive_sent;
    /* Other brokers: etcd key -> value of their records and node keys. */
    GHashTable *remote;
    int64_t watch_rev;       /* the first revision the watch has not seen */
    unsigned watch_gen;      /* a message of an older watch is stale */
    bool watching;
    bool resync;             /* etcd compacted what the watch missed */
} DcdEtcdStore;

static void known_free(gpointer p)
{
    Known *k = p;

    g_free(k->json);
    g_free(k);
}

static void set_known(DcdEtcdStore *s, const char *key, const char *json,
                      int64_t rev)
{
    Known *k = g_new0(Known, 1);

    k->json = g_strdup(json);
    k->rev = rev;
    g_hash_table_replace(s->known, g_strdup(key), k);
}

/* We deleted key at rev (or put it back: rev 0). */
static void set_gone(DcdEtcdStore *s, const char *key, int64_t rev)
{
    g_hash_table_remove(s->known, key);
    g_hash_table_replace(s->gone, g_strdup(key), g_memdup2(&rev,
                                                          sizeof(rev)));
}

/* An event at rev on key is older than our delete of it. */
static bool stale_echo(DcdEtcdStore *s, const char *key, int64_t rev)
{
    const int64_t *del = g_hash_table_lookup(s->gone, key);

    return del && rev <= *del;
}

/* The watch has seen everything before rev: tombstones older go. */
static void forget_gone(DcdEtcdStore *s)
{
    GHashTableIter it;
    gpointer val;

    g_hash_table_iter_init(&it, s->gone);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        if (*(const int64_t *)val < s->watch_rev) {
            g_hash_table_iter_remove(&it);
        }
    }
}

static int64_t known_rev(DcdEtcdStore *s, const char *key)
{
    Known *k = g_hash_table_lookup(s->known, key);

    return k ? k->rev : 0;
}

/* Records every broker may change: what lives on the shared device. */
static bool is_shared_key(const char *key)
{
    return g_str_has_prefix(key, "devpool:") || g_str_equal(key, "device");
}

static char *full_key(DcdEtcdStore *s, const char *key)
{
    return g_strconcat(DCD_ETCD_PREFIX, is_shared_key(key) ? "shared/" :
                       s->own, key, NULL);
}

static char *builder_text(JsonBuilder *jb)
{
    g_autoptr(JsonNode) root = json_builder_get_root(jb);

    return json_to_string(root, FALSE);
}

/* ---- requests ----------------------------------------------------------*/

static JsonBuilder *txn_begin(void)
{
    JsonBuilder *jb = json_builder_new();

    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "compare");
    json_builder_begin_array(jb);
    return jb;
}

static void cmp_int(JsonBuilder *jb, const char *key, const char *target,
                    const char *field, int64_t v)
{
    json_builder_begin_object(jb);
    dcd_etcd_b64(jb, "key", key);
    dcd_json_str(jb, "target", target);
    dcd_etcd_i64(jb, field, v);
    json_builder_end_object(jb);
}

/* The fence: the node key is still bound to this broker's lease. */
static void cmp_fence(DcdEtcdStore *s, JsonBuilder *jb)
{
    cmp_int(jb, s->node_key, "LEASE", "lease", s->lease);
}

static void op_put(JsonBuilder *jb, const char *key, const char *value,
                   int64_t lease)
{
    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "request_put");
    json_builder_begin_object(jb);
    dcd_etcd_b64(jb, "key", key);
    dcd_etcd_b64(jb, "value", value);
    if (lease) {
        dcd_etcd_i64(jb, "lease", lease);
    }
    json_builder_end_object(jb);
    json_builder_end_object(jb);
}

/* A txn operation on one key: request_delete_range or request_range. */
static void op_key(JsonBuilder *jb, const char *op, const char *key)
{
    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, op);
    json_builder_begin_object(jb);
    dcd_etcd_b64(jb, "key", key);
    json_builder_end_object(jb);
    json_builder_end_object(jb);
}

static void op_del(JsonBuilder *jb, const char *key)
{
    op_key(jb, "request_delete_range", key);
}

static void op_range(JsonBuilder *jb, const char *key)
{
    op_key(jb, "request_range", key);
}

static JsonObject *call_refused(DcdEtcdStore *s, const char *path,
                                JsonBuilder *jb, bool *refused,
                                GError **errp)
{
    g_autofree char *body = builder_text(jb);
    g_autoptr(GError) err = NULL;
    JsonObject *o = dcd_etcd_call(s->etcd, path, body, refused, &err);

    /* A refusal is an answer; silence is not. */
    s->reachable = o || err->code != DCD_ERR_UNAVAIL;
    if (!o) {
        g_propagate_error(errp, g_steal_pointer(&err));
    }
    return o;
}

static JsonObject *call(DcdEtcdStore *s, const char *path, JsonBuilder *jb,
                        GError **errp)
{
    return call_refused(s, path, jb, NULL, errp);
}

/* ---- the lease and the node key ----------------------------------------*/

/*
 * The lease may be gone ttl after the request that granted or renewed
 * it was sent; never later than our own TTL, whatever etcd says.
 */
static void set_lease_until(DcdEtcdStore *s, gint64 sent, int64_t ttl)
{
    s->lease_until = sent + MIN(ttl, (int64_t)s->ttl_s) * G_USEC_PER_SEC;
}

static bool grant_lease(DcdEtcdStore *s, GError **errp)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonObject) reply = NULL;
    gint64 t0 = g_get_monotonic_time();
    int64_t ttl = 0;

    json_builder_begin_object(jb);
    dcd_etcd_i64(jb, "TTL", s->ttl_s);
    json_builder_end_object(jb);
    reply = call(s, "/v3/lease/grant", jb, errp);
    if (!reply || !dcd_etcd_int(reply, "ID", &s->lease, errp) ||
        !dcd_etcd_int(reply, "TTL", &ttl, errp)) {
        return false;
    }
    if (s->lease <= 0 || ttl <= 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd granted no lease");
        return false;
    }
    set_lease_until(s, t0, ttl);
    return true;
}

static void revoke_lease(DcdEtcdStore *s, int64_t lease)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonObject) reply = NULL;

    json_builder_begin_object(jb);
    dcd_etcd_i64(jb, "ID", lease);
    json_builder_end_object(jb);
    reply = call(s, "/v3/lease/revoke", jb, NULL);
}

static char *boot_id(void)
{
    char *id = NULL;

    if (g_file_get_contents(BOOT_ID_PATH, &id, NULL, NULL)) {
        g_strstrip(id);
    }
    return id ? id : g_strdup("");
}

static char *node_value(DcdEtcdStore *s)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autofree char *boot = boot_id();

    json_builder_begin_object(jb);
    dcd_json_str(jb, "node", s->node);
    dcd_json_str(jb, "hostname", g_get_host_name());
    dcd_json_str(jb, "boot-id", boot);
    dcd_json_int(jb, "pid", getpid());
    json_builder_end_object(jb);
    return builder_text(jb);
}

/* Gone, or a zombie its parent has not reaped yet. */
static bool pid_dead(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    const char *paren;

    if (kill(pid, 0) < 0 && errno == ESRCH) {
        return true;
    }
    if (!g_file_get_contents(path, &stat, NULL, NULL)) {
        return false;
    }
    paren = strrchr(stat, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

/*
 * The holder of our node name is an earlier broker of this machine that
 * is dead (a kill, a crash): it can write nothing any more, so its lease
 * need not run out first.
 */
static bool holder_is_dead_here(const DcdEtcdKv *kv)
{
    g_autoptr(JsonObject) o = dcd_jsonin_object(kv->value, -1, NULL);
    g_autofree char *boot = boot_id();
    const char *host = NULL, *their_boot = NULL;
    uint64_t pid = 0;

    return o && dcd_jsonin_str(o, "hostname", true, &host, NULL) &&
           dcd_jsonin_str(o, "boot-id", true, &their_boot, NULL) &&
           dcd_jsonin_u64(o, "pid", true, G_MAXINT32, &pid, NULL) &&
           g_str_equal(host, g_get_host_name()) && *boot &&
           g_str_equal(their_boot, boot) && pid != (uint64_t)getpid() &&
           pid > 1 && pid_dead(pid);
}

/* The holder is a live dcd-broker of this machine: no need to wait. */
static bool holder_is_alive_here(const DcdEtcdKv *kv)
{
    g_autoptr(JsonObject) o = dcd_jsonin_object(kv->value, -1, NULL);
    g_autofree char *boot = boot_id();
    g_autofree char *path = NULL, *comm = NULL;
    const char *host = NULL, *their_boot = NULL;
    uint64_t pid = 0;

    if (!o || !dcd_jsonin_str(o, "hostname", true, &host, NULL) ||
        !dcd_jsonin_str(o, "boot-id", true, &their_boot, NULL) ||
        !dcd_jsonin_u64(o, "pid", true, G_MAXINT32, &pid, NULL) ||
        !g_str_equal(host, g_get_host_name()) || !*boot ||
        !g_str_equal(their_boot, boot) || pid_dead(pid)) {
        return false;
    }
    path = g_strdup_printf("/proc/%d/comm", (int)pid);
    return g_file_get_contents(path, &comm, NULL, NULL) &&
           g_str_equal(g_strstrip(comm), "dcd-broker");
}

/*
 * Bind our node key to our lease if no broker holds it.  False and no
 * error: held by *holder (a live lease).
 */
static bool try_claim(DcdEtcdStore *s, DcdEtcdKv *holder, GError **errp)
{
    g_autoptr(JsonBuilder) jb = txn_begin();
    g_autoptr(JsonObject) reply = NULL;
    g_autofree char *value = node_value(s);
    bool found;

    cmp_int(jb, s->node_key, "CREATE", "create_revision", 0);
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "success");
    json_builder_begin_array(jb);
    op_put(jb, s->node_key, value, s->lease);
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "failure");
    json_builder_begin_array(jb);
    op_range(jb, s->node_key);
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    reply = call(s, "/v3/kv/txn", jb, errp);
    if (!reply) {
        return false;
    }
    if (dcd_etcd_succeeded(reply)) {
        return true;
    }
    /* Not found (holder->key NULL): gone meanwhile, try again. */
    dcd_etcd_range_one(dcd_etcd_txn_range(reply, 0), holder, &found, errp);
    return false;
}

static bool keepalive_sync(DcdEtcdStore *s, GError **errp)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonObject) reply = NULL;
    gint64 t0 = g_get_monotonic_time();
    int64_t ttl = 0;

    json_builder_begin_object(jb);
    dcd_etcd_i64(jb, "ID", s->lease);
    json_builder_end_object(jb);
    reply = call(s, "/v3/lease/keepalive", jb, errp);
    if (!reply || !dcd_etcd_int(dcd_etcd_object(reply, "result"), "TTL", &ttl,
                                errp)) {
        return false;
    }
    if (ttl <= 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "etcd: lease gone");
        return false;
    }
    set_lease_until(s, t0, ttl);
    return true;
}

/*
 * Take the node's name: wait while a live lease holds it, for at most
 * as long as an earlier broker's lease could last (then refuse).
 */
static bool claim_node(DcdEtcdStore *s, GError **errp)
{
    gint64 give_up = g_get_monotonic_time() +
                     (s->ttl_s + 1) * G_USEC_PER_SEC;
    bool told = false;

    if (!grant_lease(s, errp)) {
        return false;
    }
    for (;;) {
        g_auto(DcdEtcdKv) holder = { 0 };
        g_autoptr(GError) err = NULL;

        if (try_claim(s, &holder, &err)) {
            return true;
        }
        if (err) {
            g_propagate_error(errp, g_steal_pointer(&err));
            return false;
        }
        if (holder.key && holder.lease && holder_is_dead_here(&holder)) {
            g_message("node %s: its earlier broker on this machine is dead;"
                      " ending its lease", s->node);
            revoke_lease(s, holder.lease);
            continue;
        }
        if (holder.key && (g_get_monotonic_time() > give_up ||
                           holder_is_alive_here(&holder))) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_BUSY, "node %s is held by"
                        " another broker (%s, lease %" G_GINT64_FORMAT
                        "); one broker per node name", s->node, holder.value,
                        holder.lease);
            return false;
        }
        if (!told && holder.key) {
            g_message("node %s is held by %s; waiting up to %u s for its"
                      " lease to run out", s->node, holder.value,
                      s->ttl_s + 1);
            told = true;
        }
        g_usleep(CLAIM_RETRY_MS * 1000);
        if (!keepalive_sync(s, NULL) && !grant_lease(s, errp)) {
            return false;
        }
    }
}

/* ---- loading -----------------------------------------------------------*/

static bool is_record_key(const char *k)
{
    if (!g_str_equal(k, "meta") && !g_str_has_prefix(k, "pool:") &&
        !g_str_has_prefix(k, "host:") && !g_str_has_prefix(k, "extent:") &&
        !is_shared_key(k)) {
        return false;
    }
    for (const char *p = k; *p; p++) {
        if (*p <= ' ' || *p > '~' || *p == '"' || *p == '\\') {
            return false;
        }
    }
    return true;
}

typedef enum KeyKind {
    KEY_OURS,       /* a record of this node: *rec is its record key */
    KEY_SHARED,     /* a shared record: *rec is its record key */
    KEY_REMOTE,     /* a record of another node: *rec, and its *node */
    KEY_NODE,       /* a node's liveness key: its *node */
    KEY_MAIL,       /* a message to us: *rec its name, *node its sender */
    KEY_NONE,       /* nothing of ours: ignored */
} KeyKind;

/*
 * Where an etcd key under the prefix belongs (docs/cluster.md, Key
 * schema).  *node is a new string for KEY_REMOTE and KEY_NODE.
 */
static KeyKind key_kind(const char *own, const char *ekey, const char **rec,
                        char **node)
{
    const char *k = ekey + strlen(DCD_ETCD_PREFIX);
    const char *slash;

    *rec = NULL;
    *node = NULL;
    if (g_str_has_prefix(k, "node/")) {
        *node = g_strdup(k + strlen("node/"));
        return KEY_NODE;
    }
    if (g_str_has_prefix(k, "mail/")) {
        /* mail/<to>/<from>/<name>: ours if <to> is us. */
        const char *to = k + strlen("mail/");
        const char *from = strchr(to, '/');
        const char *name = from ? strchr(from + 1, '/') : NULL;
        size_t own_len = strlen(own) - strlen("state/") - 1;

        if (!name || !name[1] || strchr(name + 1, '/') ||
            (size_t)(from - to) != own_len ||
            strncmp(to, own + strlen("state/"), own_len) != 0) {
            return KEY_NONE;
        }
        *node = g_strndup(from + 1, name - from - 1);
        *rec = name + 1;
        return KEY_MAIL;
    }
    if (g_str_has_prefix(k, "shared/")) {
        *rec = k + strlen("shared/");
        return is_shared_key(*rec) && is_record_key(*rec) ? KEY_SHARED :
               KEY_NONE;
    }
    if (!g_str_has_prefix(k, "state/") ||
        !(slash = strchr(k + strlen("state/"), '/'))) {
        return KEY_NONE;
    }
    *rec = slash + 1;
    if (is_shared_key(*rec) || !is_record_key(*rec)) {
        return KEY_NONE;
    }
    if (g_str_has_prefix(k, own)) {
        return KEY_OURS;
    }
    *node = g_strndup(k + strlen("state/"), slash - k - strlen("state/"));
    return KEY_REMOTE;
}

/*
 * What a range answer holds, read as peer input: our records and the
 * shared ones into known (with revisions) and, if all is not NULL, record
 * key -> text; other brokers' records and node keys into remote (etcd
 * key -> value) if not NULL.  Unreadable values count in *dropped and are
 * known as such, so the next rewrite deletes ours.
 */
static void take_range(JsonObject *reply, const char *own, GHashTable *known,
                       GHashTable *all, GHashTable *remote, unsigned *dropped)
{
    JsonArray *kvs;
    guint n;

    kvs = dcd_etcd_array(reply, "kvs");
    n = kvs ? json_array_get_length(kvs) : 0;
    for (guint i = 0; i < n; i++) {
        g_auto(DcdEtcdKv) kv = { 0 };
        g_autoptr(GError) err = NULL;
        g_autofree char *node = NULL;
        const char *key;
        KeyKind kind;
        Known *k;

        if (!dcd_etcd_kv_read(dcd_jsonin_object_at(kvs, i), &kv, &err) ||
            !g_str_has_prefix(kv.key, DCD_ETCD_PREFIX)) {
            g_warning("etcd: dropping a malformed key: %s",
                      err ? err->message : "outside the prefix");
            (*dropped)++;
            continue;
        }
        kind = key_kind(own, kv.key, &key, &node);
        if (kind == KEY_NODE || kind == KEY_REMOTE || kind == KEY_MAIL) {
            if (remote) {
                g_hash_table_replace(remote, g_strdup(kv.key),
                                     g_strdup(kv.value));
            }
            continue;
        }
        if (kind == KEY_NONE) {
            g_warning("etcd: ignoring key %s, which is no record", kv.key);
            continue;
        }
        k = g_new0(Known, 1);
        k->rev = kv.mod_rev;
        if (g_utf8_validate(kv.value, -1, NULL) &&
            dcd_json_check_depth(kv.value, -1, NULL)) {
            k->json = g_strdup(kv.value);
            if (all) {
                g_hash_table_replace(all, g_strdup(key), g_strdup(kv.value));
            }
        } else {
            g_warning("etcd: record %s is unreadable", key);
            (*dropped)++;
        }
        g_hash_table_replace(known, g_strdup(key), k);
    }
}

/* Everything under the prefix, and the revision it was read at. */
static bool read_all(DcdEtcdStore *s, GHashTable *known, GHashTable *all,
                     GHashTable *remote, unsigned *dropped, int64_t *rev,
                     GError **errp)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonObject) reply = NULL;

    json_builder_begin_object(jb);
    dcd_etcd_b64(jb, "key", DCD_ETCD_PREFIX);
    dcd_etcd_b64(jb, "range_end", s->prefix_end);
    json_builder_end_object(jb);
    reply = call(s, "/v3/kv/range", jb, errp);
    if (!reply || !dcd_etcd_revision(reply, rev, errp)) {
        return false;
    }
    take_range(reply, s->own, known, all, remote, dropped);
    return true;
}

GHashTable *dcd_etcd_store_records(JsonObject *range, const char *node,
                                   unsigned *dropped)
{
    g_autoptr(GHashTable) known = g_hash_table_new_full(g_str_hash,
        g_str_equal, g_free, known_free);
    g_autoptr(GHashTable) remote = g_hash_table_new_full(g_str_hash,
        g_str_equal, g_free, g_free);
    g_autofree char *own = g_strdup_printf("state/%s/", node);
    GHashTable *all = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            g_free);

    *dropped = 0;
    take_range(range, own, known, all, remote, dropped);
    return all;
}

static GHashTable *etcd_load(DcdStore *base, unsigned *dropped,
                             GError **errp)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;
    GHashTable *all = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            g_free);

    *dropped = 0;
    g_hash_table_remove_all(s->known);
    g_hash_table_remove_all(s->remote);
    if (!read_all(s, s->known, all, s->remote, dropped, &s->watch_rev,
                  errp)) {
        g_prefix_error(errp, "reading the state from etcd: ");
        g_hash_table_unref(all);
        return NULL;
    }
    s->watch_rev++;
    return all;
}

/* ---- committing --------------------------------------------------------*/

static gboolean on_tick(gpointer opaque);
static void watch_start(DcdEtcdStore *s);

static gboolean on_soon(gpointer opaque)
{
    DcdEtcdStore *s = opaque;

    s->soon = 0;
    on_tick(s);
    return G_SOURCE_REMOVE;
}

/* The lease is lost: try to take the node again without waiting a tick. */
static void set_fenced(DcdEtcdStore *s)
{
    s->fenced = true;
    if (!s->soon && !s->stale) {
        s->soon = g_timeout_add(REGAIN_SOON_MS, on_soon, s);
    }
}

static bool may_write(DcdEtcdStore *s, GError **errp)
{
    if (s->stale) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "the state in etcd"
                    " changed while this broker had lost its lease (node"
                    " %s); restart it to reload", s->node);
    } else if (s->fenced ||
               g_get_monotonic_time() >= s->lease_until) {
        set_fenced(s);
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "this broker lost its"
                    " lease in etcd (node %s): it changes nothing until it"
                    " holds the node again", s->node);
    } else if (!s->reachable) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "etcd (%s) does not"
                    " answer; changes are refused until it does",
                    s->base.where);
    } else {
        return true;
    }
    return false;
}

/* The txn failed its compares: fenced, or a key moved under us. */
static void explain_failure(DcdEtcdStore *s, JsonObject *reply, guint i,
                            GError **errp)
{
    g_auto(DcdEtcdKv) node = { 0 };
    g_autoptr(GError) err = NULL;
    bool found = false;

    if (dcd_etcd_range_one(dcd_etcd_txn_range(reply, i), &node, &found, &err) &&
        found && node.lease == s->lease) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_STATE, "the state in etcd"
                    " changed since this broker read it; nothing was"
                    " changed");
        return;
    }
    set_fenced(s);
    g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "this broker lost its"
                " lease in etcd (node %s): nothing was changed", s->node);
}

/*
 * A commit failed its compares on a key, not on the lease: say which key
 * moved, and from what to what (one more read, on this failure only).
 */
/*
 * The record keys of table (into *keys, in the order read) as etcd has
 * them now: one txn of a range each; response i is keys[i]'s.
 */
static JsonObject *read_keys(DcdEtcdStore *s, GHashTable *table,
                             GPtrArray *keys, GError **errp)
{
    g_autoptr(JsonBuilder) jb = txn_begin();
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, table);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_ptr_array_add(keys, key);
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "success");
    json_builder_begin_array(jb);
    for (guint i = 0; i < keys->len; i++) {
        g_autofree char *fk = full_key(s, keys->pdata[i]);

        op_range(jb, fk);
    }
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    return call(s, "/v3/kv/txn", jb, errp);
}

static void name_moved(DcdEtcdStore *s, GError **errp)
{
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    g_autoptr(JsonObject) reply = read_keys(s, s->queue, keys, NULL);

    for (guint i = 0; reply && i < keys->len; i++) {
        g_auto(DcdEtcdKv) kv = { 0 };
        bool found = false;

        if (dcd_etcd_range_one(dcd_etcd_txn_range(reply, i), &kv, &found,
                               NULL) &&
            (found ? kv.mod_rev : 0) != known_rev(s, keys->pdata[i])) {
            g_prefix_error(errp, "%s is at revision %" G_GINT64_FORMAT
                           " in etcd, %" G_GINT64_FORMAT " here: ",
                           (char *)keys->pdata[i], found ? kv.mod_rev : 0,
                           known_rev(s, keys->pdata[i]));
            return;
        }
    }
}

/*
 * A transaction whose outcome we could not learn may have landed:
 * before anything else is written, every key it touched is put back to
 * what this broker knows, so the store holds what was acknowledged.
 */
static bool repair(DcdEtcdStore *s, GError **errp)
{
    g_autoptr(JsonBuilder) fix = txn_begin();
    g_autoptr(JsonObject) reply = NULL;
    g_autoptr(JsonObject) fixed = NULL;
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    g_autoptr(GPtrArray) changed = g_ptr_array_new();
    int64_t rev;

    reply = read_keys(s, s->uncertain, keys, errp);
    if (!reply) {
        return false;
    }
    cmp_fence(s, fix);
    for (guint i = 0; i < keys->len; i++) {
        g_auto(DcdEtcdKv) kv = { 0 };
        g_autofree char *fk = full_key(s, keys->pdata[i]);
        bool found;

        if (!dcd_etcd_range_one(dcd_etcd_txn_range(reply, i), &kv, &found,
                                errp)) {
            return false;
        }
        if ((found ? kv.mod_rev : 0) != known_rev(s, keys->pdata[i])) {
            cmp_int(fix, fk, "MOD", "mod_revision", found ? kv.mod_rev : 0);
            g_ptr_array_add(changed, keys->pdata[i]);
        }
    }
    json_builder_end_array(fix);
    json_builder_set_member_name(fix, "success");
    json_builder_begin_array(fix);
    for (guint i = 0; i < changed->len; i++) {
        Known *k = g_hash_table_lookup(s->known, changed->pdata[i]);
        g_autofree char *fk = full_key(s, changed->pdata[i]);

        if (k && k->json) {
            op_put(fix, fk, k->json, 0);
        } else {
            op_del(fix, fk);
        }
    }
    json_builder_end_array(fix);
    json_builder_set_member_name(fix, "failure");
    json_builder_begin_array(fix);
    op_range(fix, s->node_key);
    json_builder_end_array(fix);
    json_builder_end_object(fix);
    if (changed->len) {
        g_message("etcd: a change whose outcome was unknown had landed;"
                  " putting %u key(s) back", changed->len);
        fixed = call(s, "/v3/kv/txn", fix, errp);
        if (!fixed) {
            return false;
        }
        if (!dcd_etcd_succeeded(fixed)) {
            explain_failure(s, fixed, 0, errp);
            return false;
        }
        if (!dcd_etcd_revision(fixed, &rev, errp)) {
            return false;
        }
        for (guint i = 0; i < changed->len; i++) {
            Known *k = g_hash_table_lookup(s->known, changed->pdata[i]);

            if (k && k->json) {
                k->rev = rev;
            } else {
                set_gone(s, changed->pdata[i], rev);
            }
        }
    }
    g_clear_pointer(&s->uncertain, g_hash_table_unref);
    return true;
}

/* The queued keys may or may not be as the failed commit left them. */
static void mark_uncertain(DcdEtcdStore *s)
{
    GHashTableIter it;
    gpointer key;

    if (!s->uncertain) {
        s->uncertain = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             NULL);
    }
    g_hash_table_iter_init(&it, s->queue);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_hash_table_add(s->uncertain, g_strdup(key));
    }
}

static void etcd_discard(DcdStore *base)
{
    g_hash_table_remove_all(((DcdEtcdStore *)base)->queue);
}

static bool etcd_commit(DcdStore *base, GError **errp)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;
    g_autoptr(JsonBuilder) jb = NULL;
    g_autoptr(JsonObject) reply = NULL;
    g_autoptr(GError) err = NULL;
    GHashTableIter it;
    gpointer key, json;
    bool refused = false;
    int64_t rev;

    if (!g_hash_table_size(s->queue)) {
        return true;
    }
    if (!may_write(s, errp) || (s->uncertain && !repair(s, errp))) {
        etcd_discard(base);
        return false;
    }
    jb = txn_begin();
    cmp_fence(s, jb);
    g_hash_table_iter_init(&it, s->queue);
    while (g_hash_table_iter_next(&it, &key, &json)) {
        g_autofree char *fk = full_key(s, key);

        cmp_int(jb, fk, "MOD", "mod_revision", known_rev(s, key));
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "success");
    json_builder_begin_array(jb);
    g_hash_table_iter_init(&it, s->queue);
    while (g_hash_table_iter_next(&it, &key, &json)) {
        g_autofree char *fk = full_key(s, key);

        if (json) {
            op_put(jb, fk, json, 0);
        } else {
            op_del(jb, fk);
        }
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "failure");
    json_builder_begin_array(jb);
    op_range(jb, s->node_key);
    json_builder_end_array(jb);
    json_builder_end_object(jb);

    reply = call_refused(s, "/v3/kv/txn", jb, &refused, &err);
    if (!reply) {
        /* Unless etcd said no, it may have landed: check before writing. */
        if (!refused) {
            mark_uncertain(s);
        }
        if (strstr(err->message, "too many operations")) {
            g_prefix_error(&err, "this change touches %u records; etcd must"
                           " run with --max-txn-ops of at least %u: ",
                           g_hash_table_size(s->queue),
                           g_hash_table_size(s->queue) + 1);
        }
        etcd_discard(base);
        g_propagate_prefixed_error(errp, g_steal_pointer(&err), "cannot save"
                                   " the change: ");
        return false;
    }
    if (!dcd_etcd_succeeded(reply)) {
        explain_failure(s, reply, 0, &err);
        if (err->code == DCD_ERR_STATE) {
            name_moved(s, &err);
        }
        g_propagate_error(errp, g_steal_pointer(&err));
        etcd_discard(base);
        return false;
    }
    if (!dcd_etcd_revision(reply, &rev, errp)) {
        /* Landed, but we cannot tell the revision: check before writing. */
        mark_uncertain(s);
        etcd_discard(base);
        return false;
    }
    g_hash_table_iter_init(&it, s->queue);
    while (g_hash_table_iter_next(&it, &key, &json)) {
        if (json) {
            set_known(s, key, json, rev);
        } else {
            set_gone(s, key, rev);
        }
    }
    etcd_discard(base);
    return true;
}

static void etcd_put(DcdStore *base, const char *key, const char *json)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;

    g_hash_table_replace(s->rewrite ? s->rewrite : s->queue, g_strdup(key),
                         g_strdup(json));
}

static void etcd_del(DcdStore *base, const char *key)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;

    if (s->rewrite) {
        g_hash_table_remove(s->rewrite, key);
    } else {
        g_hash_table_replace(s->queue, g_strdup(key), NULL);
    }
}

static bool etcd_wants_rewrite(const DcdStore *base, unsigned live_records)
{
    return false;  /* etcd compacts its own history */
}

static void etcd_rewrite_begin(DcdStore *base)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;

    g_return_if_fail(!s->rewrite);
    s->rewrite = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       g_free);
}

/* The difference between what should be and what etcd holds, as one txn. */
static bool etcd_rewrite_commit(DcdStore *base, GError **errp)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;
    g_autoptr(GHashTable) want = g_steal_pointer(&s->rewrite);
    GHashTable *pending = s->queue;
    GHashTableIter it;
    gpointer key, val;
    bool ok;

    /* What etcd holds must be known before the difference is. */
    if (s->uncertain && (!may_write(s, errp) || !repair(s, errp))) {
        return false;
    }
    /* A change queued before the rewrite stays queued for its own commit. */
    s->queue = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    /*
     * Our own records only: shared ones change by their own commits, and
     * what another broker made is not ours to put back or remove.
     */
    g_hash_table_iter_init(&it, want);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        Known *k = g_hash_table_lookup(s->known, key);

        if (!is_shared_key(key) &&
            (!k || !k->json || strcmp(k->json, val) != 0)) {
            g_hash_table_replace(s->queue, g_strdup(key), g_strdup(val));
        }
    }
    g_hash_table_iter_init(&it, s->known);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (!is_shared_key(key) && !g_hash_table_contains(want, key)) {
            g_hash_table_replace(s->queue, g_strdup(key), NULL);
        }
    }
    ok = etcd_commit(base, errp);
    g_hash_table_unref(s->queue);
    s->queue = pending;
    return ok;
}

static void etcd_sync(DcdStore *base)
{
    /* etcd has it on a quorum's disks when the txn returns. */
}

static bool etcd_available(const DcdStore *base)
{
    const DcdEtcdStore *s = (const DcdEtcdStore *)base;

    return !s->stale && !s->fenced && s->reachable &&
           g_get_monotonic_time() < s->lease_until;
}

/* Every round trip counts: commits, loads and the lease's keepalives. */
static void etcd_counts(const DcdStore *base, DcdStoreCounts *c)
{
    dcd_etcd_counts(((const DcdEtcdStore *)base)->etcd, &c->requests,
                    &c->errors);
}

/* ---- keeping the lease -------------------------------------------------*/

/*
 * After the lease was lost: take the node again, then check that nothing
 * changed meanwhile (another broker of our name may have run); if it
 * did, our memory is out of date and this broker never writes again.
 */
static void regain(DcdEtcdStore *s)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) now = NULL;
    g_auto(DcdEtcdKv) holder = { 0 };
    GHashTableIter it;
    gpointer key, val;
    unsigned dropped = 0;
    bool same = true;
    int64_t rev;

    /* Our old lease, if etcd still has it, holds the node key: end it. */
    if (s->lease) {
        revoke_lease(s, s->lease);
    }
    if (!grant_lease(s, &err)) {
        s->lease = 0;
        return;
    }
    if (!try_claim(s, &holder, &err)) {
        if (!err && holder.key && holder.lease &&
            holder_is_dead_here(&holder)) {
            revoke_lease(s, holder.lease);
        }
        revoke_lease(s, s->lease);
        return;
    }
    if (s->uncertain && !repair(s, &err)) {
        g_warning("node %s: %s", s->node, err->message);
        revoke_lease(s, s->lease);
        return;
    }
    now = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, known_free);
    if (!read_all(s, now, NULL, NULL, &dropped, &rev, &err)) {
        revoke_lease(s, s->lease);
        return;
    }
    /* Our own records: shared ones others change, and the watch says. */
    g_hash_table_iter_init(&it, now);
    while (same && g_hash_table_iter_next(&it, &key, &val)) {
        same = is_shared_key(key) || known_rev(s, key) == ((Known *)val)->rev;
    }
    g_hash_table_iter_init(&it, s->known);
    while (same && g_hash_table_iter_next(&it, &key, NULL)) {
        same = is_shared_key(key) || g_hash_table_contains(now, key);
    }
    if (!same) {
        g_warning("node %s: the state in etcd changed while this broker"
                  " had lost its lease; it changes nothing any more:"
                  " restart it to reload", s->node);
        s->stale = true;
        revoke_lease(s, s->lease);
        return;
    }
    s->fenced = false;
    g_message("node %s: holds its lease again; changes resume", s->node);
}

static void on_keepalive(JsonObject *reply, const GError *err,
                         gpointer opaque)
{
    DcdEtcdStore *s = opaque;
    int64_t ttl = 0;

    s->keepalive_out = false;
    if (!reply) {
        if (s->reachable) {
            g_warning("node %s: %s; changes are refused until etcd answers",
                      s->node, err->message);
        }
        s->reachable = false;
        return;
    }
    if (!s->reachable) {
        g_message("node %s: etcd answers again", s->node);
        if (s->fenced) {
            set_fenced(s);  /* take the node again soon */
        }
    }
    s->reachable = true;
    if (!dcd_etcd_int(dcd_etcd_object(reply, "result"), "TTL", &ttl, NULL) ||
        ttl <= 0) {
        if (!s->fenced) {
            g_warning("node %s: the lease ran out; changes are refused"
                      " until this broker holds the node again", s->node);
        }
        set_fenced(s);
        return;
    }
    set_lease_until(s, s->keepalive_sent, ttl);
}

static gboolean on_tick(gpointer opaque)
{
    DcdEtcdStore *s = opaque;
    g_autoptr(JsonBuilder) jb = NULL;
    g_autofree char *body = NULL;

    if (s->base.watch && !s->watching && s->reachable) {
        watch_start(s);
    }
    if (s->stale || s->keepalive_out) {
        return G_SOURCE_CONTINUE;
    }
    if (s->fenced || g_get_monotonic_time() >= s->lease_until) {
        s->fenced = true;
        /*
         * Taking the node again blocks for a few round trips: only once
         * etcd answers, or the broker would stall a timeout every tick.
         */
        if (s->reachable) {
            regain(s);
            return G_SOURCE_CONTINUE;
        }
    }
    /* A keepalive, or while etcd is silent a probe of it. */
    jb = json_builder_new();
    json_builder_begin_object(jb);
    dcd_etcd_i64(jb, "ID", s->lease);
    json_builder_end_object(jb);
    body = builder_text(jb);
    s->keepalive_out = true;
    s->keepalive_sent = g_get_monotonic_time();
    dcd_etcd_call_async(s->etcd, "/v3/lease/keepalive", body, on_keepalive,
                        s);
    return G_SOURCE_CONTINUE;
}

/* ---- what other brokers change -----------------------------------------*/

static void tell(DcdEtcdStore *s, const char *node, const char *key,
                 const char *json)
{
    if (s->base.watch) {
        s->base.watch(&s->base, node, key, json, s->base.watch_opaque);
    }
}

static bool readable(const char *value)
{
    return g_utf8_validate(value, -1, NULL) &&
           dcd_json_check_depth(value, -1, NULL);
}

/*
 * One change under the prefix (value NULL: deleted) at revision rev, as
 * the watch or a resync reports it; what is news is told to the broker.
 */
static void take_change(DcdEtcdStore *s, const char *ekey, const char *value,
                        int64_t rev)
{
    g_autofree char *node = NULL;
    const char *rec, *old;
    KeyKind kind = key_kind(s->own, ekey, &rec, &node);
    Known *k;

    switch (kind) {
    case KEY_MAIL:
        /* Told once, when it comes; its removal is no news. */
        if (value && !g_hash_table_contains(s->remote, ekey)) {
            g_autofree char *name = g_strconcat("mail:", rec, NULL);

            g_hash_table_replace(s->remote, g_strdup(ekey), g_strdup(value));
            if (readable(value)) {
                tell(s, node, name, value);
            }
        } else if (!value) {
            g_hash_table_remove(s->remote, ekey);
        }
        break;
    case KEY_NODE:
    case KEY_REMOTE:
        old = g_hash_table_lookup(s->remote, ekey);
        if (value && !readable(value)) {
            g_warning("etcd: %s is unreadable; ignored", ekey);
        } else if (value && g_strcmp0(old, value) != 0) {
            g_hash_table_replace(s->remote, g_strdup(ekey), g_strdup(value));
            tell(s, node, kind == KEY_REMOTE ? rec : NULL, value);
        } else if (!value && g_hash_table_contains(s->remote, ekey)) {
            g_hash_table_remove(s->remote, ekey);
            tell(s, node, kind == KEY_REMOTE ? rec : NULL, NULL);
        }
        break;
    case KEY_SHARED:
        /* Ours (we know it at that revision) or older than what we know. */
        k = g_hash_table_lookup(s->known, rec);
        if (stale_echo(s, rec, rev)) {
            break;
        }
        if (value && (!k || k->rev < rev)) {
            if (!readable(value)) {
                g_warning("etcd: %s is unreadable; ignored", ekey);
                return;
            }
            set_known(s, rec, value, rev);
            tell(s, NULL, rec, value);
        } else if (!value && k && k->rev < rev) {
            g_hash_table_remove(s->known, rec);
            tell(s, NULL, rec, NULL);
        }
        break;
    case KEY_OURS:
        k = g_hash_table_lookup(s->known, rec);
        if (!stale_echo(s, rec, rev) &&
            (value ? !k || k->rev < rev : k && k->rev < rev)) {
            g_warning("etcd: %s was changed by someone else; this node's"
                      " records are its broker's alone", ekey);
        }
        break;
    case KEY_NONE:
        break;
    }
}

/*
 * The watch missed changes etcd no longer has (compacted): read it all
 * and tell what differs from what we know.
 */
static bool resync(DcdEtcdStore *s, GError **errp)
{
    g_autoptr(GHashTable) known = g_hash_table_new_full(g_str_hash,
        g_str_equal, g_free, known_free);
    g_autoptr(GHashTable) remote = g_hash_table_new_full(g_str_hash,
        g_str_equal, g_free, g_free);
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer key, val;
    unsigned dropped = 0;
    int64_t rev;

    if (!read_all(s, known, NULL, remote, &dropped, &rev, errp)) {
        return false;
    }
    g_hash_table_iter_init(&it, s->remote);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (!g_hash_table_contains(remote, key)) {
            g_ptr_array_add(gone, g_strdup(key));
        }
    }
    g_hash_table_iter_init(&it, s->known);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (is_shared_key(key) && !g_hash_table_contains(known, key)) {
            g_ptr_array_add(gone, g_strconcat(DCD_ETCD_PREFIX, "shared/",
                                              key, NULL));
        }
    }
    for (guint i = 0; i < gone->len; i++) {
        take_change(s, gone->pdata[i], NULL, rev);
    }
    g_hash_table_iter_init(&it, remote);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        take_change(s, key, val, rev);
    }
    g_hash_table_iter_init(&it, known);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        Known *k = val;
        g_autofree char *ek = g_strconcat(DCD_ETCD_PREFIX, "shared/", key,
                                          NULL);

        if (is_shared_key(key) && k->json) {
            take_change(s, ek, k->json, k->rev);
        }
    }
    s->watch_rev = rev + 1;
    return true;
}

/* The shared records as etcd has them now, told as the watch would. */
static bool etcd_refresh(DcdStore *base, GError **errp)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonObject) reply = NULL;
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
        g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *start = g_strconcat(DCD_ETCD_PREFIX, "shared/", NULL);
    g_autofree char *end = dcd_etcd_prefix_end(start);
    JsonArray *kvs;
    GHashTableIter it;
    gpointer key;
    int64_t rev;

    json_builder_begin_object(jb);
    dcd_etcd_b64(jb, "key", start);
    dcd_etcd_b64(jb, "range_end", end);
    json_builder_end_object(jb);
    reply = call(s, "/v3/kv/range", jb, errp);
    if (!reply || !dcd_etcd_revision(reply, &rev, errp)) {
        return false;
    }
    kvs = dcd_etcd_array(reply, "kvs");
    for (guint i = 0; kvs && i < json_array_get_length(kvs); i++) {
        g_auto(DcdEtcdKv) kv = { 0 };

        if (dcd_etcd_kv_read(dcd_jsonin_object_at(kvs, i), &kv, NULL) &&
            g_str_has_prefix(kv.key, start)) {
            g_hash_table_add(seen, g_strdup(kv.key + strlen(start)));
        }
    }
    /* What went first: a pool made since may reuse a gone one's bytes. */
    g_hash_table_iter_init(&it, s->known);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (is_shared_key(key) && !g_hash_table_contains(seen, key)) {
            g_ptr_array_add(gone, g_strconcat(start, key, NULL));
        }
    }
    for (guint i = 0; i < gone->len; i++) {
        take_change(s, gone->pdata[i], NULL, rev);
    }
    for (guint i = 0; kvs && i < json_array_get_length(kvs); i++) {
        g_auto(DcdEtcdKv) kv = { 0 };

        if (dcd_etcd_kv_read(dcd_jsonin_object_at(kvs, i), &kv, NULL) &&
            g_str_has_prefix(kv.key, start)) {
            take_change(s, kv.key, kv.value, kv.mod_rev);
        }
    }
    return true;
}

static char *mail_key(const char *to, const char *from, const char *name)
{
    return g_strdup_printf(DCD_ETCD_PREFIX "mail/%s/%s/%s", to, from, name);
}

/* Put under our lease, and only while we hold it: a fenced broker asks
 * nothing of others, and a dead one's messages go with it. */
static bool etcd_send(DcdStore *base, const char *to, const char *name,
                      const char *json, GError **errp)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;
    g_autoptr(JsonBuilder) jb = NULL;
    g_autoptr(JsonObject) reply = NULL;
    g_autofree char *key = mail_key(to, s->node, name);

    if (!may_write(s, errp)) {
        return false;
    }
    jb = txn_begin();
    cmp_fence(s, jb);
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "success");
    json_builder_begin_array(jb);
    op_put(jb, key, json, s->lease);
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "failure");
    json_builder_begin_array(jb);
    op_range(jb, s->node_key);
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    reply = call(s, "/v3/kv/txn", jb, errp);
    if (!reply) {
        return false;
    }
    if (!dcd_etcd_succeeded(reply)) {
        explain_failure(s, reply, 0, errp);
        return false;
    }
    return true;
}

static void on_dropped(JsonObject *reply, const GError *err, gpointer opaque)
{
    /* Not dropped: its sender's lease ends it, or the next start. */
}

static void etcd_drop(DcdStore *base, const char *from, const char *name)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autofree char *key = mail_key(s->node, from, name);
    g_autofree char *body = NULL;

    json_builder_begin_object(jb);
    dcd_etcd_b64(jb, "key", key);
    json_builder_end_object(jb);
    body = builder_text(jb);
    dcd_etcd_call_async(s->etcd, "/v3/kv/deleterange", body, on_dropped, s);
}

typedef struct WatchCtx {
    DcdEtcdStore *s;
    unsigned gen;
} WatchCtx;

static void on_watch(JsonObject *result, const GError *err, gpointer opaque)
{
    WatchCtx *w = opaque;
    DcdEtcdStore *s = w->s;
    JsonArray *events;
    int64_t rev = 0;
    bool stale = w->gen != s->watch_gen;

    if (!result) {
        if (!stale) {
            g_message("node %s: the watch on etcd ended (%s); it starts"
                      " again once etcd answers", s->node, err->message);
            s->watching = false;
        }
        g_free(w);
        return;
    }
    if (stale) {
        return;
    }
    if (json_object_get_boolean_member_with_default(result, "canceled",
                                                    FALSE)) {
        /* Too far behind: etcd compacted it.  Read it all instead. */
        g_message("node %s: the watch fell behind etcd's history; reading"
                  " the state again", s->node);
        s->resync = true;
        s->watching = false;
        s->watch_gen++;
        return;
    }
    events = dcd_etcd_array(result, "events");
    for (guint i = 0; events && i < json_array_get_length(events); i++) {
        g_auto(DcdEtcdKv) kv = { 0 };
        g_autoptr(GError) e = NULL;
        bool deleted;

        if (!dcd_etcd_event_read(dcd_jsonin_object_at(events, i), &deleted,
                                 &kv, &e) ||
            !g_str_has_prefix(kv.key, DCD_ETCD_PREFIX)) {
            g_warning("etcd: ignoring a malformed watch event: %s",
                      e ? e->message : "outside the prefix");
            continue;
        }
        take_change(s, kv.key, deleted ? NULL : kv.value, kv.mod_rev);
        s->watch_rev = MAX(s->watch_rev, kv.mod_rev + 1);
    }
    if (dcd_etcd_revision(result, &rev, NULL)) {
        s->watch_rev = MAX(s->watch_rev, rev + 1);
    }
    forget_gone(s);
}

static void watch_start(DcdEtcdStore *s)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autofree char *body = NULL;
    WatchCtx *w;

    if (s->resync) {
        g_autoptr(GError) err = NULL;

        if (!resync(s, &err)) {
            g_warning("node %s: %s", s->node, err->message);
            return;
        }
        s->resync = false;
    }
    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "create_request");
    json_builder_begin_object(jb);
    dcd_etcd_b64(jb, "key", DCD_ETCD_PREFIX);
    dcd_etcd_b64(jb, "range_end", s->prefix_end);
    dcd_etcd_i64(jb, "start_revision", s->watch_rev);
    json_builder_end_object(jb);
    json_builder_end_object(jb);
    body = builder_text(jb);
    w = g_new0(WatchCtx, 1);
    w->s = s;
    w->gen = ++s->watch_gen;
    s->watching = true;
    dcd_etcd_watch(s->etcd, body, on_watch, w);
}

/* What other brokers hold as of load, then the watch from there on. */
static void etcd_watch(DcdStore *base)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;
    g_autoptr(GHashTable) had = g_steal_pointer(&s->remote);
    GHashTableIter it;
    gpointer key, val;

    /* Told as news: take_change() tells what remote does not hold yet. */
    s->remote = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      g_free);
    g_hash_table_iter_init(&it, had);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        take_change(s, key, val, 0);
    }
    watch_start(s);
}

/* ---- opening and closing -----------------------------------------------*/

static void etcd_close(DcdStore *base)
{
    DcdEtcdStore *s = (DcdEtcdStore *)base;

    if (s->timer) {
        g_source_remove(s->timer);
    }
    if (s->soon) {
        g_source_remove(s->soon);
    }
    if (s->etcd) {
        dcd_etcd_cancel_async(s->etcd);
        /* The node's name is free at once for the next broker. */
        if (s->lease && !s->fenced) {
            revoke_lease(s, s->lease);
        }
        dcd_etcd_free(s->etcd);
    }
    g_hash_table_unref(s->known);
    g_hash_table_unref(s->gone);
    g_hash_table_unref(s->queue);
    g_clear_pointer(&s->rewrite, g_hash_table_unref);
    g_clear_pointer(&s->uncertain, g_hash_table_unref);
    g_hash_table_unref(s->remote);
    g_free(s->node);
    g_free(s->own);
    g_free(s->node_key);
    g_free(s->prefix_end);
    g_free(s);
}

static const DcdStoreOps etcd_ops = {
    .name = "etcd",
    .load = etcd_load,
    .put = etcd_put,
    .del = etcd_del,
    .commit = etcd_commit,
    .discard = etcd_discard,
    .wants_rewrite = etcd_wants_rewrite,
    .rewrite_begin = etcd_rewrite_begin,
    .rewrite_commit = etcd_rewrite_commit,
    .sync = etcd_sync,
    .available = etcd_available,
    .watch = etcd_watch,
    .refresh = etcd_refresh,
    .send = etcd_send,
    .drop = etcd_drop,
    .counts = etcd_counts,
    .close = etcd_close,
};

static bool node_name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;

    if (!len || len > 63) {
        return false;
    }
    for (const char *p = n; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.') {
            return false;
        }
    }
    return true;
}

DcdStore *dcd_etcd_store_open(const DcdStoreConfig *cfg, GError **errp)
{
    DcdEtcdStore *s;
    unsigned timeout = cfg->timeout_ms ? cfg->timeout_ms :
                       DCD_ETCD_DEFAULT_TIMEOUT_MS;
    unsigned ttl = cfg->lease_ttl_s ? cfg->lease_ttl_s :
                   DCD_ETCD_DEFAULT_TTL_S;
    DcdEtcd *etcd;

    if (!node_name_ok(cfg->node)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--node: a name of 1 to"
                    " 63 letters, digits, '-', '_' or '.' is needed with a"
                    " cluster store");
        return NULL;
    }
    if ((guint64)timeout * 3 > (guint64)ttl * 1000) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "the etcd request"
                    " timeout (%u ms) must be under a third of the lease"
                    " (%u s), or a slow answer would cost the lease",
                    timeout, ttl);
        return NULL;
    }
    etcd = dcd_etcd_new(cfg->cluster_store, timeout, cfg->security, errp);
    if (!etcd) {
        return NULL;
    }
    s = g_new0(DcdEtcdStore, 1);
    s->base.ops = &etcd_ops;
    s->base.where = g_strdup_printf("%s node %s", cfg->cluster_store,
                                    cfg->node);
    s->etcd = etcd;
    s->node = g_strdup(cfg->node);
    s->node_key = g_strconcat(DCD_ETCD_NODES, cfg->node, NULL);
    s->own = g_strdup_printf("state/%s/", cfg->node);
    s->remote = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      g_free);
    s->prefix_end = dcd_etcd_prefix_end(DCD_ETCD_PREFIX);
    s->ttl_s = ttl;
    s->known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     known_free);
    s->gone = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    s->queue = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     g_free);
    s->reachable = true;
    if (!claim_node(s, errp)) {
        g_prefix_error(errp, "cluster store %s: ", cfg->cluster_store);
        s->fenced = true;  /* nothing of ours to revoke but the lease */
        if (s->lease) {
            revoke_lease(s, s->lease);
        }
        g_free(s->base.where);
        etcd_close(&s->base);
        return NULL;
    }
    s->timer = g_timeout_add(MAX(ttl * 1000 / 3, 100), on_tick, s);
    return &s->base;
}
