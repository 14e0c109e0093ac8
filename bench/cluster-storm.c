/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cluster-storm.c - dcd-cluster-storm: a fault storm against brokers
 * sharing one device through etcd (docs/cluster.md).
 *
 * Owns: three etcd members, three dcd-broker processes (nodes n1..n3) on
 * one device file, two in-process hosts per node (hostclient, reconnect
 * on, on a host thread), a seeded storm of random creates, adds,
 * releases and destroys asked of random nodes (so half the adds and
 * releases cross nodes), and between them faults: a broker SIGKILLed and
 * restarted, an etcd member killed (the leader half the time) and
 * started again, a broker SIGSTOPped past its lease and woken.  After
 * every fault, once the brokers answer and the hosts are back, a check:
 *   overlap      no device block is in two pools (etcd's records);
 *   converge     every broker lists the same device pools as etcd holds;
 *   ack-lost     an acknowledged pool exists, an acknowledged destroy
 *                left none, an acknowledged add is held by its host and
 *                counted accepted by its broker;
 *   duplicate    no host holds one shared_seq of a tag twice;
 *   shared-seq   every host of a tag, on every node, has each shared_seq
 *                at the same device offset and length;
 *   data         the bytes written once a tag is first held read back
 *                the same (SHA-256) through every host holding it;
 *   unheld       every extent a host maps is one its broker counts as
 *                the host's (pending, accepted, releasing or revoking);
 *   settle       brokers and hosts come back within the bounded wait.
 * Requests whose outcome is unknown (unavail, timeout) may have happened
 * or not: the check takes either.  A stress tool, not a test: violations
 * are counted and printed, never asserted.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "benchlib.h"
#include "dcd-client/ctlclient.h"
#include "dcd-client/hostclient.h"
#include "dcd/json.h"
#include "hostthread.h"
#include "etcd.h"

#define MIB (1ull << 20)
#define NNODES 3
#define HOSTS_PER_NODE 2
#define NHOSTS (NNODES * HOSTS_PER_NODE)
#define DEVICE_SIZE (128 * MIB)
#define BLOCK (2 * MIB)
#define MAX_POOLS 10
#define TTL_S 3
#define STORE_TIMEOUT_MS 900
#define CALL_MS 20000
#define SETTLE_S 40
#define PREFIX "/dcd/v1/"

static gint64 opt_seed = -1;
static gint opt_faults = 500;
static gint opt_seconds = 3000;
static gint opt_max_ops = 6;
static char *opt_broker;
static char *opt_out;
static gboolean opt_verbose;

static GOptionEntry entries[] = {
    { "seed", 0, 0, G_OPTION_ARG_INT64, &opt_seed,
      "RNG seed (default: random; printed at start)", "N" },
    { "faults", 0, 0, G_OPTION_ARG_INT, &opt_faults,
      "Faults to inject (default 500)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &opt_seconds,
      "Stop after this long whatever the count (default 3000)", "S" },
    { "max-ops", 0, 0, G_OPTION_ARG_INT, &opt_max_ops,
      "Most operations between two faults (default 6)", "N" },
    { "broker", 0, 0, G_OPTION_ARG_FILENAME, &opt_broker,
      "dcd-broker to run (default: the build's)", "PATH" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &opt_out,
      "Directory for cluster-storm.json (default: the current dir)", "DIR" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
      "Print every operation and fault", NULL },
    { NULL }
};

typedef struct Node {
    char *name;
    char *dir;
    char *host_sock;
    char *ctl_sock;
    GPtrArray *argv;
    GSubprocess *proc;
    DcdCtlClient *ctl;
} Node;

typedef struct Host {
    DcdHostClient *core;         /* host thread only */
    unsigned id;
    unsigned node;
} Host;

/* What the storm was told: the model every check holds the brokers to. */
typedef struct Pool {
    char *tag;
    uint64_t size;
    bool acked;                  /* its create was acknowledged */
    bool held[NHOSTS];           /* an add acknowledged, no release since */
    bool maybe[NHOSTS];          /* an add or release of unknown outcome */
    char *sha;                   /* the data written once first held */
} Pool;

typedef struct Storm {
    GRand *rng;
    TEtcd **etcd;
    char *url;
    char *dir;
    char *device;
    Node nodes[NNODES];
    BenchHostThread *ht;
    Host hosts[NHOSTS];
    GHashTable *pools;           /* tag -> Pool */
    GHashTable *destroyed;       /* tags whose destroy was acknowledged */
    GHashTable *violations;      /* kind -> count (GUINT_TO_POINTER) */
    GPtrArray *examples;
    unsigned faults, ops, checks, uncertain;
    unsigned kills, etcd_kills, leader_kills, pauses;
    unsigned adds, cross_adds, releases, creates, destroys;
    unsigned lost_races;
} Storm;

static void violation(Storm *s, const char *kind, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static void violation(Storm *s, const char *kind, const char *fmt, ...)
{
    g_autofree char *what = NULL;
    gpointer n = g_hash_table_lookup(s->violations, kind);
    va_list ap;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_hash_table_replace(s->violations, (gpointer)kind,
                         GUINT_TO_POINTER(GPOINTER_TO_UINT(n) + 1));
    if (s->examples->len < 200) {
        g_ptr_array_add(s->examples, g_strdup_printf(
            "fault %u: %s: %s", s->faults, kind, what));
    }
    fprintf(stderr, "VIOLATION fault %u: %s: %s\n", s->faults, kind, what);
}

/* ---- brokers ------------------------------------------------------------*/

static void node_start(Storm *s, Node *n)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDataInputStream) out = NULL;
    g_autofree char *line = NULL;
    g_autofree char *log = g_build_filename(n->dir, "broker.log", NULL);
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_PIPE);

    /* Appended: what each start of a broker said, in order. */
    g_subprocess_launcher_take_stderr_fd(l, open(log, O_WRONLY | O_CREAT |
                                                 O_APPEND | O_CLOEXEC,
                                                 0600));
    g_subprocess_launcher_set_child_setup(l, bench_die_with_parent, NULL,
                                          NULL);
    n->proc = g_subprocess_launcher_spawnv(
        l, (const char *const *)n->argv->pdata, &err);
    if (!n->proc) {
        bench_die("%s: %s", n->name, err->message);
    }
    out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(n->proc));
    line = g_data_input_stream_read_line_utf8(out, NULL, NULL, NULL);
    if (!line || !strstr(line, "ready")) {
        g_autofree char *said = NULL;

        g_file_get_contents(log, &said, NULL, NULL);
        bench_die("%s did not start: %s", n->name, said ? said : "");
    }
    n->ctl = dcd_ctl_client_connect(n->ctl_sock, &err);
    if (!n->ctl) {
        bench_die("%s: %s", n->name, err->message);
    }
    dcd_ctl_client_set_timeout(n->ctl, CALL_MS);
}

