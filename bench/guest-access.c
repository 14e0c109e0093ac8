/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest-access - what a program in a real guest sees: nanoseconds per
 * 8-byte access on guest RAM, on a direct-mapped extent (a broker tag
 * mapped by dcd-guest) and on the slow path (static capacity of a
 * second cxl-type3, emulated access by access), all three alternating
 * in one guest run (guest-probe.c does the measuring inside).  A
 * benchmark, not a test: a table and JSON; nothing fails on speed.
 *
 * Ratios are of speeds: "extent/RAM" is RAM's ns over the extent's, so
 * 1.0 is guest-RAM speed; "extent vs slow" is how many times faster the
 * extent is.  Medians over the rounds, minimums beside them.
 */
#include <stdio.h>
#include <string.h>

#include "benchlib.h"
#include "benchvm.h"

static int opt_rounds = 9;
static char *opt_json;

static const char *const tests[] = {
    "seq-store", "seq-load", "rand-load-16M", "rand-load-1M",
};
static const char *const mems[] = { "ram", "extent", "slow" };

typedef struct Cell {
    GArray *ns;             /* double */
    double min, median;
} Cell;

static void cell_stats(Cell *c)
{
    g_array_sort(c->ns, bench_cmp_double);
    c->min = c->ns->len ? g_array_index(c->ns, double, 0) : 0;
    c->median = c->ns->len ? bench_percentile((double *)c->ns->data,
                                              c->ns->len, 0.5) : 0;
}

static int index_of(const char *const *v, unsigned n, const char *s)
{
    for (unsigned i = 0; i < n; i++) {
        if (!g_strcmp0(v[i], s)) {
            return i;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    const GOptionEntry entries[] = {
        { "rounds", 0, 0, G_OPTION_ARG_INT, &opt_rounds,
          "rounds in the guest (default 9)", "N" },
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &opt_json,
          "write the results as JSON", "FILE" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- access speed "
                                                         "in a real guest");
    g_autoptr(GError) err = NULL;
    g_autofree char *broker_exe = bench_default_broker();
    g_autofree char *tag = NULL, *out = NULL, *kernel = NULL;
    g_autoptr(JsonNode) doc = NULL;
    g_autoptr(JsonBuilder) jb = json_builder_new();
    Cell cells[4][3];
    double load[3] = { 0 };
    BenchBroker *b;
    DcdQemuGuest *g;
    JsonArray *samples;
    JsonObject *args;
    gint64 t0 = g_get_monotonic_time();

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || opt_rounds < 1) {
        fprintf(stderr, "guest-access: %s\n", err ? err->message :
                "--rounds must be positive");
        return 2;
    }
    bench_init("guest-access");
    b = bench_broker_start(broker_exe, NULL, NULL);
    printf("guest-access: booting a guest under TCG (RAM, a DCD on the "
           "broker, a second device on the slow path)\n");
    fflush(stdout);
    g = bench_guest_start(b->host_sock, 0, true, false);
    bench_guest_ready(g, "");
    kernel = g_strdup(g->kernel);

    tag = bench_pool_create(b, 16 * MiB);
    args = bench_args_tag(tag);
    json_object_set_int_member(args, "host-id", 0);
    json_object_set_boolean_member(args, "wait", TRUE);
    json_node_unref(bench_call(b, "extent-add", args));

    printf("guest-access: measuring, %d rounds (the slow path takes most "
           "of it)\n", opt_rounds);
    fflush(stdout);
    out = bench_guest_sh(g, "guest-probe --tag %s --rounds %d", tag,
                         opt_rounds);
    if (getloadavg(load, 3) < 0) {
        memset(load, 0, sizeof(load));
    }
    doc = json_from_string(out, &err);
    if (!doc || !JSON_NODE_HOLDS_OBJECT(doc)) {
        bench_die("the probe's output is not JSON: %s", err ? err->message :
                  out);
    }
    for (unsigned t = 0; t < 4; t++) {
        for (unsigned m = 0; m < 3; m++) {
            cells[t][m].ns = g_array_new(FALSE, FALSE, sizeof(double));
        }
    }
    samples = json_object_get_array_member(json_node_get_object(doc),
                                           "samples");
    for (guint i = 0; samples && i < json_array_get_length(samples); i++) {
        JsonObject *s = json_array_get_object_element(samples, i);
        int t = index_of(tests, 4, json_object_get_string_member(s, "test"));
        int m = index_of(mems, 3, json_object_get_string_member(s, "memory"));
        double ns = json_object_get_double_member(s, "ns");

        if (t >= 0 && m >= 0 && ns > 0) {
            g_array_append_val(cells[t][m].ns, ns);
        }
    }

    printf("\nns per 8-byte access in the guest (%s, TCG), median (min) of "
           "%d rounds; load average %.2f\n", kernel, opt_rounds, load[0]);
    printf("%-14s %16s %16s %16s %12s %12s\n", "test", "guest RAM",
           "extent (direct)", "slow path", "extent/RAM", "vs slow");
    bench_json_begin(jb, "guest-access", kernel, load);
    json_builder_set_member_name(jb, "rounds");
    json_builder_add_int_value(jb, opt_rounds);
    json_builder_set_member_name(jb, "results");
    json_builder_begin_array(jb);
    for (unsigned t = 0; t < 4; t++) {
        double ratio, speedup;

        for (unsigned m = 0; m < 3; m++) {
            cell_stats(&cells[t][m]);
        }
        ratio = cells[t][0].median / cells[t][1].median;
        speedup = cells[t][2].median / cells[t][1].median;
        printf("%-14s %8.2f (%5.2f) %8.2f (%5.2f) %8.1f (%5.1f) %11.3fx "
               "%11.0fx\n", tests[t], cells[t][0].median, cells[t][0].min,
               cells[t][1].median, cells[t][1].min, cells[t][2].median,
               cells[t][2].min, ratio, speedup);
        json_builder_begin_object(jb);
        json_builder_set_member_name(jb, "test");
        json_builder_add_string_value(jb, tests[t]);
        for (unsigned m = 0; m < 3; m++) {
            g_autofree char *k_med = g_strdup_printf("%s_ns_median", mems[m]);
            g_autofree char *k_min = g_strdup_printf("%s_ns_min", mems[m]);

            json_builder_set_member_name(jb, k_med);
            json_builder_add_double_value(jb, cells[t][m].median);
            json_builder_set_member_name(jb, k_min);
            json_builder_add_double_value(jb, cells[t][m].min);
        }
        json_builder_set_member_name(jb, "extent_vs_ram");
        json_builder_add_double_value(jb, ratio);
        json_builder_set_member_name(jb, "extent_vs_slow");
        json_builder_add_double_value(jb, speedup);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "goals");
    json_builder_add_string_value(jb, "extent/RAM >= 0.95 streaming, >= 0.9 "
                                  "random; extent >= 100x the slow path "
                                  "streaming");
    json_builder_end_object(jb);
    printf("goals: extent/RAM >= 0.95 streaming and >= 0.9 random loads; "
           "extent >= 100x the slow path streaming\n");
    printf("wall time %.0f s\n", (g_get_monotonic_time() - t0) / 1e6);
    if (opt_json && !bench_json_write(jb, opt_json, &err)) {
        bench_die("%s", err->message);
    }
    dcd_qemu_guest_stop(g);
    bench_broker_stop(b, false);
    for (unsigned t = 0; t < 4; t++) {
        for (unsigned m = 0; m < 3; m++) {
            g_array_unref(cells[t][m].ns);
        }
    }
    return 0;
}
