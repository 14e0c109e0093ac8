/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest-add - how long an extent takes to become usable in N real
 * guests, and to be released by all of them, with dcd-guest as each
 * guest's driver.  A benchmark, not a test: a table and JSON.
 *
 * For N = 1, 2, 4, 8 in turn, exactly N guests run (hosts 0..N-1; the
 * ones a phase adds boot before it).  One sample: pool-create of 2 MiB
 * (untimed); t0; extent-add to host 0 (free) and, pipelined on the same
 * control connection, enable-shared-access to hosts 1..N-1, none with
 * "wait"; the sample ends when the broker's monitor has reported the
 * extent accepted by all N hosts: each guest's agent saw the DC event,
 * answered with Add DC Response and the device mapped the extent.
 * Release likewise: t0, extent-release (tag-based) for the N hosts,
 * until all N are released (each agent answered with Release DC).  Idle
 * guests cost CPU (each agent reads a register every --poll-ms), so N
 * guests are what an N-guest machine has, no more.  Time is measured
 * here, on the host, on receipt of the events.
 *
 * With --baseline-broker and --baseline-qemu (builds of an earlier
 * commit), it measures before and after side by side instead: one guest
 * on each stack (this build's broker and QEMU; the baseline's), both
 * running throughout, samples alternating between them (which goes
 * first alternates too), so the machine's noise falls on both alike.
 */
#include <stdio.h>
#include <string.h>

#include "benchlib.h"
#include "benchvm.h"

#define GUESTS 8
#define BLOCK (2 * MiB)

static int opt_samples = 100;
static int opt_guests = GUESTS;
static int opt_poll_ms = 0;
static char *opt_json;
static char *opt_base_broker, *opt_base_qemu;
static const unsigned ns_[] = { 1, 2, 4, 8 };

/* Published hot-plug figures, for comparison (guest-facts). */
#define HOTPLUG_ATTACH_MS 30.0
#define HOTPLUG_DETACH_MS "6100-6500"

/* Read monitor events until n extents of tag reached state. */
static void wait_events(DcdCtlClient *mon, const char *tag, const char *state,
                        unsigned n)
{
    unsigned seen = 0;

    while (seen < n) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) ev = dcd_ctl_client_read_event(mon, &err);
        JsonObject *o, *e;

        if (!ev) {
            bench_die("monitor: %s", err->message);
        }
        o = json_node_get_object(ev);
        if (g_strcmp0(json_object_get_string_member_with_default(o, "event",
                                                                 ""),
                      "extent")) {
            continue;
        }
        e = json_object_get_object_member(o, "extent");
        if (!g_strcmp0(json_object_get_string_member(e, "tag"), tag) &&
            !g_strcmp0(json_object_get_string_member(e, "state"), state)) {
            seen++;
        }
    }
}

static double sample_add(BenchBroker *b, DcdCtlClient *mon, const char *tag,
                         unsigned n)
{
    double t0 = bench_now_us();

    for (unsigned h = 0; h < n; h++) {
        JsonObject *a = bench_args_tag(tag);

        json_object_set_int_member(a, "host-id", h);
        json_object_set_string_member(a, "policy",
                                      h ? "enable-shared-access" : "free");
        bench_send(b, "extent-add", a);
    }
    for (unsigned h = 0; h < n; h++) {
        json_node_unref(bench_recv(b, "extent-add", NULL));
    }
    wait_events(mon, tag, "accepted", n);
    return (bench_now_us() - t0) / 1000.0;
}

static double sample_release(BenchBroker *b, DcdCtlClient *mon,
                             const char *tag, unsigned n)
{
    double t0 = bench_now_us();

    for (unsigned h = 0; h < n; h++) {
        JsonObject *a = bench_args_tag(tag);

        json_object_set_int_member(a, "host-id", h);
        bench_send(b, "extent-release", a);
    }
    for (unsigned h = 0; h < n; h++) {
        json_node_unref(bench_recv(b, "extent-release", NULL));
    }
    wait_events(mon, tag, "released", n);
    return (bench_now_us() - t0) / 1000.0;
}

