/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-bench.c - benchmark of a real dcd-broker process.
 *
 * Owns: running many hosts (hostclient, accept all) on a thread of their
 * own with their own GMainContext while the main thread makes blocking
 * control calls to a broker (started by benchlib.c on a fresh temporary
 * state dir), and the measurements:
 *   - add-then-accept latency (extent-add with "wait") for N hosts
 *     connected at once, with the broker's CPU time and RSS per phase;
 *   - broker RSS at 0, 10k and 100k live accepted extents.
 * Results go to stdout as a table and to a JSON file.  This is a
 * benchmark: nothing here passes or fails on speed.
 *
 * With --host-proc it is only a host process: the RSS phase puts its
 * hosts in a few of these, because each accepted extent is one mapping
 * and one process may hold only vm.max_map_count of them.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <json-glib/json-glib.h>

#include "benchlib.h"
#include "dcd-client/hostclient.h"
#include "dcd/json.h"

#define MIB (1024ull * 1024)
#define BLOCK (2 * MIB)
#define REGION_LEN (1ull << 40)     /* 1 TiB per host: sparse, never touched */
#define WAIT_S 120
#define CONNECT_WAIT_S 20

/* ---- hosts: a thread with its own main context ------------------------- */

typedef struct Hosts {
    char *sock;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    GPtrArray *cores;           /* host thread only */
    GMutex lock;
    GCond cond;
    /* under lock */
    guint64 connected;
    guint64 disconnects;
    guint64 accepted;
    guint64 released;
} Hosts;

typedef struct HostsAdd {
    Hosts *hs;
    unsigned first;
    unsigned count;
} HostsAdd;

static void hosts_bump(Hosts *hs, guint64 *counter, gint64 delta)
{
    g_mutex_lock(&hs->lock);
    *counter += delta;
    g_cond_broadcast(&hs->cond);
    g_mutex_unlock(&hs->lock);
}

static void ev_connected(DcdHostClient *h, bool reconnected, gpointer opaque)
{
    Hosts *hs = opaque;

    hosts_bump(hs, &hs->connected, 1);
}

static void ev_disconnected(DcdHostClient *h, const GError *why,
                            gpointer opaque)
{
    Hosts *hs = opaque;

    g_printerr("dcd-bench: host %u disconnected: %s\n", dcd_hostclient_id(h),
               why ? why->message : "closed");
    hosts_bump(hs, &hs->disconnects, 1);
}

static void ev_accepted(DcdHostClient *h, const DcdHostClientExtent *x,
                        gpointer opaque)
{
    Hosts *hs = opaque;

    hosts_bump(hs, &hs->accepted, 1);
}

static void ev_released(DcdHostClient *h, const DcdHostClientExtent *x,
                        bool forced, gpointer opaque)
{
    Hosts *hs = opaque;

    hosts_bump(hs, &hs->released, 1);
}

static const DcdHostClientEvents host_events = {
    .connected = ev_connected,
    .disconnected = ev_disconnected,
    .accepted = ev_accepted,
    .released = ev_released,
};

/* Runs on the host thread. */
static gboolean hosts_add_cb(gpointer opaque)
{
    HostsAdd *a = opaque;
    Hosts *hs = a->hs;
    static const struct dcd_region region = {
        .base = 0, .len = REGION_LEN, .block_size = BLOCK,
        .flags = DCD_REGION_SHARABLE,
    };

    for (unsigned i = 0; i < a->count; i++) {
        g_autofree char *name = g_strdup_printf("bench%u", a->first + i);
        DcdHostClientConfig cfg = {
            .socket_path = hs->sock,
            .host_id = a->first + i,
            .name = name,
            .regions = &region,
            .nregions = 1,
            .policy = DCD_HOST_ACCEPT_ALL,
            .ctx = hs->ctx,
        };
        DcdHostClient *h = dcd_hostclient_new(&cfg, &host_events, hs);

        g_ptr_array_add(hs->cores, h);
        dcd_hostclient_start(h);
    }
    g_free(a);
    return G_SOURCE_REMOVE;
}