static void node_kill(Node *n)
{
    g_clear_pointer(&n->ctl, dcd_ctl_client_free);
    g_subprocess_force_exit(n->proc);
    g_subprocess_wait(n->proc, NULL, NULL);
    g_clear_object(&n->proc);
}

static void node_init(Storm *s, unsigned i)
{
    Node *n = &s->nodes[i];

    n->name = g_strdup_printf("n%u", i + 1);
    n->dir = g_build_filename(s->dir, n->name, NULL);
    g_mkdir_with_parents(n->dir, 0700);
    n->host_sock = g_build_filename(n->dir, "host.sock", NULL);
    n->ctl_sock = g_build_filename(n->dir, "control.sock", NULL);
    n->argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(n->argv, g_strdup(opt_broker));
    g_ptr_array_add(n->argv, g_strdup_printf("--cluster-store=%s", s->url));
    g_ptr_array_add(n->argv, g_strdup_printf("--node=%s", n->name));
    g_ptr_array_add(n->argv, g_strdup_printf("--shared-device=%s",
                                             s->device));
    g_ptr_array_add(n->argv, g_strdup_printf("--host-socket=%s",
                                             n->host_sock));
    g_ptr_array_add(n->argv, g_strdup_printf("--control-socket=%s",
                                             n->ctl_sock));
    g_ptr_array_add(n->argv, g_strdup_printf("--lease-ttl=%d", TTL_S));
    g_ptr_array_add(n->argv, g_strdup_printf("--store-timeout=%d",
                                             STORE_TIMEOUT_MS));
    g_ptr_array_add(n->argv, g_strdup("--offer-timeout=5000"));
    g_ptr_array_add(n->argv, NULL);
    node_start(s, n);
}

