/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * soak.c - dcd-soak: many add/release cycles against one broker process,
 * watching its memory and fds for growth.
 *
 * Owns: the cycle loop (no kills) over a few memfd pools and N in-process
 * hosts (hostclient, accept all, on a host thread), a sample of the broker's
 * VmRSS and open fd count every --sample-every cycles, and the
 * least-squares slope of each (per 1000 cycles) over all samples and over
 * the second half (after the broker's bounded histories have filled).
 * Each cycle adds one pool to a host (free, contiguous or prescriptive, in
 * turn), shares it with a second host every other cycle, and releases it
 * everywhere (tag-based, prescriptive, forced or host-initiated, in turn);
 * every 1000 cycles a pool is destroyed and created again.  Results: a
 * table on stdout and soak.json in --out.  Nothing passes or fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchlib.h"
#include "dcd-client/hostclient.h"
#include "hostthread.h"
#include "dcd/json.h"

#define KIB 1024ull
#define MIB (1024 * KIB)
#define NPOOLS 16
#define POOL_SIZE (256 * KIB)
#define BLOCK (64 * KIB)
#define WAIT_US (10 * G_USEC_PER_SEC)

static gint opt_cycles = 10000;
static gint opt_hosts = 8;
static gint opt_every = 100;
static char *opt_broker;
static char *opt_out;

static GOptionEntry entries[] = {
    { "cycles", 0, 0, G_OPTION_ARG_INT, &opt_cycles,
      "Add/release cycles (default 10000)", "N" },
    { "hosts", 0, 0, G_OPTION_ARG_INT, &opt_hosts,
      "Hosts (default 8)", "N" },
    { "sample-every", 0, 0, G_OPTION_ARG_INT, &opt_every,
      "Cycles between two samples (default 100)", "N" },
    { "broker", 0, 0, G_OPTION_ARG_FILENAME, &opt_broker,
      "dcd-broker to run (default: the build's, next to this program)",
      "PATH" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &opt_out,
      "Directory for soak.json (default: the current dir)", "DIR" },
    { NULL }
};

static const char *const policies[] = { "free", "contiguous",
                                        "prescriptive" };
static const char *const removals[] = { "tag-based", "prescriptive",
                                        "forced", "host-initiated" };

typedef struct Soak {
    BenchBroker *b;
    BenchHostThread *ht;
    DcdHostClient **hosts;       /* host thread only */
    char *tags[NPOOLS];
    guint64 failed;            /* adds not accepted, releases refused */
    guint64 releases[G_N_ELEMENTS(removals)];
} Soak;

typedef struct Sample {
    unsigned cycle;
    double t_s;
    guint64 rss_kib;
    unsigned fds;
} Sample;

/* ---- hosts ------------------------------------------------------------- */

static void hosts_start_cb(gpointer opaque)
{
    Soak *s = opaque;
    static const struct dcd_region region = {
        .base = 0, .len = 64 * MIB, .block_size = BLOCK,
        .flags = DCD_REGION_SHARABLE,
    };

    for (int i = 0; i < opt_hosts; i++) {
        g_autofree char *name = g_strdup_printf("soak%d", i);
        DcdHostClientConfig cfg = {
            .socket_path = s->b->host_sock,
            .host_id = i,
            .name = name,
            .regions = &region,
            .nregions = 1,
            .policy = DCD_HOST_ACCEPT_ALL,
            .ctx = bench_host_thread_context(s->ht),
        };

        s->hosts[i] = dcd_hostclient_new(&cfg, NULL, NULL);
        dcd_hostclient_start(s->hosts[i]);
    }
}

static void hosts_stop_cb(gpointer opaque)
{
    Soak *s = opaque;

    for (int i = 0; i < opt_hosts; i++) {
        g_clear_pointer(&s->hosts[i], dcd_hostclient_free);
    }
}

typedef struct HostCall {
    Soak *s;
    unsigned host;
    DcdTag tag;
    bool ok;
} HostCall;

static void connected_cb(gpointer opaque)
{
    HostCall *c = opaque;

    c->ok = true;
    for (int i = 0; i < opt_hosts; i++) {
        c->ok = c->ok && dcd_hostclient_is_connected(c->s->hosts[i]);
    }
}

static void drop_cb(gpointer opaque)
{
    HostCall *c = opaque;

    c->ok = dcd_hostclient_drop(c->s->hosts[c->host], &c->tag, NULL, NULL,
                              NULL);
}

/* ---- control calls ----------------------------------------------------- */

static JsonObject *args_host_tag(unsigned host, const char *tag)
{
    JsonObject *a = bench_args_tag(tag);

    json_object_set_int_member(a, "host-id", host);
    return a;
}

/* extent-add with wait; returns the reply's extents (a new reference). */
static JsonArray *add(Soak *s, unsigned host, const char *tag,
                      const char *policy, unsigned cycle)
{
    JsonObject *a = args_host_tag(host, tag);
    g_autoptr(JsonNode) n = NULL;
    JsonArray *ext;

    json_object_set_string_member(a, "policy", policy);
    if (g_str_equal(policy, "prescriptive")) {
        JsonArray *arr = json_array_new();
        JsonObject *r = json_object_new();

        /* The region is empty at the start of a cycle: any place fits. */
        json_object_set_int_member(r, "offset",
                                   (cycle % 64) * POOL_SIZE + BLOCK);
        json_object_set_int_member(r, "len", POOL_SIZE);
        json_array_add_object_element(arr, r);
        json_object_set_array_member(a, "extents", arr);
    }
    json_object_set_boolean_member(a, "wait", TRUE);
    n = bench_call(s->b, "extent-add", a);
    ext = json_object_get_array_member(json_node_get_object(n), "extents");
    if (bench_count_accepted(ext) != json_array_get_length(ext)) {
        s->failed++;
    }
    return json_array_ref(ext);
}

static void release(Soak *s, unsigned host, const char *tag, JsonArray *ext,
                    unsigned how)
{
    JsonObject *a = args_host_tag(host, tag);
    HostCall c = { .s = s, .host = host };
    gint64 end = g_get_monotonic_time() + WAIT_US;

    s->releases[how]++;
    switch (how) {
    case 1: {
        JsonArray *arr = json_array_new();

        for (guint i = 0; i < json_array_get_length(ext); i++) {
            JsonObject *e = json_array_get_object_element(ext, i);
            JsonObject *r = json_object_new();

            json_object_set_int_member(r, "offset",
                                       json_object_get_int_member(e,
                                                                  "offset"));
            json_object_set_int_member(r, "len",
                                       json_object_get_int_member(e, "len"));
            json_array_add_object_element(arr, r);
        }
        json_object_set_string_member(a, "removal", "prescriptive");
        json_object_set_array_member(a, "extents", arr);
        break;
    }
    case 2:
        json_object_set_boolean_member(a, "forced", TRUE);
        break;
    case 3:
        /* The host may still wait for the ack of its ACCEPT. */
        json_object_unref(a);
        dcd_tag_parse(tag, &c.tag);
        for (;;) {
            bench_host_thread_call(s->ht, drop_cb, &c);
            if (c.ok || g_get_monotonic_time() > end) {
                break;
            }
            g_usleep(100);
        }
        s->failed += !c.ok;
        return;
    }
    json_node_unref(bench_call(s->b, "extent-release", a));
}

/* Wait until no host holds tag any more (RELEASED handled). */
static void wait_released(Soak *s, const char *tag)
{
    gint64 end = g_get_monotonic_time() + WAIT_US;

    for (;;) {
        g_autoptr(JsonNode) n = bench_call(s->b, "extent-list",
                                           bench_args_tag(tag));

        if (!json_array_get_length(json_node_get_array(n))) {
            return;
        }
        if (g_get_monotonic_time() > end) {
            bench_die("tag %s is still held %d s after its release", tag,
                      (int)(WAIT_US / G_USEC_PER_SEC));
        }
        g_usleep(100);
    }
}

/* ---- samples ----------------------------------------------------------- */

static unsigned count_fds(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", pid);
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    unsigned n = 0;

    while (d && g_dir_read_name(d)) {
        n++;
    }
    return n;
}

/* Least-squares slope of y over x, for samples [from, to). */
static double slope(const Sample *v, unsigned from, unsigned to, bool fds)
{
    double n = to - from, sx = 0, sy = 0, sxx = 0, sxy = 0;

    if (to - from < 2) {
        return 0;
    }
    for (unsigned i = from; i < to; i++) {
        double x = v[i].cycle, y = fds ? v[i].fds : v[i].rss_kib;

        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) octx = g_option_context_new(
        "- add/release cycles against dcd-broker, watching RSS and fds");
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(GArray) samples = g_array_new(FALSE, FALSE, sizeof(Sample));
    g_autofree char *path = NULL;
    Soak s = { 0 };
    HostCall hc = { .s = &s };
    gint64 t0, end;
    double load[3] = { 0 };
    double rss_all, rss_half, fd_all, fd_half;
    unsigned half;
    Sample *v;

    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &err)) {
        g_printerr("dcd-soak: %s\n", err->message);
        return 2;
    }
    if (opt_hosts < 2 || opt_hosts > 256 || opt_every < 1 ||
        opt_cycles < 1) {
        g_printerr("dcd-soak: need --hosts 2..256, --cycles and"
                   " --sample-every >= 1\n");
        return 2;
    }
    bench_init("dcd-soak");
    if (!opt_broker) {
        opt_broker = bench_default_broker();
    }
    if (!opt_broker || !g_file_test(opt_broker, G_FILE_TEST_IS_EXECUTABLE)) {
        bench_die("no dcd-broker at %s; give --broker",
                  opt_broker ? opt_broker : "(unknown)");
    }
    s.b = bench_broker_start(opt_broker, NULL, NULL);
    s.ht = bench_host_thread_new("hosts");
    s.hosts = g_new0(DcdHostClient *, opt_hosts);
    bench_host_thread_call(s.ht, hosts_start_cb, &s);
    end = g_get_monotonic_time() + WAIT_US;
    do {
        g_usleep(1000);
        bench_host_thread_call(s.ht, connected_cb, &hc);
    } while (!hc.ok && g_get_monotonic_time() < end);
    if (!hc.ok) {
        bench_die("the hosts did not connect");
    }
    for (unsigned i = 0; i < NPOOLS; i++) {
        s.tags[i] = bench_pool_create(s.b, POOL_SIZE);
    }
    printf("dcd-soak: %d cycles on %d hosts, broker pid %d\n", opt_cycles,
           opt_hosts, s.b->pid);
    fflush(stdout);

    t0 = g_get_monotonic_time();
    for (int c = 0; c <= opt_cycles; c++) {
        const char *tag = s.tags[c % NPOOLS];
        unsigned a = c % opt_hosts;
        unsigned b = (c + 3) % opt_hosts;
        unsigned how = (c / 2) % G_N_ELEMENTS(removals);
        g_autoptr(JsonArray) ea = NULL;
        g_autoptr(JsonArray) eb = NULL;

        if (c % opt_every == 0) {
            BenchProcSample ps;
            Sample smp = { .cycle = c,
                           .t_s = (g_get_monotonic_time() - t0) / 1e6 };

            bench_proc_sample(s.b->pid, &ps);
            smp.rss_kib = ps.rss_kib;
            smp.fds = count_fds(s.b->pid);
            g_array_append_val(samples, smp);
            if (c % (opt_every * 20) == 0) {
                printf("dcd-soak: cycle %5d  %6.1f s  VmRSS %6" G_GUINT64_FORMAT
                       " KiB  fds %u\n", c, smp.t_s, smp.rss_kib, smp.fds);
                fflush(stdout);
            }
        }
        if (c == opt_cycles) {
            break;
        }
        ea = add(&s, a, tag, policies[c % G_N_ELEMENTS(policies)], c);
        if (c % 2) {
            eb = add(&s, b, tag, "enable-shared-access", c);
            release(&s, b, tag, eb, (how + 1) % G_N_ELEMENTS(removals));
        }
        release(&s, a, tag, ea, how);
        wait_released(&s, tag);
        /* Pools come and go too. */
        if (c % 1000 == 999) {
            bench_pool_destroy(s.b, tag);
            g_free(s.tags[c % NPOOLS]);
            s.tags[c % NPOOLS] = bench_pool_create(s.b, POOL_SIZE);
        }
    }

    v = (Sample *)samples->data;
    half = samples->len / 2;
    rss_all = slope(v, 0, samples->len, false) * 1000;
    rss_half = slope(v, half, samples->len, false) * 1000;
    fd_all = slope(v, 0, samples->len, true) * 1000;
    fd_half = slope(v, half, samples->len, true) * 1000;
    getloadavg(load, 3);

    printf("\n%-34s %12s %12s\n", "", "VmRSS KiB", "fds");
    printf("%-34s %12" G_GUINT64_FORMAT " %12u\n", "first sample", v[0].rss_kib,
           v[0].fds);
    printf("%-34s %12" G_GUINT64_FORMAT " %12u\n", "last sample",
           v[samples->len - 1].rss_kib, v[samples->len - 1].fds);
    printf("%-34s %12.2f %12.3f\n", "slope per 1000 cycles, all", rss_all,
           fd_all);
    printf("%-34s %12.2f %12.3f\n", "slope per 1000 cycles, 2nd half",
           rss_half, fd_half);
    printf("\ndcd-soak: %d cycles in %.1f s, %" G_GUINT64_FORMAT " failures,"
           " %u samples; load average %.2f %.2f %.2f\n", opt_cycles,
           v[samples->len - 1].t_s, s.failed, samples->len, load[0], load[1],
           load[2]);

    json_builder_begin_object(jb);
    dcd_json_int(jb, "cycles", opt_cycles);
    dcd_json_int(jb, "hosts", opt_hosts);
    dcd_json_int(jb, "sample-every", opt_every);
    dcd_json_int(jb, "failures", s.failed);
    json_builder_set_member_name(jb, "releases");
    json_builder_begin_object(jb);
    for (unsigned i = 0; i < G_N_ELEMENTS(removals); i++) {
        dcd_json_int(jb, removals[i], s.releases[i]);
    }
    json_builder_end_object(jb);
    dcd_json_double(jb, "seconds", v[samples->len - 1].t_s);
    dcd_json_int(jb, "rss-kib-first", v[0].rss_kib);
    dcd_json_int(jb, "rss-kib-last", v[samples->len - 1].rss_kib);
    dcd_json_double(jb, "rss-kib-per-1000-cycles", rss_all);
    dcd_json_double(jb, "rss-kib-per-1000-cycles-second-half", rss_half);
    dcd_json_int(jb, "fds-first", v[0].fds);
    dcd_json_int(jb, "fds-last", v[samples->len - 1].fds);
    dcd_json_double(jb, "fds-per-1000-cycles", fd_all);
    dcd_json_double(jb, "fds-per-1000-cycles-second-half", fd_half);
    bench_json_loadavg(jb, "loadavg", load);
    json_builder_set_member_name(jb, "samples");
    json_builder_begin_array(jb);
    for (guint i = 0; i < samples->len; i++) {
        json_builder_begin_object(jb);
        dcd_json_int(jb, "cycle", v[i].cycle);
        dcd_json_double(jb, "t", v[i].t_s);
        dcd_json_int(jb, "rss-kib", v[i].rss_kib);
        dcd_json_int(jb, "fds", v[i].fds);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    path = g_build_filename(opt_out ? opt_out : ".", "soak.json", NULL);
    if (!bench_json_write(jb, path, &err)) {
        bench_die("%s: %s", path, err->message);
    }
    printf("dcd-soak: wrote %s\n", path);

    bench_host_thread_call(s.ht, hosts_stop_cb, &s);
    bench_host_thread_free(s.ht);
    bench_broker_stop(s.b, false);
    for (unsigned i = 0; i < NPOOLS; i++) {
        g_free(s.tags[i]);
    }
    g_free(s.hosts);
    return 0;
}