static gboolean hosts_stop_cb(gpointer opaque)
{
    Hosts *hs = opaque;

    g_ptr_array_set_size(hs->cores, 0);
    g_main_loop_quit(hs->loop);
    return G_SOURCE_REMOVE;
}

static gpointer hosts_thread(gpointer opaque)
{
    Hosts *hs = opaque;

    g_main_context_push_thread_default(hs->ctx);
    g_main_loop_run(hs->loop);
    g_main_context_pop_thread_default(hs->ctx);
    return NULL;
}

static Hosts *hosts_new(const char *sock)
{
    Hosts *hs = g_new0(Hosts, 1);

    hs->sock = g_strdup(sock);
    hs->ctx = g_main_context_new();
    hs->loop = g_main_loop_new(hs->ctx, FALSE);
    hs->cores = g_ptr_array_new_with_free_func(
        (GDestroyNotify)dcd_hostclient_free);
    g_mutex_init(&hs->lock);
    g_cond_init(&hs->cond);
    hs->thread = g_thread_new("hosts", hosts_thread, hs);
    return hs;
}

static void hosts_free(Hosts *hs)
{
    g_main_context_invoke(hs->ctx, hosts_stop_cb, hs);
    g_thread_join(hs->thread);
    g_ptr_array_unref(hs->cores);
    g_main_loop_unref(hs->loop);
    g_main_context_unref(hs->ctx);
    g_mutex_clear(&hs->lock);
    g_cond_clear(&hs->cond);
    g_free(hs->sock);
    g_free(hs);
}

/* Read one of the counters. */
static guint64 hosts_get(Hosts *hs, guint64 *counter)
{
    guint64 v;

    g_mutex_lock(&hs->lock);
    v = *counter;
    g_mutex_unlock(&hs->lock);
    return v;
}

/* Wait until *counter >= want; false after timeout_s seconds. */
static bool hosts_wait(Hosts *hs, guint64 *counter, guint64 want,
                       int timeout_s)
{
    gint64 end = g_get_monotonic_time() + timeout_s * G_TIME_SPAN_SECOND;
    bool ok = true;

    g_mutex_lock(&hs->lock);
    while (*counter < want && ok) {
        ok = g_cond_wait_until(&hs->cond, &hs->lock, end);
    }
    ok = *counter >= want;
    g_mutex_unlock(&hs->lock);
    return ok;
}

/*
 * Start hosts first..first+count-1, burst at a time, and wait until all
 * are connected.
 */
static void hosts_add(Hosts *hs, unsigned first, unsigned count,
                      unsigned burst)
{
    for (unsigned off = 0; off < count; off += burst) {
        HostsAdd *a = g_new0(HostsAdd, 1);
        unsigned n = MIN(burst, count - off);
        guint64 want = hosts_get(hs, &hs->connected) + n;

        a->hs = hs;
        a->first = first + off;
        a->count = n;
        g_main_context_invoke(hs->ctx, hosts_add_cb, a);
        if (!hosts_wait(hs, &hs->connected, want, CONNECT_WAIT_S)) {
            g_printerr("dcd-bench: only %" G_GUINT64_FORMAT " of %"
                       G_GUINT64_FORMAT " hosts connected\n",
                       hosts_get(hs, &hs->connected), want);
            exit(1);
        }
    }
}

/* ---- control calls ----------------------------------------------------- */

static void extent_release(BenchBroker *b, unsigned host, const char *tag)
{
    JsonObject *a = bench_args_tag(tag);

    json_object_set_int_member(a, "host-id", host);
    json_node_unref(bench_call(b, "extent-release", a));
}

/* Extents of an extent-add reply that ended accepted. */
static unsigned count_accepted(JsonNode *n)
{
    return bench_count_accepted(json_object_get_array_member(
        json_node_get_object(n), "extents"));
}

/* ---- latency phase ----------------------------------------------------- */

typedef struct LatResult {
    unsigned hosts;
    unsigned ops;
    unsigned failed;            /* replies with an extent not accepted */
    double wall_s;              /* timed part only */
    double p50_us, p99_us, max_us, mean_us;
    double cpu_timed_s;         /* broker, timed part */
    double cpu_phase_s;         /* broker, whole phase with setup/teardown */
    BenchProcSample end;
} LatResult;

