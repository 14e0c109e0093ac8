/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cluster-scale.c - how an extent add in cluster mode grows with the
 * number of brokers sharing etcd and one device.
 *
 * Owns: a 3-member etcd on free loopback ports (data on tmpfs when there
 * is one; killed and removed at exit, a failed run included), a sparse
 * device file, and for N = 1, 3, 8, 32 a fresh set of N brokers (nodes
 * n0..n<N-1>) on that one etcd, whose /dcd/v1/ keys are wiped between
 * sets; one in-process host (hostclient, accept all, host-id k) on each
 * broker k.  First a single broker with its journal on the same device,
 * the baseline of today.  Per set, with blocking control calls:
 *   - same-node: a 2 MiB device pool made on broker k (untimed), then a
 *     timed extent-add with "wait" to host k, asked of broker k;
 *   - cross-node: the pool made on broker 0, the timed add to host k
 *     (k > 0) asked of broker 0, carried out by broker k (etcd's mail);
 *   - etcd's own write latency: one single-key transaction, compared on
 *     the key's revision as the brokers' are, after each add, through
 *     the same member the brokers talk to;
 *   - etcd requests per add, counted by etcd itself (gRPC messages by
 *     method, summed over the members) and by the brokers
 *     (dcd_store_requests_total, summed, less the lease keepalives).
 * Release and destroy are untimed and batched.  Results: a table on
 * stdout and JSON (--output).  A benchmark: nothing fails on speed.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "benchlib.h"
#include "dcd-client/hostclient.h"
#include "dcd/json.h"
#include "hostthread.h"

#define MIB (1024ull * 1024)
#define BLOCK (2 * MIB)
#define DEVICE_SIZE (1024 * MIB)
#define REGION_LEN (1ull << 40)     /* per host: sparse, never touched */
#define MEMBERS 3
#define ETCD_READY_US (30 * G_USEC_PER_SEC)
#define SETTLE_US (30 * G_USEC_PER_SEC)
#define PREFIX "/dcd/v1/"
#define PROBE_KEY "/dcd-bench/probe"   /* outside the brokers' prefix */

static const char *prog = "cluster-scale";

/* ---- etcd -------------------------------------------------------------- */

typedef struct Member {
    GSubprocess *proc;
    pid_t pid;
    char *dir;
    char *url;                  /* http://127.0.0.1:port */
    unsigned client_port, peer_port;
} Member;

static Member members[MEMBERS];
static char *base_dir;          /* etcd's data, the device, broker dirs */
static SoupSession *http;

/* At exit, whatever the reason: no member and no tmpfs dir left behind. */
static void cleanup(void)
{
    for (unsigned i = 0; i < MEMBERS; i++) {
        if (members[i].proc) {
            g_subprocess_force_exit(members[i].proc);
            g_subprocess_wait(members[i].proc, NULL, NULL);
            g_clear_object(&members[i].proc);
        }
    }
    if (base_dir && g_getenv("DCD_BENCH_KEEP")) {
        g_printerr("%s: kept %s\n", prog, base_dir);
    } else if (base_dir) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", base_dir);

        if (system(cmd) != 0) {
            g_printerr("%s: could not remove %s\n", prog, base_dir);
        }
        g_clear_pointer(&base_dir, g_free);
    }
}

/* Ctrl-C: exit() so that cleanup() and benchlib's removal run. */
static void on_signal(int sig)
{
    exit(1);
}

/* A port nobody listens on now, and none we picked before. */
static unsigned free_port(void)
{
    static GHashTable *taken;
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    unsigned port;

    if (!taken) {
        taken = g_hash_table_new(NULL, NULL);
    }
    do {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
            bench_die("no free loopback port: %s", g_strerror(errno));
        }
        close(fd);
        port = ntohs(a.sin_port);
        a.sin_port = 0;
    } while (g_hash_table_contains(taken, GUINT_TO_POINTER(port)));
    g_hash_table_add(taken, GUINT_TO_POINTER(port));
    return port;
}

/* One HTTP request; the body, or NULL if none came (err set). */
static char *http_call(const char *method, const char *url, const char *body,
                       guint *status, GError **errp)
{
    g_autoptr(SoupMessage) m = soup_message_new(method, url);
    g_autoptr(GBytes) reply = NULL;

    if (!m) {
        bench_die("bad URL %s", url);
    }
    if (body) {
        g_autoptr(GBytes) b = g_bytes_new(body, strlen(body));

        soup_message_set_request_body_from_bytes(m, "application/json", b);
    }
    reply = soup_session_send_and_read(http, m, NULL, errp);
    if (!reply) {
        return NULL;
    }
    *status = soup_message_get_status(m);
    return g_strndup(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply));
}