typedef struct Stack {
    const char *name;
    BenchBroker *b;
    DcdCtlClient *mon;
    DcdQemuGuest *g;
    GArray *add, *rel;
} Stack;

static void stack_start(Stack *st, const char *name, BenchBroker *b,
                        const char *qemu)
{
    g_autoptr(GError) err = NULL;

    st->name = name;
    st->b = b;
    st->mon = dcd_ctl_client_connect(b->ctl_sock, &err);
    if (!st->mon || !dcd_ctl_client_send(st->mon, "monitor", NULL, &err)) {
        bench_die("monitor: %s", err->message);
    }
    json_node_unref(dcd_ctl_client_recv(st->mon, &err));
    st->g = bench_guest_start_qemu(qemu, b->host_sock, 0, false, false);
    st->add = g_array_new(FALSE, FALSE, sizeof(double));
    st->rel = g_array_new(FALSE, FALSE, sizeof(double));
}

static void stack_sample(Stack *st)
{
    g_autofree char *tag = bench_pool_create(st->b, BLOCK);
    double ms = sample_add(st->b, st->mon, tag, 1);

    g_array_append_val(st->add, ms);
    ms = sample_release(st->b, st->mon, tag, 1);
    g_array_append_val(st->rel, ms);
    bench_pool_destroy(st->b, tag);
}

static double pct(GArray *a, double p)
{
    g_array_sort(a, bench_cmp_double);
    return bench_percentile((double *)a->data, a->len, p);
}