static void run_latency(BenchBroker *b, Hosts *hs, unsigned nhosts,
                        unsigned ops, unsigned batch, LatResult *r)
{
    g_autofree double *lat = g_new0(double, ops);
    BenchStats st;
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);
    BenchProcSample s0, s1, p0;
    guint64 released = hosts_get(hs, &hs->released);

    memset(r, 0, sizeof(*r));
    r->hosts = nhosts;
    r->ops = ops;
    bench_proc_sample(b->pid, &p0);
    for (unsigned done = 0; done < ops;) {
        unsigned n = MIN(batch, ops - done);
        double t_batch;

        /* untimed setup */
        g_ptr_array_set_size(tags, 0);
        for (unsigned i = 0; i < n; i++) {
            g_ptr_array_add(tags, bench_pool_create(b, BLOCK));
        }
        /* timed */
        bench_proc_sample(b->pid, &s0);
        t_batch = bench_now_us();
        for (unsigned i = 0; i < n; i++) {
            JsonObject *a = bench_args_tag(tags->pdata[i]);
            g_autoptr(JsonNode) res = NULL;
            double t0;

            json_object_set_int_member(a, "host-id", (done + i) % nhosts);
            json_object_set_boolean_member(a, "wait", TRUE);
            t0 = bench_now_us();
            res = bench_call(b, "extent-add", a);
            lat[done + i] = bench_now_us() - t0;
            r->failed += count_accepted(res) != 1;
        }
        r->wall_s += (bench_now_us() - t_batch) / 1e6;
        bench_proc_sample(b->pid, &s1);
        r->cpu_timed_s += s1.cpu_s - s0.cpu_s;
        /* untimed teardown */
        for (unsigned i = 0; i < n; i++) {
            extent_release(b, (done + i) % nhosts, tags->pdata[i]);
        }
        released += n;
        if (!hosts_wait(hs, &hs->released, released, WAIT_S)) {
            g_printerr("dcd-bench: hosts did not release in time\n");
            exit(1);
        }
        for (unsigned i = 0; i < n; i++) {
            bench_pool_destroy(b, tags->pdata[i]);
        }
        done += n;
    }
    bench_proc_sample(b->pid, &r->end);
    r->cpu_phase_s = r->end.cpu_s - p0.cpu_s;
    bench_stats(lat, ops, &st);
    r->mean_us = st.mean;
    r->p50_us = st.p50;
    r->p99_us = st.p99;
    r->max_us = st.max;
}

/* ---- RSS phase --------------------------------------------------------- */

typedef struct RssPoint {
    unsigned extents;
    double time_s;              /* since the first pool-create */
    double cpu_s;               /* broker, since the first pool-create */
    BenchProcSample s;
} RssPoint;

typedef struct HostProc {
    GSubprocess *proc;
    GDataInputStream *out;
} HostProc;

static HostProc *host_proc_start(const char *self, const char *sock,
                                 unsigned first, unsigned count)
{
    HostProc *hp = g_new0(HostProc, 1);
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr(GError) err = NULL;
    g_autofree char *a_sock = g_strdup_printf("--socket=%s", sock);
    g_autofree char *a_first = g_strdup_printf("--first-id=%u", first);
    g_autofree char *a_count = g_strdup_printf("--count=%u", count);
    g_autofree char *line = NULL;

    g_subprocess_launcher_set_child_setup(l, bench_die_with_parent, NULL,
                                          NULL);
    hp->proc = g_subprocess_launcher_spawn(l, &err, self, "--host-proc",
                                           a_sock, a_first, a_count, NULL);
    if (!hp->proc) {
        g_printerr("dcd-bench: host process: %s\n", err->message);
        exit(1);
    }
    hp->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(hp->proc));
    line = g_data_input_stream_read_line(hp->out, NULL, NULL, &err);
    if (!line || !g_str_equal(line, "ready")) {
        g_printerr("dcd-bench: host process %u.. did not get ready\n", first);
        exit(1);
    }
    return hp;
}