/* A call that may fail; the error's class in *code. */
static JsonNode *call(Node *n, DcdErr *code, const char *cmd,
                      const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static JsonNode *call(Node *n, DcdErr *code, const char *cmd,
                      const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    g_autoptr(JsonNode) args = NULL;
    JsonNode *r;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    args = json_from_string(text, NULL);
    r = n->ctl ? dcd_ctl_client_call(n->ctl, cmd,
                                     json_node_dup_object(args), &err) :
                 NULL;
    *code = r ? DCD_ERR_OK : err && err->domain == DCD_ERROR ? err->code :
            DCD_ERR_UNAVAIL;
    if (!r && err && err->domain != DCD_ERROR) {
        /* The connection broke (a killed broker): connect again later. */
        g_clear_pointer(&n->ctl, dcd_ctl_client_free);
    }
    return r;
}

/* An outcome a reply does not settle: it may have happened. */
static bool unknown(DcdErr code)
{
    return code == DCD_ERR_UNAVAIL || code == DCD_ERR_TIMEOUT ||
           code == DCD_ERR_IO;
}

/* ---- hosts ----------------------------------------------------------------*/

static const struct dcd_region region = {
    0, 64 * MIB, 2 * MIB, DCD_REGION_SHARABLE
};

static void hosts_start_cb(gpointer opaque)
{
    Storm *s = opaque;

    for (unsigned i = 0; i < NHOSTS; i++) {
        g_autofree char *name = g_strdup_printf("cstorm%u", i);
        Host *h = &s->hosts[i];
        DcdHostClientConfig cfg = {
            .host_id = i,
            .name = name,
            .regions = &region,
            .nregions = 1,
            .policy = DCD_HOST_ACCEPT_ALL,
            .reconnect = true,
            .ctx = bench_host_thread_context(s->ht),
        };

        h->id = i;
        h->node = i / HOSTS_PER_NODE;
        cfg.socket_path = s->nodes[h->node].host_sock;
        h->core = dcd_hostclient_new(&cfg, NULL, h);
        dcd_hostclient_start(h->core);
    }
}

typedef struct HostView {
    Storm *s;
    bool connected[NHOSTS];
    /* per host: DcdHostClientExtent copies */
    GArray *extents[NHOSTS];
} HostView;

static void view_cb(gpointer opaque)
{
    HostView *v = opaque;

    for (unsigned i = 0; i < NHOSTS; i++) {
        const GPtrArray *x = dcd_hostclient_extents(v->s->hosts[i].core);

        v->connected[i] = dcd_hostclient_is_connected(v->s->hosts[i].core);
        v->extents[i] = g_array_new(FALSE, FALSE,
                                    sizeof(DcdHostClientExtent));
        for (guint j = 0; j < x->len; j++) {
            g_array_append_vals(v->extents[i], x->pdata[j], 1);
        }
    }
}

static void view_clear(HostView *v)
{
    for (unsigned i = 0; i < NHOSTS; i++) {
        g_clear_pointer(&v->extents[i], g_array_unref);
    }
}

typedef struct DataJob {
    Storm *s;
    unsigned host;
    DcdTag tag;
    uint64_t size;
    bool write;
    guint32 seed;
    char *sha;                   /* out; NULL if the host could not */
} DataJob;

/* Write (pattern from seed) or read the whole tag through one host. */
static void data_cb(gpointer opaque)
{
    DataJob *j = opaque;
    DcdHostClient *h = j->s->hosts[j->host].core;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guint8 *buf = g_malloc(MIB);
    GRand *r = g_rand_new_with_seed(j->seed);

    for (uint64_t off = 0; off < j->size; off += MIB) {
        if (j->write) {
            for (unsigned k = 0; k < MIB / 4; k++) {
                ((guint32 *)buf)[k] = g_rand_int(r);
            }
            if (!dcd_hostclient_write(h, &j->tag, off, buf, MIB, NULL)) {
                g_rand_free(r);
                return;
            }
        } else if (!dcd_hostclient_read(h, &j->tag, off, buf, MIB, NULL)) {
            g_rand_free(r);
            return;
        }
        g_checksum_update(sum, buf, MIB);
    }
    g_rand_free(r);
    j->sha = g_strdup(g_checksum_get_string(sum));
}

static char *host_data(Storm *s, unsigned host, const Pool *p, bool write)
{
    DataJob j = { .s = s, .host = host, .size = p->size, .write = write,
                  .seed = g_str_hash(p->tag) };

    dcd_tag_parse(p->tag, &j.tag);
    bench_host_thread_call(s->ht, data_cb, &j);
    return j.sha;
}

/* ---- operations -------------------------------------------------------- */

static Node *any_node(Storm *s)
{
    return &s->nodes[g_rand_int_range(s->rng, 0, NNODES)];
}

static Pool *any_pool(Storm *s)
{
    g_autoptr(GList) l = g_hash_table_get_values(s->pools);
    guint n = g_list_length(l);

    return n ? g_list_nth_data(l, g_rand_int_range(s->rng, 0, n)) : NULL;
}

static bool anyone_holds(const Pool *p)
{
    for (unsigned i = 0; i < NHOSTS; i++) {
        if (p->held[i] || p->maybe[i]) {
            return true;
        }
    }
    return false;
}

static void op_create(Storm *s)
{
    Node *n = any_node(s);
    uint64_t size = BLOCK * g_rand_int_range(s->rng, 1, 5);
    g_autofree char *tag = NULL;
    g_autoptr(JsonNode) r = NULL;
    DcdErr code;
    Pool *p;

    if (g_hash_table_size(s->pools) >= MAX_POOLS) {
        return;
    }
    tag = g_uuid_string_random();
    r = call(n, &code, "pool-create", "{\"size\": %" G_GUINT64_FORMAT
             ", \"tag\": \"%s\"}", size, tag);
    s->creates++;
    s->lost_races += code == DCD_ERR_STATE;
    if (!r && !unknown(code)) {
        return;
    }
    p = g_new0(Pool, 1);
    p->tag = g_steal_pointer(&tag);
    p->size = size;
    p->acked = r != NULL;
    s->uncertain += !r;
    g_hash_table_insert(s->pools, p->tag, p);
}

static void op_destroy(Storm *s)
{
    Pool *p = any_pool(s);
    g_autoptr(JsonNode) r = NULL;
    DcdErr code;

    if (!p || anyone_holds(p)) {
        return;
    }
    r = call(any_node(s), &code, "pool-destroy", "{\"tag\": \"%s\"}",
             p->tag);
    s->destroys++;
    if (r) {
        g_hash_table_add(s->destroyed, g_strdup(p->tag));
        g_hash_table_remove(s->pools, p->tag);
    } else if (unknown(code)) {
        p->acked = false;     /* it may be gone: the check will see */
        s->uncertain++;
    }
}

/* Every extent of a wait reply in state want. */
static bool all_in(JsonNode *r, const char *want)
{
    JsonArray *a = json_object_get_array_member(json_node_get_object(r),
                                                "extents");

    for (guint i = 0; i < json_array_get_length(a); i++) {
        if (g_strcmp0(json_object_get_string_member(
                json_array_get_object_element(a, i), "state"), want)) {
            return false;
        }
    }
    return json_array_get_length(a) > 0;
}

static void op_add(Storm *s)
{
    Pool *p = any_pool(s);
    unsigned h = g_rand_int_range(s->rng, 0, NHOSTS);
    Node *n = any_node(s);
    g_autoptr(JsonNode) r = NULL;
    DcdErr code;
    bool laid = false;

    if (!p || p->held[h] || p->maybe[h]) {
        return;
    }
    for (unsigned i = 0; i < NHOSTS; i++) {
        laid |= p->held[i];
    }
    r = call(n, &code, "extent-add", "{\"host-id\": %u, \"tag\": \"%s\","
             " \"policy\": \"%s\", \"wait\": true, \"timeout-ms\": 8000}", h,
             p->tag, laid ? "enable-shared-access" : "free");
    s->adds++;
    s->cross_adds += n != &s->nodes[s->hosts[h].node];
    if (r && all_in(r, "accepted")) {
        p->held[h] = true;
        if (!p->sha) {
            p->sha = host_data(s, h, p, true);
        }
    } else if (r || unknown(code)) {
        p->maybe[h] = true;
        s->uncertain++;
    }
}

static void op_release(Storm *s)
{
    Pool *p = any_pool(s);
    unsigned h = g_rand_int_range(s->rng, 0, NHOSTS);
    g_autoptr(JsonNode) r = NULL;
    DcdErr code;

    if (!p || !p->held[h]) {
        return;
    }
    r = call(any_node(s), &code, "extent-release", "{\"host-id\": %u,"
             " \"tag\": \"%s\", \"wait\": true, \"timeout-ms\": 8000}", h,
             p->tag);
    s->releases++;
    p->held[h] = false;
    if (!r || !all_in(r, "released")) {
        p->maybe[h] = true;
        s->uncertain++;
    }
}

/* ---- faults -------------------------------------------------------------*/

/* The etcd member that leads now, or NULL. */
static TEtcd *leader(Storm *s)
{
    for (unsigned i = 0; s->etcd[i]; i++) {
        if (tetcd_is_leader(s->etcd[i])) {
            return s->etcd[i];
        }
    }
    return NULL;
}

static void fault(Storm *s)
{
    unsigned kind = g_rand_int_range(s->rng, 0, 3);
    Node *n = any_node(s);
    TEtcd *e;

    s->faults++;
    if (kind == 0) {
        if (opt_verbose) {
            printf("fault %u: kill %s\n", s->faults, n->name);
        }
        node_kill(n);
        g_usleep(g_rand_int_range(s->rng, 0, 1000) * 1000);
        node_start(s, n);
        s->kills++;
    } else if (kind == 1) {
        e = g_rand_boolean(s->rng) ? leader(s) : NULL;
        s->leader_kills += e != NULL;
        if (!e) {
            e = s->etcd[g_rand_int_range(s->rng, 0, 3)];
        }
        if (opt_verbose) {
            printf("fault %u: kill etcd %s\n", s->faults, e->name);
        }
        tetcd_kill(e);
        g_usleep(g_rand_int_range(s->rng, 500, 2500) * 1000);
        tetcd_restart(e);
        s->etcd_kills++;
    } else {
        if (opt_verbose) {
            printf("fault %u: pause %s past its lease\n", s->faults,
                   n->name);
        }
        g_subprocess_send_signal(n->proc, SIGSTOP);
        g_usleep((TTL_S + 1) * G_USEC_PER_SEC);
        g_subprocess_send_signal(n->proc, SIGCONT);
        s->pauses++;
    }
}

/* ---- checks ------------------------------------------------------------ */

static bool available(Node *n)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = NULL;

    if (!n->ctl) {
        n->ctl = dcd_ctl_client_connect(n->ctl_sock, NULL);
        if (!n->ctl) {
            return false;
        }
        dcd_ctl_client_set_timeout(n->ctl, CALL_MS);
    }
    r = dcd_ctl_client_call(n->ctl, "status", NULL, &err);
    return r && json_object_get_boolean_member_with_default(
        json_node_get_object(r), "store-available", FALSE);
}