/* A request etcd must answer with 200; its JSON object. */
static JsonObject *etcd_call(const char *path, const char *body)
{
    g_autofree char *url = g_strconcat(members[0].url, path, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    g_autofree char *text = NULL;
    guint status = 0;

    text = http_call("POST", url, body, &status, &err);
    if (!text || status != 200 || !json_parser_load_from_data(p, text, -1,
                                                              NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        bench_die("etcd %s: %s", path, text ? text : err->message);
    }
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static char *b64(const char *s)
{
    return g_base64_encode((const guchar *)s, strlen(s));
}

static void etcd_start(void)
{
    g_autofree char *etcd = g_find_program_in_path("etcd");
    g_autoptr(GString) initial = g_string_new(NULL);

    if (!etcd) {
        bench_die("etcd is not installed (scripts/install-deps.sh installs"
                  " etcd-server)");
    }
    for (unsigned i = 0; i < MEMBERS; i++) {
        Member *m = &members[i];

        m->dir = g_strdup_printf("%s/etcd%u", base_dir, i);
        g_mkdir_with_parents(m->dir, 0700);
        m->client_port = free_port();
        m->peer_port = free_port();
        m->url = g_strdup_printf("http://127.0.0.1:%u", m->client_port);
        g_string_append_printf(initial, "%sm%u=http://127.0.0.1:%u",
                               i ? "," : "", i, m->peer_port);
    }
    for (unsigned i = 0; i < MEMBERS; i++) {
        Member *m = &members[i];
        g_autofree char *name = g_strdup_printf("m%u", i);
        g_autofree char *data = g_build_filename(m->dir, "data", NULL);
        g_autofree char *log = g_build_filename(m->dir, "etcd.log", NULL);
        g_autofree char *peer = g_strdup_printf("http://127.0.0.1:%u",
                                                m->peer_port);
        g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
            G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
        g_autoptr(GError) err = NULL;
        /* As docs/cluster.md says to run it for the brokers. */
        const char *const argv[] = {
            etcd, "--name", name, "--data-dir", data,
            "--listen-client-urls", m->url, "--advertise-client-urls", m->url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial->str,
            "--initial-cluster-token", base_dir,
            "--initial-cluster-state", "new",
            "--max-txn-ops", "2048",
            "--auto-compaction-mode", "revision",
            "--auto-compaction-retention", "1000",
            NULL
        };

        g_subprocess_launcher_set_stderr_file_path(l, log);
        g_subprocess_launcher_set_child_setup(l, bench_die_with_parent, NULL,
                                              NULL);
        m->proc = g_subprocess_launcher_spawnv(l, argv, &err);
        if (!m->proc) {
            bench_die("starting etcd: %s", err->message);
        }
        m->pid = atoi(g_subprocess_get_identifier(m->proc));
    }
    /* Each is healthy once a leader is elected, so all run first. */
    for (unsigned i = 0; i < MEMBERS; i++) {
        g_autofree char *url = g_strconcat(members[i].url, "/health", NULL);
        gint64 end = g_get_monotonic_time() + ETCD_READY_US;

        for (;;) {
            g_autofree char *text = NULL;
            guint status = 0;

            text = http_call("GET", url, NULL, &status, NULL);
            if (text && status == 200 && strstr(text, "\"true\"")) {
                break;
            }
            if (g_get_monotonic_time() > end) {
                bench_die("etcd member %u is not healthy; see %s/etcd.log",
                          i, members[i].dir);
            }
            g_usleep(100000);
        }
    }
}

/* The brokers' endpoints: every member, the first one asked first. */
static char *store_url(void)
{
    GString *s = g_string_new("etcd://");

    for (unsigned i = 0; i < MEMBERS; i++) {
        g_string_append_printf(s, "%s127.0.0.1:%u", i ? "," : "",
                               members[i].client_port);
    }
    return g_string_free(s, FALSE);
}

/* Everything the brokers wrote, so the next set starts from nothing. */
static void etcd_wipe(void)
{
    g_autofree char *k = b64(PREFIX);
    g_autofree char *end = b64("/dcd/v10");     /* the prefix + 1 */
    g_autofree char *body = g_strdup_printf("{\"key\": \"%s\","
                                            " \"range_end\": \"%s\"}", k,
                                            end);

    json_object_unref(etcd_call("/v3/kv/deleterange", body));
}

/*
 * etcd's own write: one transaction on one key, compared on the key's
 * mod_revision and putting it, as a broker's commit does (less the
 * lease compare).  Returns its latency in us.
 */
static double etcd_probe(void)
{
    static int64_t mod;
    static unsigned seq;
    g_autofree char *k = b64(PROBE_KEY);
    g_autofree char *val = g_strdup_printf("probe %u", seq++);
    g_autofree char *v = b64(val);
    g_autofree char *body = g_strdup_printf(
        "{\"compare\": [{\"key\": \"%s\", \"target\": \"MOD\","
        " \"result\": \"EQUAL\", \"mod_revision\": \"%" G_GINT64_FORMAT
        "\"}], \"success\": [{\"request_put\": {\"key\": \"%s\","
        " \"value\": \"%s\"}}]}", k, mod, k, v);
    g_autoptr(JsonObject) r = NULL;
    double t0 = bench_now_us(), t;
    JsonObject *hdr;

    r = etcd_call("/v3/kv/txn", body);
    t = bench_now_us() - t0;
    hdr = json_object_get_object_member(r, "header");
    if (!json_object_get_boolean_member_with_default(r, "succeeded", FALSE) ||
        !hdr) {
        bench_die("etcd's probe txn did not succeed");
    }
    mod = g_ascii_strtoll(json_object_get_string_member(hdr, "revision"),
                          NULL, 10);
    return t;
}

/* ---- counting: etcd's metrics and the brokers' ------------------------- */

/* Sum of the values of name{...} lines that contain label. */
static double metric_sum(const char *text, const char *name,
                         const char *label)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", 0);
    size_t nl = strlen(name);
    double sum = 0;

    for (char **l = lines; *l; l++) {
        const char *sp = strrchr(*l, ' ');

        if (strncmp(*l, name, nl) == 0 && ((*l)[nl] == '{' ||
                                           (*l)[nl] == ' ') &&
            (!label || strstr(*l, label)) && sp) {
            sum += g_ascii_strtod(sp + 1, NULL);
        }
    }
    return sum;
}

static char *scrape(const char *url)
{
    g_autoptr(GError) err = NULL;
    guint status = 0;
    char *text = http_call("GET", url, NULL, &status, &err);

    if (!text || status != 200) {
        bench_die("scraping %s: %s", url, text ? "not 200" : err->message);
    }
    return text;
}

typedef struct Counts {
    /* etcd's, summed over the members: gRPC messages received */
    double txn, range, put, del, keepalive;
    double watch_sent;          /* watch messages etcd sent */
    double broker_calls;        /* the brokers' dcd_store_requests_total */
    double broker_cpu_s;        /* utime + stime, all brokers */
    double etcd_cpu_s;          /* all members */
} Counts;

#define RECEIVED "grpc_server_msg_received_total"

typedef struct Cluster {
    unsigned n;
    bool journal;               /* one broker, its journal, no etcd */
    BenchBroker **b;
    char **metrics;             /* each broker's metrics URL */
    BenchHostThread *ht;
    DcdHostClient **hosts;      /* host thread only; host k on broker k */
} Cluster;

/* The URL the broker's ready line names ("... metrics URL"). */
static char *metrics_url(BenchBroker *b)
{
    const char *m = strstr(b->ready, " metrics http://");

    if (!m) {
        bench_die("no metrics URL in the broker's ready line");
    }
    m += strlen(" metrics ");
    return g_strndup(m, strcspn(m, " "));
}

/* Both sides' counts now: every broker's metrics, every member's. */
static void counts_take(Cluster *c, Counts *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; c && i < c->n; i++) {
        g_autofree char *t = scrape(c->metrics[i]);
        BenchProcSample s;

        out->broker_calls += metric_sum(t, "dcd_store_requests_total",
                                        "backend=\"etcd\"");
        bench_proc_sample(c->b[i]->pid, &s);
        out->broker_cpu_s += s.cpu_s;
    }
    for (unsigned i = 0; i < MEMBERS; i++) {
        g_autofree char *url = g_strconcat(members[i].url, "/metrics", NULL);
        g_autofree char *t = scrape(url);
        BenchProcSample s;

        out->txn += metric_sum(t, RECEIVED, "grpc_method=\"Txn\"");
        out->range += metric_sum(t, RECEIVED, "grpc_method=\"Range\"");
        out->put += metric_sum(t, RECEIVED, "grpc_method=\"Put\"");
        out->del += metric_sum(t, RECEIVED, "grpc_method=\"DeleteRange\"");
        out->keepalive += metric_sum(t, RECEIVED,
                                     "grpc_method=\"LeaseKeepAlive\"");
        out->watch_sent += metric_sum(t, "grpc_server_msg_sent_total",
                                      "grpc_method=\"Watch\"");
        bench_proc_sample(members[i].pid, &s);
        out->etcd_cpu_s += s.cpu_s;
    }
}

/* acc += b - a */
static void counts_add_delta(Counts *acc, const Counts *a, const Counts *b)
{
    acc->txn += b->txn - a->txn;
    acc->range += b->range - a->range;
    acc->put += b->put - a->put;
    acc->del += b->del - a->del;
    acc->keepalive += b->keepalive - a->keepalive;
    acc->watch_sent += b->watch_sent - a->watch_sent;
    acc->broker_calls += b->broker_calls - a->broker_calls;
    acc->broker_cpu_s += b->broker_cpu_s - a->broker_cpu_s;
    acc->etcd_cpu_s += b->etcd_cpu_s - a->etcd_cpu_s;
}

/* ---- brokers and hosts ------------------------------------------------- */

typedef struct HostsCount {
    Cluster *c;
    unsigned connected;
} HostsCount;

static void hosts_start_cb(gpointer opaque)
{
    Cluster *c = opaque;
    static const struct dcd_region region = {
        .base = 0, .len = REGION_LEN, .block_size = BLOCK,
        .flags = DCD_REGION_SHARABLE,
    };
    static const DcdHostClientEvents none = { 0 };

    for (unsigned i = 0; i < c->n; i++) {
        g_autofree char *name = g_strdup_printf("scale%u", i);
        DcdHostClientConfig cfg = {
            .socket_path = c->b[i]->host_sock,
            .host_id = i,
            .name = name,
            .regions = &region,
            .nregions = 1,
            .policy = DCD_HOST_ACCEPT_ALL,
            .ctx = bench_host_thread_context(c->ht),
        };

        c->hosts[i] = dcd_hostclient_new(&cfg, &none, NULL);
        dcd_hostclient_start(c->hosts[i]);
    }
}

static void hosts_count_cb(gpointer opaque)
{
    HostsCount *s = opaque;

    s->connected = 0;
    for (unsigned i = 0; i < s->c->n; i++) {
        s->connected += dcd_hostclient_is_connected(s->c->hosts[i]);
    }
}

static void hosts_stop_cb(gpointer opaque)
{
    Cluster *c = opaque;

    for (unsigned i = 0; i < c->n; i++) {
        g_clear_pointer(&c->hosts[i], dcd_hostclient_free);
    }
}

/* Entries of a list command's reply. */
static unsigned list_len(BenchBroker *b, const char *cmd)
{
    g_autoptr(JsonNode) n = bench_call(b, cmd, json_object_new());

    return json_array_get_length(json_node_get_array(n));
}

/* Hosts connected, and every broker knows every node and host. */
static void cluster_settle(Cluster *c, bool journal)
{
    HostsCount s = { .c = c };
    gint64 end = g_get_monotonic_time() + SETTLE_US;
    bool known;

    do {
        g_usleep(20000);
        bench_host_thread_call(c->ht, hosts_count_cb, &s);
        known = s.connected == c->n;
        for (unsigned i = 0; known && i < c->n; i++) {
            known = list_len(c->b[i], "host-list") == c->n &&
                    (journal || list_len(c->b[i], "node-list") == c->n);
        }
    } while (!known && g_get_monotonic_time() < end);
    if (!known) {
        bench_die("%u brokers: hosts or nodes still unknown after %d s"
                  " (%u of %u hosts connected)", c->n,
                  (int)(SETTLE_US / G_USEC_PER_SEC), s.connected, c->n);
    }
}

/*
 * journal: one broker with its journal (no etcd); else n brokers on
 * etcd, nodes n0..n<n-1>.
 */
static Cluster *cluster_start(const char *exe, const char *device,
                              unsigned n, bool journal)
{
    Cluster *c = g_new0(Cluster, 1);
    g_autofree char *store = store_url();

    c->n = n;
    c->journal = journal;
    c->b = g_new0(BenchBroker *, n);
    c->metrics = g_new0(char *, n);
    c->hosts = g_new0(DcdHostClient *, n);
    for (unsigned i = 0; i < n; i++) {
        g_autofree char *dir = g_strdup_printf("%s/%s%u-%u", base_dir,
                                               journal ? "j" : "n", n, i);
        g_autofree char *a_store = g_strdup_printf("--cluster-store=%s",
                                                   store);
        g_autofree char *a_node = g_strdup_printf("--node=n%u", i);
        g_autofree char *a_dev = g_strdup_printf("--shared-device=%s",
                                                 device);
        char *extra[] = { a_dev, "--metrics=127.0.0.1:0", a_store, a_node,
                          NULL };

        if (journal) {
            extra[2] = NULL;
            c->b[i] = bench_broker_start(exe, extra, dir);
        } else {
            c->b[i] = bench_broker_start_store(exe, extra, dir);
        }
        c->metrics[i] = metrics_url(c->b[i]);
    }
    c->ht = bench_host_thread_new("hosts");
    bench_host_thread_call(c->ht, hosts_start_cb, c);
    cluster_settle(c, journal);
    return c;
}

static void cluster_stop(Cluster *c)
{
    bench_host_thread_call(c->ht, hosts_stop_cb, c);
    bench_host_thread_free(c->ht);
    for (unsigned i = 0; i < c->n; i++) {
        bench_broker_stop(c->b[i], false);
        g_free(c->metrics[i]);
    }
    g_free(c->b);
    g_free(c->metrics);
    g_free(c->hosts);
    g_free(c);
}

/* ---- one phase: adds of one kind --------------------------------------- */

typedef struct Phase {
    bool run;
    unsigned brokers;
    bool cross;
    unsigned ops, failed;
    double wall_s;              /* timed parts: adds and probes */
    BenchStats add, etcd;       /* us */
    Counts d;                   /* over the timed parts */
    double probes;              /* our own txns among d.txn */
    unsigned destroy_state;     /* pool-destroys refused with state */
    double load[3];             /* at its end */
} Phase;

static char *device_pool(BenchBroker *b)
{
    JsonObject *a = json_object_new();
    g_autoptr(JsonNode) n = NULL;

    json_object_set_int_member(a, "size", BLOCK);
    json_object_set_string_member(a, "backing", "device");
    n = bench_call(b, "pool-create", a);
    return g_strdup(json_object_get_string_member(json_node_get_object(n),
                                                  "tag"));
}

static void release_wait(BenchBroker *b, unsigned host, const char *tag)
{
    JsonObject *a = bench_args_tag(tag);

    json_object_set_int_member(a, "host-id", host);
    json_object_set_boolean_member(a, "wait", TRUE);
    json_node_unref(bench_call(b, "extent-release", a));
}

/* Per op i: the host, the broker asked, the broker making the pool. */
static unsigned op_host(const Cluster *c, bool cross, unsigned i)
{
    return cross ? 1 + i % (c->n - 1) : i % c->n;
}

static void run_phase(Cluster *c, bool cross, unsigned ops, unsigned batch,
                      bool count, Phase *r)
{
    g_autofree double *lat = g_new0(double, ops);
    g_autofree double *probe = g_new0(double, ops);
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);

    memset(r, 0, sizeof(*r));
    r->run = true;
    r->brokers = c->n;
    r->cross = cross;
    r->ops = ops;
    if (c->journal) {
        g_printerr("%s: the journal's single broker\n", prog);
    } else {
        g_printerr("%s: %u brokers, %s adds\n", prog, c->n,
                   cross ? "cross-node" : "same-node");
    }
    for (unsigned done = 0; done < ops; done += batch) {
        unsigned n = MIN(batch, ops - done);
        Counts c0, c1;
        double t;

        g_ptr_array_set_size(tags, 0);
        for (unsigned i = 0; i < n; i++) {
            unsigned h = op_host(c, cross, done + i);

            g_ptr_array_add(tags, device_pool(c->b[cross ? 0 : h]));
        }
        if (count) {
            counts_take(c, &c0);
        }
        t = bench_now_us();
        for (unsigned i = 0; i < n; i++) {
            unsigned h = op_host(c, cross, done + i);
            JsonObject *a = bench_args_tag(tags->pdata[i]);
            g_autoptr(JsonNode) res = NULL;
            double t0;

            json_object_set_int_member(a, "host-id", h);
            json_object_set_boolean_member(a, "wait", TRUE);
            t0 = bench_now_us();
            res = bench_call(c->b[cross ? 0 : h], "extent-add", a);
            lat[done + i] = bench_now_us() - t0;
            r->failed += bench_count_accepted(json_object_get_array_member(
                json_node_get_object(res), "extents")) != 1;
            probe[done + i] = etcd_probe();
        }
        r->wall_s += (bench_now_us() - t) / 1e6;
        if (count) {
            counts_take(c, &c1);
            counts_add_delta(&r->d, &c0, &c1);
        }
        /* Untimed: released where the host is, destroyed where made. */
        for (unsigned i = 0; i < n; i++) {
            unsigned h = op_host(c, cross, done + i);

            release_wait(c->b[h], h, tags->pdata[i]);
        }
        for (unsigned i = 0; i < n; i++) {
            unsigned h = op_host(c, cross, done + i);

            /* Refused with `state` now and then: counted, reported. */
            bench_pool_destroy_counted(c->b[cross ? 0 : h], tags->pdata[i],
                                       &r->destroy_state);
        }
    }
    r->probes = ops;
    bench_stats(lat, ops, &r->add);
    bench_stats(probe, ops, &r->etcd);
    getloadavg(r->load, 3);
}