static void host_proc_stop(HostProc *hp)
{
    g_output_stream_close(g_subprocess_get_stdin_pipe(hp->proc), NULL, NULL);
    g_subprocess_wait(hp->proc, NULL, NULL);
    g_object_unref(hp->out);
    g_object_unref(hp->proc);
    g_free(hp);
}

/* A prescriptive add of every block of a pool of n blocks at offset off. */
static unsigned add_pool_blocks(BenchBroker *b, unsigned host, const char *tag,
                                uint64_t off, unsigned n)
{
    JsonObject *a = bench_args_tag(tag);
    JsonArray *ranges = json_array_sized_new(n);
    g_autoptr(JsonNode) res = NULL;

    for (unsigned i = 0; i < n; i++) {
        JsonObject *r = json_object_new();

        json_object_set_int_member(r, "offset", off + i * BLOCK);
        json_object_set_int_member(r, "len", BLOCK);
        json_array_add_object_element(ranges, r);
    }
    json_object_set_int_member(a, "host-id", host);
    json_object_set_string_member(a, "policy", "prescriptive");
    json_object_set_array_member(a, "extents", ranges);
    json_object_set_boolean_member(a, "wait", TRUE);
    json_object_set_int_member(a, "timeout-ms", WAIT_S * 1000);
    res = bench_call(b, "extent-add", a);
    return count_accepted(res);
}

static unsigned run_rss(BenchBroker *b, const char *self, unsigned first_id,
                        unsigned nhosts, unsigned nprocs, unsigned per_pool,
                        const unsigned *marks, unsigned nmarks, RssPoint *pts)
{
    g_autoptr(GPtrArray) procs = g_ptr_array_new();
    unsigned total = marks[nmarks - 1];
    unsigned npools = total / per_pool;
    unsigned accepted = 0, m = 0;
    g_autofree unsigned *next_block = g_new0(unsigned, nhosts);
    double t0;

    for (unsigned p = 0; p < nprocs; p++) {
        unsigned lo = nhosts * p / nprocs, hi = nhosts * (p + 1) / nprocs;

        g_ptr_array_add(procs, host_proc_start(self, b->host_sock,
                                               first_id + lo, hi - lo));
    }
    t0 = bench_now_us();
    for (unsigned j = 0; j <= npools && m < nmarks; j++) {
        unsigned host;
        g_autofree char *tag = NULL;

        while (m < nmarks && accepted >= marks[m]) {
            pts[m].extents = accepted;
            pts[m].time_s = (bench_now_us() - t0) / 1e6;
            bench_proc_sample(b->pid, &pts[m].s);
            m++;
        }
        if (j == npools) {
            break;
        }
        host = j % nhosts;
        tag = bench_pool_create(b, (uint64_t)per_pool * BLOCK);
        accepted += add_pool_blocks(b, first_id + host, tag,
                                    (uint64_t)next_block[host] * BLOCK,
                                    per_pool);
        next_block[host] += per_pool;
    }
    for (unsigned i = 0; i < nmarks; i++) {
        pts[i].cpu_s = pts[i].s.cpu_s - pts[0].s.cpu_s;
    }
    for (guint i = 0; i < procs->len; i++) {
        host_proc_stop(procs->pdata[i]);
    }
    return accepted;
}

/* ---- --host-proc ------------------------------------------------------- */

static int host_proc_main(const char *sock, unsigned first, unsigned count,
                          unsigned burst)
{
    Hosts *hs = hosts_new(sock);
    char buf[64];

    hosts_add(hs, first, count, burst);
    printf("ready\n");
    fflush(stdout);
    /* Hosts run on their thread until the bench closes our stdin. */
    while (fgets(buf, sizeof(buf), stdin)) {
        /* nothing to do */
    }
    hosts_free(hs);
    return 0;
}

/* ---- output ------------------------------------------------------------ */

static double mib(guint64 kib)
{
    return kib / 1024.0;
}