/* Brokers answer and may write, hosts are connected: or a violation. */
static bool settle(Storm *s)
{
    gint64 deadline = g_get_monotonic_time() + SETTLE_S * G_USEC_PER_SEC;

    for (;;) {
        HostView v = { .s = s };
        g_autoptr(GString) missing = g_string_new(NULL);

        for (unsigned i = 0; i < NNODES; i++) {
            if (!available(&s->nodes[i])) {
                g_string_append_printf(missing, " broker %s",
                                       s->nodes[i].name);
            }
        }
        bench_host_thread_call(s->ht, view_cb, &v);
        for (unsigned i = 0; i < NHOSTS; i++) {
            if (!v.connected[i]) {
                g_string_append_printf(missing, " host %u", i);
            }
        }
        view_clear(&v);
        if (!missing->len) {
            return true;
        }
        if (g_get_monotonic_time() > deadline) {
            violation(s, "settle", "not back in %d s:%s", SETTLE_S,
                      missing->str);
            return false;
        }
        g_usleep(100000);
    }
}

typedef struct Range {
    uint64_t off, len;
    char *tag;
} Range;

/* etcd's device pools (tag -> their ranges, as [off,len] pairs). */
static GHashTable *etcd_pools(Storm *s)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)g_array_unref);
    TEtcd *e = s->etcd[0];
    g_auto(GStrv) keys = NULL;

    /* Any member that answers. */
    for (unsigned i = 0; s->etcd[i]; i++) {
        if (tetcd_answers(s->etcd[i])) {
            e = s->etcd[i];
            break;
        }
    }
    keys = tetcd_keys(e, PREFIX "shared/devpool:");
    for (char **k = keys; *k; k++) {
        g_autofree char *v = tetcd_get(e, *k);
        g_autoptr(JsonNode) n = v ? json_from_string(v, NULL) : NULL;
        JsonArray *r = n ? json_object_get_array_member(
            json_node_get_object(n), "device-ranges") : NULL;
        GArray *a = g_array_new(FALSE, FALSE, sizeof(uint64_t));

        for (guint i = 0; r && i < json_array_get_length(r); i++) {
            JsonObject *o = json_array_get_object_element(r, i);
            uint64_t off = json_object_get_int_member(o, "offset");
            uint64_t len = json_object_get_int_member(o, "len");

            g_array_append_val(a, off);
            g_array_append_val(a, len);
        }
        g_hash_table_insert(t, g_strdup(*k + strlen(PREFIX
                                                    "shared/devpool:")), a);
    }
    return t;
}