/* ---- output ------------------------------------------------------------ */

typedef struct SetResult {
    unsigned brokers;
    double start_s;             /* all brokers ready, hosts known */
    double idle_s;
    Counts idle;                /* over idle_s with nothing asked */
    Phase same, cross;
} SetResult;

static double ms(double us)
{
    return us / 1000;
}

/* etcd requests per add, less our own probes. */
static double kv_per_add(const Phase *p)
{
    return (p->d.txn + p->d.range + p->d.put + p->d.del - p->probes) /
           p->ops;
}

/* The brokers' own count, less their lease keepalives. */
static double calls_per_add(const Phase *p)
{
    return (p->d.broker_calls - p->d.keepalive) / p->ops;
}

/* (add - base) in etcd writes of the same phase (p50s). */
static double extra_rt(const Phase *p, double base_us)
{
    return (p->add.p50 - base_us) / p->etcd.p50;
}

static void print_phase(const char *what, const Phase *p, double journal,
                        double one)
{
    if (!p->run) {
        printf("%7s %-10s %s\n", "", what, "n/a (no other node)");
        return;
    }
    g_autofree char *x1 = one > 0 ? g_strdup_printf("%.1f",
                                                    extra_rt(p, one)) :
                          g_strdup("-");

    printf("%7u %-10s %4u %3u %7.2f %7.2f %7.2f %6.2f %6.2f %6.1f %6.1f"
           " %6s %5.1f %5.1f %6.1f %6.1f %6.2f\n", p->brokers, what,
           p->ops, p->failed, ms(p->add.p50), ms(p->add.p99),
           ms(p->add.mean), ms(p->etcd.p50), ms(p->etcd.p99),
           p->add.p50 / p->etcd.p50, extra_rt(p, journal), x1,
           kv_per_add(p),
           (p->d.txn - p->probes) / p->ops, p->d.watch_sent / p->ops,
           calls_per_add(p), p->d.broker_cpu_s * 1e3 / p->ops);
}