/* Before and after, one guest each, samples interleaved. */
static int run_compare(const char *agent_args)
{
    g_autofree char *broker_exe = bench_default_broker();
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(GError) err = NULL;
    Stack st[2];
    double load[3] = { 0 }, p99[2];
    gint64 t0 = g_get_monotonic_time();

    stack_start(&st[0], "this build",
                bench_broker_start(broker_exe, NULL, NULL),
                bench_qemu_binary());
    stack_start(&st[1], "baseline",
                bench_broker_start_baseline(opt_base_broker), opt_base_qemu);
    for (unsigned i = 0; i < 2; i++) {
        bench_guest_ready(st[i].g, agent_args);
    }
    printf("guest-add: one guest on this build and one on the baseline; %d"
           " samples each, interleaved\n", opt_samples);
    fflush(stdout);
    for (int s = 0; s < opt_samples; s++) {
        stack_sample(&st[s & 1]);
        stack_sample(&st[!(s & 1)]);
    }
    if (getloadavg(load, 3) < 0) {
        memset(load, 0, sizeof(load));
    }
    printf("\nms from the control request until the guest can use the extent"
           " / has released it (%d samples each; load average %.2f)\n",
           opt_samples, load[0]);
    printf("%-12s %10s %10s %10s %10s\n", "stack", "add p50", "add p99",
           "rel p50", "rel p99");
    bench_json_begin(jb, "guest-add-compare", st[0].g->kernel, load);
    json_builder_set_member_name(jb, "samples");
    json_builder_add_int_value(jb, opt_samples);
    json_builder_set_member_name(jb, "results");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < 2; i++) {
        double ap50 = pct(st[i].add, 0.5), rp50 = pct(st[i].rel, 0.5);
        double rp99 = pct(st[i].rel, 0.99);

        p99[i] = pct(st[i].add, 0.99);
        printf("%-12s %10.2f %10.2f %10.2f %10.2f\n", st[i].name, ap50,
               p99[i], rp50, rp99);
        json_builder_begin_object(jb);
        json_builder_set_member_name(jb, "stack");
        json_builder_add_string_value(jb, st[i].name);
        json_builder_set_member_name(jb, "add_ms_p50");
        json_builder_add_double_value(jb, ap50);
        json_builder_set_member_name(jb, "add_ms_p99");
        json_builder_add_double_value(jb, p99[i]);
        json_builder_set_member_name(jb, "release_ms_p50");
        json_builder_add_double_value(jb, rp50);
        json_builder_set_member_name(jb, "release_ms_p99");
        json_builder_add_double_value(jb, rp99);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "add_p99_ratio");
    json_builder_add_double_value(jb, p99[0] / p99[1]);
    json_builder_end_object(jb);
    printf("add p99, this build / baseline: %.2fx (goal: at most 1.10x)\n",
           p99[0] / p99[1]);
    printf("wall time %.0f s\n", (g_get_monotonic_time() - t0) / 1e6);
    if (opt_json && !bench_json_write(jb, opt_json, &err)) {
        bench_die("%s", err->message);
    }
    for (unsigned i = 0; i < 2; i++) {
        dcd_qemu_guest_stop(st[i].g);
        dcd_ctl_client_free(st[i].mon);
        bench_broker_stop(st[i].b, false);
        g_array_unref(st[i].add);
        g_array_unref(st[i].rel);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const GOptionEntry entries[] = {
        { "samples", 0, 0, G_OPTION_ARG_INT, &opt_samples,
          "samples per N (default 100)", "N" },
        { "guests", 0, 0, G_OPTION_ARG_INT, &opt_guests,
          "the largest N, 1 to 8 (default 8)", "N" },
        { "poll-ms", 0, 0, G_OPTION_ARG_INT, &opt_poll_ms,
          "the agents' poll interval (default: dcd-guest's)", "MS" },
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &opt_json,
          "write the results as JSON", "FILE" },
        { "baseline-broker", 0, 0, G_OPTION_ARG_FILENAME, &opt_base_broker,
          "compare with this dcd-broker (with --baseline-qemu)", "PATH" },
        { "baseline-qemu", 0, 0, G_OPTION_ARG_FILENAME, &opt_base_qemu,
          "compare with this QEMU (with --baseline-broker)", "PATH" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- extent add and "
                                                         "release in guests");
    g_autoptr(GError) err = NULL;
    g_autofree char *broker_exe = bench_default_broker();
    g_autofree char *agent_args = NULL;
    g_autoptr(DcdCtlClient) mon = NULL;
    g_autoptr(JsonBuilder) jb = json_builder_new();
    GArray *add[4], *rel[4];
    DcdQemuGuest *g[GUESTS];
    unsigned booted = 0;
    double load[3] = { 0 };
    BenchBroker *b;
    gint64 t0 = g_get_monotonic_time();

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) ||
        opt_samples < 1 || opt_poll_ms < 0 || opt_guests < 1 ||
        opt_guests > GUESTS) {
        fprintf(stderr, "guest-add: %s\n", err ? err->message :
                "--samples must be positive");
        return 2;
    }
    if (!opt_base_broker != !opt_base_qemu) {
        fprintf(stderr, "guest-add: --baseline-broker and --baseline-qemu go"
                " together\n");
        return 2;
    }
    agent_args = opt_poll_ms ? g_strdup_printf("--poll-ms=%d", opt_poll_ms)
                             : g_strdup("");
    bench_init("guest-add");
    if (opt_base_broker) {
        return run_compare(agent_args);
    }
    b = bench_broker_start(broker_exe, NULL, NULL);
    mon = dcd_ctl_client_connect(b->ctl_sock, &err);
    if (!mon || !dcd_ctl_client_send(mon, "monitor", NULL, &err)) {
        bench_die("monitor: %s", err->message);
    }
    json_node_unref(dcd_ctl_client_recv(mon, &err));

    for (unsigned k = 0; k < 4; k++) {
        add[k] = g_array_new(FALSE, FALSE, sizeof(double));
        rel[k] = g_array_new(FALSE, FALSE, sizeof(double));
    }
    /*
     * N = 1, 2, 4, 8 in turn, each with exactly N guests running: the
     * guests a phase needs are booted before it, and stay for the next.
     */
    for (unsigned k = 0; k < 4 && ns_[k] <= (unsigned)opt_guests; k++) {
        gint64 tb = g_get_monotonic_time();

        for (unsigned i = booted; i < ns_[k]; i++) {
            g[i] = bench_guest_start(b->host_sock, i, false, false);
        }
        for (unsigned i = booted; i < ns_[k]; i++) {
            bench_guest_ready(g[i], agent_args);
        }
        printf("guest-add: %u guest(s) up (%.0f s to boot %u); %d samples\n",
               ns_[k], (g_get_monotonic_time() - tb) / 1e6, ns_[k] - booted,
               opt_samples);
        fflush(stdout);
        booted = ns_[k];
        for (int s = 0; s < opt_samples; s++) {
            g_autofree char *tag = bench_pool_create(b, BLOCK);
            double ms = sample_add(b, mon, tag, ns_[k]);

            g_array_append_val(add[k], ms);
            ms = sample_release(b, mon, tag, ns_[k]);
            g_array_append_val(rel[k], ms);
            bench_pool_destroy(b, tag);
        }
    }
    if (getloadavg(load, 3) < 0) {
        memset(load, 0, sizeof(load));
    }

    printf("\nms from the control request until all N guests can use the "
           "extent / have released it (%d samples; load average %.2f)\n",
           opt_samples, load[0]);
    printf("%3s %10s %10s %10s %10s %12s\n", "N", "add p50", "add p99",
           "rel p50", "rel p99", "add p99/N=1");
    bench_json_begin(jb, "guest-add", g[0]->kernel, load);
    json_builder_set_member_name(jb, "samples");
    json_builder_add_int_value(jb, opt_samples);
    json_builder_set_member_name(jb, "results");
    json_builder_begin_array(jb);
    double add1_p99 = 0;
    for (unsigned k = 0; k < 4 && ns_[k] <= (unsigned)opt_guests; k++) {
        double ap50, ap99, rp50, rp99;

        g_array_sort(add[k], bench_cmp_double);
        g_array_sort(rel[k], bench_cmp_double);
        ap50 = bench_percentile((double *)add[k]->data, add[k]->len, 0.5);
        ap99 = bench_percentile((double *)add[k]->data, add[k]->len, 0.99);
        rp50 = bench_percentile((double *)rel[k]->data, rel[k]->len, 0.5);
        rp99 = bench_percentile((double *)rel[k]->data, rel[k]->len, 0.99);
        if (k == 0) {
            add1_p99 = ap99;
        }
        printf("%3u %10.2f %10.2f %10.2f %10.2f %11.2fx\n", ns_[k], ap50,
               ap99, rp50, rp99, ap99 / add1_p99);
        json_builder_begin_object(jb);
        json_builder_set_member_name(jb, "guests");
        json_builder_add_int_value(jb, ns_[k]);
        json_builder_set_member_name(jb, "add_ms_p50");
        json_builder_add_double_value(jb, ap50);
        json_builder_set_member_name(jb, "add_ms_p99");
        json_builder_add_double_value(jb, ap99);
        json_builder_set_member_name(jb, "release_ms_p50");
        json_builder_add_double_value(jb, rp50);
        json_builder_set_member_name(jb, "release_ms_p99");
        json_builder_add_double_value(jb, rp99);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "hotplug_attach_ms");
    json_builder_add_double_value(jb, HOTPLUG_ATTACH_MS);
    json_builder_set_member_name(jb, "hotplug_detach_ms");
    json_builder_add_string_value(jb, HOTPLUG_DETACH_MS);
    json_builder_end_object(jb);
    printf("for comparison, hot-plugging a CXL device into a running VM is "
           "published at about %.0f ms to attach and %s ms to detach\n",
           HOTPLUG_ATTACH_MS, HOTPLUG_DETACH_MS);
    printf("goals: add and release p99 < 5 ms with one guest; at 8 guests "
           "< 1.5x the one-guest time\n");
    printf("wall time %.0f s\n", (g_get_monotonic_time() - t0) / 1e6);
    if (opt_json && !bench_json_write(jb, opt_json, &err)) {
        bench_die("%s", err->message);
    }
    for (unsigned i = 0; i < booted; i++) {
        dcd_qemu_guest_stop(g[i]);
    }
    bench_broker_stop(b, false);
    return 0;
}