static void check_device(Storm *s, GHashTable *pools)
{
    guint8 owner[DEVICE_SIZE / BLOCK] = { 0 };
    GHashTableIter it;
    gpointer tag, val;

    g_hash_table_iter_init(&it, pools);
    while (g_hash_table_iter_next(&it, &tag, &val)) {
        GArray *a = val;

        for (guint i = 0; i + 1 < a->len; i += 2) {
            uint64_t off = g_array_index(a, uint64_t, i);
            uint64_t len = g_array_index(a, uint64_t, i + 1);

            for (uint64_t b = off / BLOCK; b < (off + len) / BLOCK; b++) {
                if (b >= G_N_ELEMENTS(owner) || owner[b]) {
                    violation(s, "overlap", "block %" G_GUINT64_FORMAT
                              " of pool %s is %s", b, (char *)tag,
                              b >= G_N_ELEMENTS(owner) ? "past the device" :
                              "in another pool too");
                } else {
                    owner[b] = 1;
                }
            }
        }
    }
}

/* Every broker lists etcd's device pools, no more, no fewer. */
static void check_converge(Storm *s, GHashTable *pools)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (unsigned i = 0; i < NNODES; i++) {
        for (;;) {
            DcdErr code;
            g_autoptr(JsonNode) r = call(&s->nodes[i], &code, "pool-list",
                                         "{}");
            JsonArray *a = r ? json_node_get_array(r) : NULL;
            guint same = 0, n = a ? json_array_get_length(a) : 0;

            for (guint j = 0; j < n; j++) {
                same += g_hash_table_contains(pools, json_object_get_string_member(
                    json_array_get_object_element(a, j), "tag"));
            }
            if (a && same == n && n == g_hash_table_size(pools)) {
                break;
            }
            if (g_get_monotonic_time() > deadline) {
                violation(s, "converge", "%s lists %u pools, etcd has %u",
                          s->nodes[i].name, n, g_hash_table_size(pools));
                break;
            }
            g_usleep(100000);
        }
    }
}