static void json_stats(JsonBuilder *jb, const char *k,
                       const BenchStats *s)
{
    json_builder_set_member_name(jb, k);
    json_builder_begin_object(jb);
    dcd_json_int(jb, "n", s->n);
    dcd_json_double(jb, "p50-us", s->p50);
    dcd_json_double(jb, "p99-us", s->p99);
    dcd_json_double(jb, "mean-us", s->mean);
    dcd_json_double(jb, "max-us", s->max);
    json_builder_end_object(jb);
}

static void json_counts(JsonBuilder *jb, const char *k, const Counts *c)
{
    json_builder_set_member_name(jb, k);
    json_builder_begin_object(jb);
    dcd_json_double(jb, "etcd-txn", c->txn);
    dcd_json_double(jb, "etcd-range", c->range);
    dcd_json_double(jb, "etcd-put", c->put);
    dcd_json_double(jb, "etcd-deleterange", c->del);
    dcd_json_double(jb, "etcd-lease-keepalive", c->keepalive);
    dcd_json_double(jb, "etcd-watch-messages-sent", c->watch_sent);
    dcd_json_double(jb, "brokers-store-requests", c->broker_calls);
    dcd_json_double(jb, "brokers-cpu-s", c->broker_cpu_s);
    dcd_json_double(jb, "etcd-cpu-s", c->etcd_cpu_s);
    json_builder_end_object(jb);
}