static void add_sample(JsonBuilder *jb, const BenchProcSample *s)
{
    json_builder_set_member_name(jb, "broker-cpu-s");
    json_builder_add_double_value(jb, s->cpu_s);
    json_builder_set_member_name(jb, "vm-rss-kib");
    json_builder_add_int_value(jb, s->rss_kib);
    json_builder_set_member_name(jb, "vm-hwm-kib");
    json_builder_add_int_value(jb, s->hwm_kib);
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
    g_autofree char *broker_exe = NULL;
    g_autofree char *output = NULL;
    g_autofree char *hosts_list = g_strdup("1,8,64,256");
    g_autofree char *sock = NULL;
    g_autofree char *self = NULL;
    g_auto(GStrv) broker_args = NULL;
    gboolean host_proc = FALSE;
    gint ops = 2000, batch = 256, first_id = 0, count = 0, burst = 1024;
    gint rss_extents = 100000, rss_hosts = 10, rss_procs = 2;
    gint rss_per_pool = 1000, pause_s = 0;
    GOptionEntry entries[] = {
        { "broker", 0, 0, G_OPTION_ARG_FILENAME, &broker_exe,
          "dcd-broker executable", "PATH" },
        { "broker-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &broker_args,
          "pass an option to the broker (repeatable), e.g. --no-state", "ARG" },
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
          "write JSON results here", "FILE" },
        { "hosts", 0, 0, G_OPTION_ARG_STRING, &hosts_list,
          "host counts for the latency phases (default 1,8,64,256)", "N,..." },
        { "ops", 0, 0, G_OPTION_ARG_INT, &ops,
          "extent-adds per latency phase (default 2000)", "N" },
        { "batch", 0, 0, G_OPTION_ARG_INT, &batch,
          "pools set up and torn down together, untimed (default 256)", "N" },
        { "connect-burst", 0, 0, G_OPTION_ARG_INT, &burst,
          "hosts connecting at once (default: all of them)", "N" },
        { "rss-extents", 0, 0, G_OPTION_ARG_INT, &rss_extents,
          "live extents for the last RSS point (default 100000; 0 skips)",
          "N" },
        { "rss-hosts", 0, 0, G_OPTION_ARG_INT, &rss_hosts,
          "hosts holding them (default 10)", "N" },
        { "rss-procs", 0, 0, G_OPTION_ARG_INT, &rss_procs,
          "host processes for them (default 2)", "N" },
        { "rss-per-pool", 0, 0, G_OPTION_ARG_INT, &rss_per_pool,
          "2 MiB extents per pool (default 1000)", "N" },
        { "restart-pause", 0, 0, G_OPTION_ARG_INT, &pause_s,
          "keep the restarted broker this long, to inspect it", "S" },
        { "host-proc", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &host_proc,
          NULL, NULL },
        { "socket", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &sock,
          NULL, NULL },
        { "first-id", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &first_id,
          NULL, NULL },
        { "count", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &count,
          NULL, NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "- benchmark a dcd-broker process");
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) nlist = NULL;
    g_autofree LatResult *lat = NULL;
    RssPoint pts[3] = { 0 };
    unsigned marks[3] = { 0, 10000, 100000 };
    unsigned nmarks = 0, rss_got = 0, nphases, max_hosts = 0, connected = 0;
    g_autofree char *kernel = bench_kernel_release();
    g_autofree char *cpu = bench_cpu_model();
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(now);
    double load[3] = { 0 };
    BenchProcSample idle, rss_idle = { 0 }, restart = { 0 };
    g_autofree char *dir = NULL;
    double restart_s = 0, t;
    BenchBroker *b;
    Hosts *hs;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!g_option_context_parse(oc, &argc, &argv, &err)) {
        g_printerr("dcd-bench: %s\n", err->message);
        return 2;
    }
    bench_raise_nofile();
    bench_init("dcd-bench");
    if (host_proc) {
        burst = MAX(burst, 1);
        return host_proc_main(sock, first_id, count, burst);
    }
    if (!broker_exe || ops < 1 || batch < 1 || burst < 1 || rss_hosts < 1 ||
        rss_procs < 1 || rss_per_pool < 1 || rss_per_pool > 1024) {
        g_printerr("dcd-bench: --broker is required; counts must be"
                   " positive (--rss-per-pool at most 1024)\n");
        return 2;
    }
    self = g_file_read_link("/proc/self/exe", NULL);
    getloadavg(load, 3);

    nlist = g_strsplit(hosts_list, ",", 0);
    nphases = g_strv_length(nlist);
    lat = g_new0(LatResult, nphases);

    b = bench_broker_start(broker_exe, broker_args, NULL);
    hs = hosts_new(b->host_sock);
    bench_proc_sample(b->pid, &idle);

    for (unsigned i = 0; i < nphases; i++) {
        unsigned n = atoi(nlist[i]);

        if (n < 1 || n > 60000) {
            g_printerr("dcd-bench: bad host count '%s'\n", nlist[i]);
            return 2;
        }
        /* Hosts 0..n-1; those of earlier phases stay connected. */
        if (n > connected) {
            hosts_add(hs, connected, n - connected, burst);
            connected = n;
        }
        max_hosts = MAX(max_hosts, connected);
        run_latency(b, hs, n, ops, batch, &lat[i]);
    }
    hosts_free(hs);
    bench_broker_stop(b, false);
    b = NULL;

    if (rss_extents > 0) {
        marks[1] = MIN(10000u, (unsigned)rss_extents);
        marks[2] = rss_extents;
        nmarks = marks[1] == marks[2] ? 2 : 3;
        if (rss_extents % rss_per_pool || marks[1] % rss_per_pool) {
            g_printerr("dcd-bench: --rss-extents must be a multiple of"
                       " --rss-per-pool\n");
            return 2;
        }
        /* A fresh broker, so the points show what extents cost. */
        b = bench_broker_start(broker_exe, broker_args, NULL);
        bench_proc_sample(b->pid, &rss_idle);
        rss_got = run_rss(b, self, 0, rss_hosts, rss_procs, rss_per_pool,
                          marks, nmarks, pts);
        /* Restart on that state: loading replays and compacts it. */
        dir = g_strdup(b->dir);
        bench_broker_stop(b, true);
        t = bench_now_us();
        b = bench_broker_start(broker_exe, broker_args, dir);
        restart_s = (bench_now_us() - t) / 1e6;
        bench_proc_sample(b->pid, &restart);
        if (pause_s > 0) {
            g_printerr("dcd-bench: restarted broker is pid %d; pausing %d s\n",
                       b->pid, pause_s);
            g_usleep(pause_s * G_USEC_PER_SEC);
        }
        bench_broker_stop(b, false);
    }

    /* ---- table ---- */
    printf("dcd-broker benchmark  %s  nproc %d  %s\n", stamp,
           g_get_num_processors(), kernel);
    printf("load average at start: %.2f %.2f %.2f\n\n", load[0], load[1],
           load[2]);
    printf("add-then-accept: extent-add {\"wait\": true} of a fresh 2 MiB "
           "memfd pool to host k %% N\n");
    printf("  setup (pool-create) and teardown (extent-release tag-based, "
           "wait for RELEASED,\n  pool-destroy) are untimed, batched every "
           "%d ops; state dir journals every change\n\n", batch);
    printf("%6s %6s %9s %9s %9s %9s %9s %5s %12s %9s\n", "hosts", "ops",
           "ops/s", "mean-us", "p50-us", "p99-us", "max-us", "fail",
           "cpu-us/op", "rss-MiB");
    for (unsigned i = 0; i < nphases; i++) {
        LatResult *r = &lat[i];

        printf("%6u %6u %9.0f %9.1f %9.1f %9.1f %9.1f %5u %12.1f %9.1f\n",
               r->hosts, r->ops, r->ops / r->wall_s, r->mean_us, r->p50_us,
               r->p99_us, r->max_us, r->failed,
               r->cpu_timed_s * 1e6 / r->ops, mib(r->end.rss_kib));
    }
    printf("  cpu-us/op: broker utime+stime over the timed adds only "
           "(clock ticks of %ld Hz)\n", sysconf(_SC_CLK_TCK));
    if (nmarks) {
        printf("\nbroker memory with live accepted extents (%d hosts in %d "
               "processes, pools of %d x 2 MiB, prescriptive)\n", rss_hosts,
               rss_procs, rss_per_pool);
        printf("  a fresh broker; with its hosts connected but no pools, VmRSS"
               " %.1f MiB\n", mib(pts[0].s.rss_kib));
        printf("%9s %9s %9s %9s %11s\n", "extents", "rss-MiB", "hwm-MiB",
               "time-s", "broker-cpu-s");
        for (unsigned i = 0; i < nmarks; i++) {
            printf("%9u %9.1f %9.1f %9.2f %11.2f\n", pts[i].extents,
                   mib(pts[i].s.rss_kib), mib(pts[i].s.hwm_kib),
                   pts[i].time_s, pts[i].cpu_s);
        }
    }

    if (nmarks) {
        printf("  restart on that state dir: ready in %.2f s, VmRSS %.1f MiB,"
               " VmHWM %.1f MiB\n", restart_s, mib(restart.rss_kib),
               mib(restart.hwm_kib));
    }

    /* ---- goals ---- */
    {
        LatResult *r8 = NULL;
        bool rss_ok = nmarks && pts[nmarks - 1].extents >= 100000 &&
                      pts[nmarks - 1].s.rss_kib < 64 * 1024;

        for (unsigned i = 0; i < nphases; i++) {
            if (lat[i].hosts == 8) {
                r8 = &lat[i];
            }
        }
        printf("\ngoals\n");
        if (r8) {
            printf("  p99 add-then-accept < 1 ms with 8 hosts: %s "
                   "(%.1f us)\n", r8->p99_us < 1000 ? "met" : "MISSED",
                   r8->p99_us);
        }
        printf("  256 hosts connected at once: %s (%u)\n",
               max_hosts >= 256 ? "met" : "not run", max_hosts);
        if (nmarks && pts[nmarks - 1].extents >= 100000) {
            printf("  RSS < 64 MiB at 100k extents: %s (%.1f MiB)\n",
                   rss_ok ? "met" : "MISSED",
                   mib(pts[nmarks - 1].s.rss_kib));
            printf("    after a restart on that state: %.1f MiB (peak %.1f)\n",
                   mib(restart.rss_kib), mib(restart.hwm_kib));
        } else {
            printf("  RSS < 64 MiB at 100k extents: not run\n");
        }
    }

    /* ---- JSON ---- */
    if (output) {
        g_autoptr(JsonBuilder) jb = json_builder_new();

        json_builder_begin_object(jb);
        dcd_json_str(jb, "timestamp", stamp);
        json_builder_set_member_name(jb, "machine");
        json_builder_begin_object(jb);
        dcd_json_int(jb, "nproc", g_get_num_processors());
        dcd_json_str(jb, "kernel", kernel);
        dcd_json_str(jb, "cpu", cpu);
        bench_json_loadavg(jb, "loadavg-at-start", load);
        dcd_json_int(jb, "clock-ticks-per-s", sysconf(_SC_CLK_TCK));
        json_builder_end_object(jb);

        json_builder_set_member_name(jb, "broker-idle");
        json_builder_begin_object(jb);
        add_sample(jb, &idle);
        json_builder_end_object(jb);

        json_builder_set_member_name(jb, "add-then-accept");
        json_builder_begin_object(jb);
        dcd_json_str(jb, "method", "extent-add with wait=true of a fresh"
                     " 2 MiB memfd pool (policy free) to host k % N; latency"
                     " is the blocking control call's round trip");
        dcd_json_str(jb, "setup-teardown", "untimed, batched: pool-create"
                     " of a batch, timed adds, then extent-release"
                     " tag-based, wait for the hosts' RELEASED,"
                     " pool-destroy");
        dcd_json_int(jb, "batch", batch);
        dcd_json_bool(jb, "state-dir", true);
        json_builder_set_member_name(jb, "phases");
        json_builder_begin_array(jb);
        for (unsigned i = 0; i < nphases; i++) {
            LatResult *r = &lat[i];

            json_builder_begin_object(jb);
            dcd_json_int(jb, "hosts", r->hosts);
            dcd_json_int(jb, "ops", r->ops);
            dcd_json_int(jb, "failed", r->failed);
            dcd_json_double(jb, "ops-per-s", r->ops / r->wall_s);
            dcd_json_double(jb, "mean-us", r->mean_us);
            dcd_json_double(jb, "p50-us", r->p50_us);
            dcd_json_double(jb, "p99-us", r->p99_us);
            dcd_json_double(jb, "max-us", r->max_us);
            dcd_json_double(jb, "broker-cpu-timed-s", r->cpu_timed_s);
            dcd_json_double(jb, "broker-cpu-phase-s", r->cpu_phase_s);
            dcd_json_double(jb, "broker-cpu-us-per-op",
                            r->cpu_timed_s * 1e6 / r->ops);
            json_builder_set_member_name(jb, "broker-at-end");
            json_builder_begin_object(jb);
            add_sample(jb, &r->end);
            json_builder_end_object(jb);
            json_builder_end_object(jb);
        }
        json_builder_end_array(jb);
        json_builder_end_object(jb);

        json_builder_set_member_name(jb, "rss");
        json_builder_begin_object(jb);
        dcd_json_int(jb, "hosts", rss_hosts);
        dcd_json_int(jb, "host-processes", rss_procs);
        dcd_json_int(jb, "extents-per-pool", rss_per_pool);
        dcd_json_int(jb, "extents-accepted", rss_got);
        dcd_json_str(jb, "method", "a fresh broker; pools of"
                     " extents-per-pool x 2 MiB memfd, extent-add"
                     " prescriptive with wait=true, round-robin over the"
                     " hosts; time-s counts pool-create and add from the 0"
                     " point");
        json_builder_set_member_name(jb, "broker-fresh");
        json_builder_begin_object(jb);
        add_sample(jb, &rss_idle);
        json_builder_end_object(jb);
        json_builder_set_member_name(jb, "restart");
        json_builder_begin_object(jb);
        dcd_json_double(jb, "ready-s", restart_s);
        add_sample(jb, &restart);
        json_builder_end_object(jb);
        json_builder_set_member_name(jb, "points");
        json_builder_begin_array(jb);
        for (unsigned i = 0; i < nmarks; i++) {
            json_builder_begin_object(jb);
            dcd_json_int(jb, "extents", pts[i].extents);
            dcd_json_double(jb, "time-s", pts[i].time_s);
            dcd_json_double(jb, "broker-cpu-s-since-0", pts[i].cpu_s);
            dcd_json_int(jb, "vm-rss-kib", pts[i].s.rss_kib);
            dcd_json_int(jb, "vm-hwm-kib", pts[i].s.hwm_kib);
            json_builder_end_object(jb);
        }
        json_builder_end_array(jb);
        json_builder_end_object(jb);

        json_builder_set_member_name(jb, "goals");
        json_builder_begin_object(jb);
        for (unsigned i = 0; i < nphases; i++) {
            if (lat[i].hosts == 8) {
                dcd_json_double(jb, "p99-us-8-hosts", lat[i].p99_us);
                dcd_json_bool(jb, "p99-under-1ms-8-hosts",
                              lat[i].p99_us < 1000);
            }
        }
        dcd_json_int(jb, "max-hosts-connected", max_hosts);
        dcd_json_int(jb, "connect-burst", burst);
        if (nmarks) {
            dcd_json_int(jb, "rss-kib-at-last-point",
                         pts[nmarks - 1].s.rss_kib);
            dcd_json_bool(jb, "rss-under-64mib-at-100k",
                          pts[nmarks - 1].extents >= 100000 &&
                          pts[nmarks - 1].s.rss_kib < 64 * 1024);
        }
        json_builder_end_object(jb);
        json_builder_end_object(jb);

        if (!bench_json_write(jb, output, &err)) {
            g_printerr("dcd-bench: %s: %s\n", output, err->message);
            return 1;
        }
        printf("\nresults: %s\n", output);
    }
    return 0;
}