/* A host's live extents as its own broker counts them. */
static JsonArray *broker_extents(Storm *s, unsigned h, JsonNode **keep)
{
    DcdErr code;

    *keep = call(&s->nodes[s->hosts[h].node], &code, "extent-list",
                 "{\"host-id\": %u}", h);
    return *keep ? json_node_get_array(*keep) : NULL;
}

static bool broker_counts(JsonArray *a, const struct dcd_extent *e)
{
    char tag[DCD_TAG_STR_LEN];

    dcd_tag_unparse((const DcdTag *)e->tag, tag);
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if ((uint64_t)json_object_get_int_member(o, "dpa") == e->dpa &&
            (uint64_t)json_object_get_int_member(o, "len") == e->len &&
            !g_strcmp0(json_object_get_string_member(o, "tag"), tag)) {
            return true;
        }
    }
    return false;
}

static void check_hosts(Storm *s, GHashTable *etcd)
{
    HostView v = { .s = s };
    GHashTableIter it;
    gpointer key, val;
    g_autoptr(GHashTable) layout = g_hash_table_new_full(g_str_hash,
        g_str_equal, g_free, g_free);

    bench_host_thread_call(s->ht, view_cb, &v);
    for (unsigned h = 0; h < NHOSTS; h++) {
        g_autoptr(JsonNode) keep = NULL;
        JsonArray *mine = broker_extents(s, h, &keep);
        g_autoptr(GHashTable) seqs = g_hash_table_new_full(g_str_hash,
            g_str_equal, g_free, NULL);

        for (guint i = 0; i < v.extents[h]->len; i++) {
            DcdHostClientExtent *x = &g_array_index(v.extents[h],
                                                    DcdHostClientExtent, i);
            char tag[DCD_TAG_STR_LEN];
            g_autofree char *seq = NULL;
            g_autofree char *where = NULL;
            const char *had;

            dcd_tag_unparse((const DcdTag *)x->e.tag, tag);
            if (x->mapped && !broker_counts(mine, &x->e)) {
                violation(s, "unheld", "host %u maps %s seq %u, which its"
                          " broker does not count as its", h, tag,
                          x->e.shared_seq);
            }
            if (x->state != DCD_EXTENT_ACCEPTED) {
                continue;
            }
            seq = g_strdup_printf("%s/%u", tag, x->e.shared_seq);
            if (!g_hash_table_add(seqs, g_strdup(seq))) {
                violation(s, "duplicate", "host %u holds %s twice", h, seq);
            }
            where = g_strdup_printf("%" G_GINT64_MODIFIER "x+%"
                                    G_GINT64_MODIFIER "x", x->e.pool_offset,
                                    x->e.len);
            had = g_hash_table_lookup(layout, seq);
            if (had && g_strcmp0(had, where)) {
                violation(s, "shared-seq", "%s is at %s on host %u, at %s"
                          " on another", seq, where, h, had);
            } else if (!had) {
                g_hash_table_insert(layout, g_strdup(seq), g_strdup(where));
            }
        }
    }
    /* The model: acknowledged pools and holdings, and the data. */
    g_hash_table_iter_init(&it, s->pools);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        Pool *p = val;
        DcdTag t;

        dcd_tag_parse(p->tag, &t);
        if (!g_hash_table_contains(etcd, p->tag)) {
            if (p->acked) {
                violation(s, "ack-lost", "pool %s is gone", p->tag);
            }
            g_hash_table_iter_remove(&it);
            continue;
        }
        p->acked = true;
        for (unsigned h = 0; h < NHOSTS; h++) {
            bool holds = false;
            g_autofree char *sha = NULL;

            for (guint i = 0; i < v.extents[h]->len; i++) {
                DcdHostClientExtent *x = &g_array_index(
                    v.extents[h], DcdHostClientExtent, i);

                holds |= x->state == DCD_EXTENT_ACCEPTED &&
                         dcd_tag_equal((const DcdTag *)x->e.tag, &t);
            }
            if (p->held[h] && !holds) {
                violation(s, "ack-lost", "host %u lost its extents of %s",
                          h, p->tag);
            }
            /* Unknown outcomes end here: the model takes what is. */
            p->held[h] = holds;
            p->maybe[h] = false;
            if (holds && p->sha) {
                sha = host_data(s, h, p, false);
                if (!sha || g_strcmp0(sha, p->sha)) {
                    violation(s, "data", "host %u reads %s of %s, written"
                              " %s", h, sha ? sha : "nothing", p->tag,
                              p->sha);
                }
            }
        }
    }
    g_hash_table_iter_init(&it, s->destroyed);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (g_hash_table_contains(etcd, key)) {
            violation(s, "ack-lost", "destroyed pool %s is back",
                      (char *)key);
        }
    }
    /* Pools nobody knew of: creates of unknown outcome that landed. */
    g_hash_table_iter_init(&it, etcd);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        if (!g_hash_table_contains(s->pools, key)) {
            GArray *a = val;
            Pool *p = g_new0(Pool, 1);

            p->tag = g_strdup(key);
            for (guint i = 1; i < a->len; i += 2) {
                p->size += g_array_index(a, uint64_t, i);
            }
            p->acked = true;
            g_hash_table_insert(s->pools, p->tag, p);
        }
    }
    view_clear(&v);
}