static void json_phase(JsonBuilder *jb, const char *k, const Phase *p,
                       double journal, double one)
{
    json_builder_set_member_name(jb, k);
    if (!p->run) {
        json_builder_add_null_value(jb);
        return;
    }
    json_builder_begin_object(jb);
    dcd_json_int(jb, "brokers", p->brokers);
    dcd_json_int(jb, "ops", p->ops);
    dcd_json_int(jb, "failed", p->failed);
    dcd_json_int(jb, "pool-destroy-refused-state", p->destroy_state);
    dcd_json_double(jb, "timed-wall-s", p->wall_s);
    json_stats(jb, "add", &p->add);
    json_stats(jb, "etcd-write", &p->etcd);
    dcd_json_double(jb, "add-over-etcd-write-p50", p->add.p50 / p->etcd.p50);
    dcd_json_double(jb, "add-over-etcd-write-p99", p->add.p99 / p->etcd.p99);
    if (journal > 0) {
        dcd_json_double(jb, "extra-round-trips-vs-journal",
                        extra_rt(p, journal));
    }
    if (one > 0) {
        dcd_json_double(jb, "extra-round-trips-vs-1-broker",
                        extra_rt(p, one));
    }
    if (p->d.txn + p->d.range > 0) {
        dcd_json_double(jb, "etcd-requests-per-add", kv_per_add(p));
        dcd_json_double(jb, "etcd-txn-per-add",
                        (p->d.txn - p->probes) / p->ops);
        dcd_json_double(jb, "etcd-watch-messages-per-add",
                        p->d.watch_sent / p->ops);
        dcd_json_double(jb, "broker-store-requests-per-add",
                        calls_per_add(p));
        dcd_json_double(jb, "brokers-cpu-ms-per-add",
                        p->d.broker_cpu_s * 1e3 / p->ops);
        dcd_json_double(jb, "etcd-cpu-ms-per-add",
                        p->d.etcd_cpu_s * 1e3 / p->ops);
        dcd_json_double(jb, "own-probe-txns", p->probes);
        json_counts(jb, "timed-deltas", &p->d);
    }
    bench_json_loadavg(jb, "loadavg-at-end", p->load);
    json_builder_end_object(jb);
}