static void check(Storm *s)
{
    g_autoptr(GHashTable) etcd = NULL;

    if (!settle(s)) {
        return;
    }
    s->checks++;
    etcd = etcd_pools(s);
    check_device(s, etcd);
    check_converge(s, etcd);
    check_hosts(s, etcd);
}

/* ---- main ----------------------------------------------------------------*/

static void pool_free(gpointer p)
{
    Pool *x = p;

    g_free(x->sha);
    g_free(x->tag);
    g_free(x);
}

static void write_json(Storm *s, double secs, const double *load)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autofree char *path = g_build_filename(opt_out ? opt_out : ".",
                                             "cluster-storm.json", NULL);
    g_autoptr(GError) err = NULL;
    GHashTableIter it;
    gpointer k, v;
    unsigned total = 0;

    g_autofree char *kernel = NULL;

    g_file_get_contents("/proc/sys/kernel/osrelease", &kernel, NULL, NULL);
    bench_json_begin(jb, "cluster-storm", kernel ? g_strstrip(kernel) : "",
                     load);
    dcd_json_int(jb, "seed", opt_seed);
    dcd_json_int(jb, "seconds", (gint64)secs);
    dcd_json_int(jb, "brokers", NNODES);
    dcd_json_int(jb, "etcd-members", 3);
    dcd_json_int(jb, "hosts", NHOSTS);
    dcd_json_int(jb, "faults", s->faults);
    dcd_json_int(jb, "broker-kills", s->kills);
    dcd_json_int(jb, "etcd-kills", s->etcd_kills);
    dcd_json_int(jb, "etcd-leader-kills", s->leader_kills);
    dcd_json_int(jb, "broker-pauses", s->pauses);
    dcd_json_int(jb, "checks", s->checks);
    dcd_json_int(jb, "creates", s->creates);
    dcd_json_int(jb, "adds", s->adds);
    dcd_json_int(jb, "cross-node-adds", s->cross_adds);
    dcd_json_int(jb, "releases", s->releases);
    dcd_json_int(jb, "destroys", s->destroys);
    dcd_json_int(jb, "uncertain", s->uncertain);
    dcd_json_int(jb, "creates-lost-to-a-race", s->lost_races);
    json_builder_set_member_name(jb, "violations");
    json_builder_begin_object(jb);
    g_hash_table_iter_init(&it, s->violations);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        dcd_json_int(jb, k, GPOINTER_TO_UINT(v));
        total += GPOINTER_TO_UINT(v);
    }
    json_builder_end_object(jb);
    dcd_json_int(jb, "violations-total", total);
    json_builder_set_member_name(jb, "examples");
    json_builder_begin_array(jb);
    for (guint i = 0; i < s->examples->len; i++) {
        json_builder_add_string_value(jb, s->examples->pdata[i]);
    }
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    if (!bench_json_write(jb, path, &err)) {
        fprintf(stderr, "%s\n", err->message);
    }
    printf("%u faults (%u broker kills, %u etcd member kills of which %u"
           " leaders, %u pauses past the lease), %u checks, %u ops (%u"
           " adds, %u across nodes), %u of unknown outcome: %u violations"
           " (%s)\n", s->faults, s->kills, s->etcd_kills, s->leader_kills,
           s->pauses, s->checks, s->ops, s->adds, s->cross_adds,
           s->uncertain, total, path);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "- a fault storm against brokers sharing a device through etcd");
    g_autoptr(GError) err = NULL;
    Storm s = { 0 };
    double load[3] = { 0 };
    gint64 t0, end;
    int fd;

    bench_init(argv[0]);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        bench_die("%s", err->message);
    }
    if (opt_seed < 0) {
        opt_seed = g_random_int();
    }
    if (!opt_broker) {
        opt_broker = bench_default_broker();
    }
    printf("seed %" G_GINT64_FORMAT "\n", opt_seed);
    fflush(stdout);
    s.rng = g_rand_new_with_seed(opt_seed);
    s.pools = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                    pool_free);
    s.destroyed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        NULL);
    s.violations = g_hash_table_new(g_str_hash, g_str_equal);
    s.examples = g_ptr_array_new_with_free_func(g_free);
    s.etcd = tetcd_start_cluster(3, &s.url);
    s.dir = g_dir_make_tmp("dcd-cstorm-XXXXXX", NULL);
    s.device = g_build_filename(s.dir, "device", NULL);
    fd = open(s.device, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ftruncate(fd, DEVICE_SIZE) < 0) {
        bench_die("device file: %s", g_strerror(errno));
    }
    close(fd);
    for (unsigned i = 0; i < NNODES; i++) {
        node_init(&s, i);
    }
    s.ht = bench_host_thread_new("cstorm-hosts");
    bench_host_thread_call(s.ht, hosts_start_cb, &s);
    check(&s);

    t0 = g_get_monotonic_time();
    end = t0 + (gint64)opt_seconds * G_USEC_PER_SEC;
    while (s.faults < (unsigned)opt_faults && g_get_monotonic_time() < end) {
        unsigned n = g_rand_int_range(s.rng, 1, opt_max_ops + 1);

        for (unsigned i = 0; i < n; i++) {
            unsigned what = g_rand_int_range(s.rng, 0, 10);

            s.ops++;
            if (what < 2) {
                op_create(&s);
            } else if (what < 6) {
                op_add(&s);
            } else if (what < 9) {
                op_release(&s);
            } else {
                op_destroy(&s);
            }
        }
        fault(&s);
        check(&s);
        if (s.faults % 25 == 0) {
            printf("%u faults, %u checks, %u violations so far\n", s.faults,
                   s.checks, s.examples->len);
            fflush(stdout);
        }
    }
    getloadavg(load, 3);
    write_json(&s, (g_get_monotonic_time() - t0) / 1e6, load);

    for (unsigned i = 0; i < NHOSTS; i++) {
        Host *h = &s.hosts[i];

        bench_host_thread_call(s.ht, (void (*)(gpointer))dcd_hostclient_free,
                               h->core);
    }
    bench_host_thread_free(s.ht);
    for (unsigned i = 0; i < NNODES; i++) {
        node_kill(&s.nodes[i]);
    }
    for (unsigned i = 0; s.etcd[i]; i++) {
        tetcd_free(s.etcd[i]);
    }
    if (!s.examples->len) {
        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", s.dir);

        g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
    } else {
        printf("the brokers' logs are in %s\n", s.dir);
    }
    return s.examples->len ? 1 : 0;
}