static char *etcd_version(void)
{
    g_autofree char *url = g_strconcat(members[0].url, "/version", NULL);
    guint status = 0;
    g_autofree char *t = http_call("GET", url, NULL, &status, NULL);
    g_autoptr(JsonParser) p = json_parser_new();

    if (t && json_parser_load_from_data(p, t, -1, NULL) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        return g_strdup(json_object_get_string_member_with_default(
            json_node_get_object(json_parser_get_root(p)), "etcdserver",
            "unknown"));
    }
    return g_strdup("unknown");
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
    g_autofree char *broker_exe = NULL;
    g_autofree char *output = NULL;
    g_autofree char *list = g_strdup("1,3,8,32");
    gint ops = 400, batch = 50, idle_s = 5;
    GOptionEntry entries[] = {
        { "broker", 0, 0, G_OPTION_ARG_FILENAME, &broker_exe,
          "dcd-broker to run (default: the build's)", "PATH" },
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
          "JSON results (default bench-results/cluster-scale.json)",
          "FILE" },
        { "brokers", 0, 0, G_OPTION_ARG_STRING, &list,
          "broker counts (default 1,3,8,32)", "N,..." },
        { "ops", 0, 0, G_OPTION_ARG_INT, &ops,
          "timed adds per kind and broker count (default 400)", "N" },
        { "batch", 0, 0, G_OPTION_ARG_INT, &batch,
          "pools made, then released and destroyed, together (default 50)",
          "N" },
        { "idle", 0, 0, G_OPTION_ARG_INT, &idle_s,
          "seconds of idle counting per broker count (default 5)", "S" },
        { NULL }
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "- extent add latency and etcd requests against brokers in a"
        " cluster");
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) nlist = NULL;
    g_autofree SetResult *sets = NULL;
    g_autofree char *kernel = bench_kernel_release();
    g_autofree char *cpu = bench_cpu_model();
    g_autofree char *device = NULL;
    g_autofree char *etcd_ver = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(now);
    double load0[3] = { 0 }, load1[3] = { 0 }, run_t0 = bench_now_us();
    Phase journal = { 0 };
    unsigned nsets;
    double j50, one50 = 0;
    int fd;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!g_option_context_parse(oc, &argc, &argv, &err)) {
        g_printerr("%s: %s\n", prog, err->message);
        return 2;
    }
    if (ops < 1 || batch < 1 || batch > 256 || idle_s < 0) {
        g_printerr("%s: --ops must be positive, --batch 1 to 256\n", prog);
        return 2;
    }
    nlist = g_strsplit(list, ",", 0);
    nsets = g_strv_length(nlist);
    sets = g_new0(SetResult, nsets);
    for (unsigned i = 0; i < nsets; i++) {
        sets[i].brokers = atoi(nlist[i]);
        if (sets[i].brokers < 1 || sets[i].brokers > 256) {
            g_printerr("%s: bad broker count '%s'\n", prog, nlist[i]);
            return 2;
        }
    }
    if (!broker_exe) {
        broker_exe = bench_default_broker();
    }
    if (!output) {
        g_mkdir_with_parents("bench-results", 0755);
        output = g_strdup("bench-results/cluster-scale.json");
    }
    bench_raise_nofile();
    bench_init(prog);
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    getloadavg(load0, 3);
    http = soup_session_new();

    /* tmpfs when there is one: etcd's fsyncs are not what we measure. */
    base_dir = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ?
               g_mkdtemp(g_strdup("/dev/shm/dcd-scale-XXXXXX")) : NULL;
    if (!base_dir) {
        base_dir = g_dir_make_tmp("dcd-scale-XXXXXX", &err);
        if (!base_dir) {
            bench_die("%s", err->message);
        }
    }
    device = g_build_filename(base_dir, "device", NULL);
    fd = open(device, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ftruncate(fd, DEVICE_SIZE) < 0) {
        bench_die("%s: %s", device, g_strerror(errno));
    }
    close(fd);
    etcd_start();
    etcd_ver = etcd_version();
    g_printerr("%s: etcd %s, 3 members up; %d adds per kind and broker"
               " count\n", prog, etcd_ver, ops);

    /* Today's single broker: its journal on the same tmpfs, no etcd. */
    {
        Cluster *c = cluster_start(broker_exe, device, 1, true);

        run_phase(c, false, ops, batch, false, &journal);
        journal.brokers = 0;
        cluster_stop(c);
    }
    j50 = journal.add.p50;

    for (unsigned s = 0; s < nsets; s++) {
        SetResult *r = &sets[s];
        Counts c0, c1;
        double t0 = bench_now_us();
        Cluster *c;

        c = cluster_start(broker_exe, device, r->brokers, false);
        r->start_s = (bench_now_us() - t0) / 1e6;
        /* What the brokers ask of etcd when nobody asks anything. */
        r->idle_s = idle_s;
        counts_take(c, &c0);
        g_usleep(idle_s * G_USEC_PER_SEC);
        counts_take(c, &c1);
        counts_add_delta(&r->idle, &c0, &c1);
        run_phase(c, false, ops, batch, true, &r->same);
        if (r->brokers > 1) {
            run_phase(c, true, ops, batch, true, &r->cross);
        }
        cluster_stop(c);
        etcd_wipe();
        if (r->brokers == 1) {
            one50 = r->same.add.p50;
        }
    }
    getloadavg(load1, 3);

    /* ---- table ---- */
    printf("cluster-scale  %s  nproc %d  %s  etcd %s\n", stamp,
           g_get_num_processors(), kernel, etcd_ver);
    printf("load average at start %.2f %.2f %.2f, at end %.2f %.2f %.2f;"
           " run %.0f s\n\n", load0[0], load0[1], load0[2], load1[0],
           load1[1], load1[2], (bench_now_us() - run_t0) / 1e6);
    printf("extent-add {\"wait\": true} of a fresh 2 MiB device pool to"
           " one host (hostclient,\naccept all); 3 etcd members on tmpfs;"
           " etcd-w: one single-key txn after each add.\nms; add/e: add p50"
           " over etcd-w p50; extra round trips = (add p50 - base) /\n"
           "etcd-w p50, base the journal's single broker (xJ) or the"
           " 1-broker cluster (x1);\nper add: etcd requests (req; txn of"
           " them), watch messages etcd sent (wch),\nthe brokers' store"
           " requests less keepalives (brk), all brokers' CPU ms (cpu)\n\n");
    printf("%7s %-10s %4s %3s %7s %7s %7s %6s %6s %6s %6s %6s %5s %5s %6s"
           " %6s %6s\n", "brokers", "add", "ops", "bad", "p50", "p99",
           "mean", "etcd-w", "e-p99", "add/e", "xJ", "x1", "req", "txn",
           "wch", "brk", "cpu");
    printf("%7s %-10s %4u %3u %7.2f %7.2f %7.2f %6.2f %6.2f   (single"
           " broker, journal, no etcd)\n", "-", "journal", journal.ops,
           journal.failed, ms(journal.add.p50), ms(journal.add.p99),
           ms(journal.add.mean), ms(journal.etcd.p50),
           ms(journal.etcd.p99));
    for (unsigned s = 0; s < nsets; s++) {
        print_phase("same-node", &sets[s].same, j50, one50);
        print_phase("cross-node", &sets[s].cross, j50, one50);
    }
    printf("\nidle (nothing asked), per second: etcd requests, keepalives,"
           " watch messages\n");
    for (unsigned s = 0; s < nsets; s++) {
        const Counts *i = &sets[s].idle;
        double t = MAX(sets[s].idle_s, 1);

        printf("  %2u brokers (started in %.1f s): %.1f, %.1f, %.1f\n",
               sets[s].brokers, sets[s].start_s,
               (i->txn + i->range + i->put + i->del) / t, i->keepalive / t,
               i->watch_sent / t);
    }

    printf("\npool-destroy refused with `state` (tried again; untimed),"
           " same-node / cross-node\n");
    for (unsigned s = 0; s < nsets; s++) {
        printf("  %2u brokers: %u / %u of %u each\n", sets[s].brokers,
               sets[s].same.destroy_state, sets[s].cross.destroy_state,
               ops);
    }

    /* ---- goals ---- */
    printf("\ngoals (latency: p50s, extra round trips over the journal's"
           " single broker)\n");
    for (unsigned s = 0; s < nsets; s++) {
        const SetResult *r = &sets[s];

        printf("  %2u brokers: same-node %+.1f (goal <= 2: %s)", r->brokers,
               extra_rt(&r->same, j50),
               extra_rt(&r->same, j50) <= 2 ? "met" : "MISSED");
        if (r->cross.run) {
            printf(", cross-node %+.1f (goal <= 4: %s)",
                   extra_rt(&r->cross, j50),
                   extra_rt(&r->cross, j50) <= 4 ? "met" : "MISSED");
        }
        printf("\n      by count: etcd txns per add %.1f same-node",
               (r->same.d.txn - r->same.probes) / r->same.ops);
        if (r->cross.run) {
            printf(", %.1f cross-node (goals: 2 and 4)",
                   (r->cross.d.txn - r->cross.probes) / r->cross.ops);
        }
        printf("\n");
    }

    /* ---- JSON ---- */
    {
        g_autoptr(JsonBuilder) jb = json_builder_new();

        json_builder_begin_object(jb);
        dcd_json_str(jb, "benchmark", "cluster-scale");
        dcd_json_str(jb, "timestamp", stamp);
        json_builder_set_member_name(jb, "machine");
        json_builder_begin_object(jb);
        dcd_json_int(jb, "nproc", g_get_num_processors());
        dcd_json_str(jb, "kernel", kernel);
        dcd_json_str(jb, "cpu", cpu);
        bench_json_loadavg(jb, "loadavg-at-start", load0);
        bench_json_loadavg(jb, "loadavg-at-end", load1);
        json_builder_end_object(jb);
        json_builder_set_member_name(jb, "setup");
        json_builder_begin_object(jb);
        dcd_json_str(jb, "etcd-version", etcd_ver);
        dcd_json_int(jb, "etcd-members", MEMBERS);
        dcd_json_str(jb, "etcd", "members on loopback, data on tmpfs,"
                     " --max-txn-ops 2048, compaction every 1000 revisions;"
                     " one etcd for the whole run, /dcd/v1/ wiped between"
                     " broker counts; brokers ask member 0 first");
        dcd_json_str(jb, "brokers", "a fresh set per count, nodes n0..,"
                     " --shared-device on one 1 GiB sparse file, default"
                     " --lease-ttl and --store-timeout, --metrics");
        dcd_json_str(jb, "hosts", "one hostclient host per broker, host-id"
                     " k on broker k, accept all");
        dcd_json_str(jb, "method", "pool-create (2 MiB, device) untimed;"
                     " timed extent-add wait=true (same-node: asked of the"
                     " host's broker, pool made there; cross-node: asked of"
                     " broker 0, pool made there, host on broker 1..N-1);"
                     " after each add one timed single-key etcd txn;"
                     " extent-release wait=true and pool-destroy untimed,"
                     " batched");
        dcd_json_str(jb, "counts", "etcd: gRPC messages received by method,"
                     " summed over members, over the timed parts only, less"
                     " our own probe txns; brokers:"
                     " dcd_store_requests_total{backend=etcd} summed, less"
                     " the lease keepalives etcd received (a broker counts"
                     " each watch message it receives as a request)");
        dcd_json_int(jb, "ops", ops);
        dcd_json_int(jb, "batch", batch);
        json_builder_end_object(jb);
        json_phase(jb, "journal", &journal, 0, 0);
        json_builder_set_member_name(jb, "sets");
        json_builder_begin_array(jb);
        for (unsigned s = 0; s < nsets; s++) {
            const SetResult *r = &sets[s];

            json_builder_begin_object(jb);
            dcd_json_int(jb, "brokers", r->brokers);
            dcd_json_double(jb, "start-s", r->start_s);
            dcd_json_double(jb, "idle-s", r->idle_s);
            json_counts(jb, "idle", &r->idle);
            json_phase(jb, "same-node", &r->same, j50, one50);
            json_phase(jb, "cross-node", &r->cross, j50, one50);
            json_builder_end_object(jb);
        }
        json_builder_end_array(jb);
        json_builder_end_object(jb);
        if (!bench_json_write(jb, output, &err)) {
            bench_die("%s: %s", output, err->message);
        }
        printf("\nresults: %s\n", output);
    }
    return 0;
}
