/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest-boot - do real guests boot reliably on a busy machine?  Boots the
 * guest rig again and again, --parallel at a time, while --hogs threads
 * spin (a load average well above the core count), and counts the boots
 * that reached init and ran dcd-guest, the ones that did not (with the
 * console's last line: a kernel panic, a hang), and the time to ready.
 * With --timer-check the guests keep the kernel's boot-time check of the
 * timer interrupt, which the rig turns off (no_timer_check): under TCG on
 * a loaded machine that check is what panics.  A benchmark, not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"
#include "benchvm.h"
#include "dcd/json.h"

#define MAX_PARALLEL 8

static int opt_boots = 20;
static int opt_parallel = 2;
static int opt_hogs = 6;
static int opt_timeout_ms = 120000;
static gboolean opt_timer_check;
static char *opt_json;

static GOptionEntry entries[] = {
    { "boots", 0, 0, G_OPTION_ARG_INT, &opt_boots,
      "Guests to boot in all (default 20)", "N" },
    { "parallel", 0, 0, G_OPTION_ARG_INT, &opt_parallel,
      "Guests booting at once (default 2)", "N" },
    { "hogs", 0, 0, G_OPTION_ARG_INT, &opt_hogs,
      "Threads that spin meanwhile (default 6)", "N" },
    { "timeout-ms", 0, 0, G_OPTION_ARG_INT, &opt_timeout_ms,
      "A boot that is not ready by then failed (default 120000)", "MS" },
    { "timer-check", 0, 0, G_OPTION_ARG_NONE, &opt_timer_check,
      "Keep the kernel's timer check (what no_timer_check turns off)",
      NULL },
    { "output", 0, 0, G_OPTION_ARG_FILENAME, &opt_json,
      "Write the results here", "PATH" },
    { NULL }
};

static volatile gint hogs_stop;

static gpointer hog(gpointer unused)
{
    volatile guint64 x = 0;

    while (!g_atomic_int_get(&hogs_stop)) {
        x++;
    }
    return NULL;
}

/* The console's last non-empty line, for a failed boot. */
static char *last_line(DcdQemuGuest *g)
{
    g_autofree char *con = dcd_qemu_guest_console(g);
    g_auto(GStrv) lines = g_strsplit(con ? con : "", "\n", -1);
    const char *last = "(no console output)";

    for (unsigned i = 0; lines[i]; i++) {
        g_strstrip(lines[i]);
        if (*lines[i]) {
            last = lines[i];
        }
    }
    return g_strdup(last);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) octx = g_option_context_new(
        "- boot real guests again and again on a busy machine");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) threads = g_ptr_array_new();
    g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) ready_ms = g_array_new(FALSE, FALSE, sizeof(double));
    g_autoptr(JsonBuilder) jb = json_builder_new();
    BenchBroker *b;
    double load[3] = { 0 }, load_max = 0;
    int booted = 0;

    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &err)) {
        g_printerr("guest-boot: %s\n", err->message);
        return 2;
    }
    if (opt_parallel < 1 || opt_parallel > MAX_PARALLEL || opt_boots < 1) {
        g_printerr("guest-boot: --parallel is 1 to %d, --boots at least 1\n",
                   MAX_PARALLEL);
        return 2;
    }
    bench_init("guest-boot");
    b = bench_broker_start(bench_default_broker(), NULL, NULL);
    for (int i = 0; i < opt_hogs; i++) {
        g_ptr_array_add(threads, g_thread_new("hog", hog, NULL));
    }
    printf("guest-boot: %d boots, %d at a time, %d spinning threads%s\n",
           opt_boots, opt_parallel, opt_hogs,
           opt_timer_check ? ", kernel timer check on" : "");
    for (int done = 0; done < opt_boots;) {
        int n = MIN(opt_parallel, opt_boots - done);
        DcdQemuGuest *g[MAX_PARALLEL];
        double t0[MAX_PARALLEL];

        for (int i = 0; i < n; i++) {
            g[i] = bench_guest_start(b->host_sock, i, false,
                                          opt_timer_check);
            t0[i] = bench_now_us();
        }
        for (int i = 0; i < n; i++) {
            g_autoptr(GError) e = NULL;
            g_autofree char *out = NULL;

            if (dcd_qemu_guest_wait_ready(g[i], opt_timeout_ms, &e) &&
                (out = dcd_qemu_guest_sh(g[i], 60000, &e,
                                         "dcd-guest --version"))) {
                double ms = (bench_now_us() - t0[i]) / 1000.0;

                g_array_append_val(ready_ms, ms);
                booted++;
            } else {
                g_autofree char *why = last_line(g[i]);

                printf("guest-boot: boot %d failed: %s; console: %s\n",
                       done + i + 1, e ? e->message : "?", why);
                g_ptr_array_add(failures, g_steal_pointer(&why));
            }
            dcd_qemu_guest_kill(g[i]);
        }
        done += n;
        getloadavg(load, 3);
        load_max = MAX(load_max, load[0]);
        printf("guest-boot: %d/%d booted, load average %.2f\n", booted, done,
               load[0]);
        fflush(stdout);
    }
    g_atomic_int_set(&hogs_stop, 1);
    for (guint i = 0; i < threads->len; i++) {
        g_thread_join(threads->pdata[i]);
    }
    bench_broker_stop(b, false);

    g_array_sort(ready_ms, bench_cmp_double);
    printf("\n%-26s %8d\n%-26s %8d\n%-26s %8u\n", "boots", opt_boots,
           "ready", booted, "failed", failures->len);
    if (ready_ms->len) {
        const double *v = (const double *)ready_ms->data;

        printf("%-26s %8.0f\n%-26s %8.0f\n%-26s %8.0f\n", "ready ms p50",
               bench_percentile(v, ready_ms->len, 0.5), "ready ms p99",
               bench_percentile(v, ready_ms->len, 0.99), "ready ms max",
               v[ready_ms->len - 1]);
    }
    printf("%-26s %8.2f\n", "load average (1 min) max", load_max);

    json_builder_begin_object(jb);
    dcd_json_int(jb, "boots", opt_boots);
    dcd_json_int(jb, "parallel", opt_parallel);
    dcd_json_int(jb, "hogs", opt_hogs);
    dcd_json_bool(jb, "timer-check", opt_timer_check);
    dcd_json_int(jb, "ready", booted);
    json_builder_set_member_name(jb, "failures");
    json_builder_begin_array(jb);
    for (guint i = 0; i < failures->len; i++) {
        json_builder_add_string_value(jb, failures->pdata[i]);
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "ready-ms");
    json_builder_begin_array(jb);
    for (guint i = 0; i < ready_ms->len; i++) {
        json_builder_add_double_value(jb, g_array_index(ready_ms, double, i));
    }
    json_builder_end_array(jb);
    dcd_json_double(jb, "load-max", load_max);
    bench_json_loadavg(jb, "loadavg", load);
    json_builder_end_object(jb);
    if (opt_json && !bench_json_write(jb, opt_json, &err)) {
        bench_die("%s: %s", opt_json, err->message);
    }
    return failures->len ? 1 : 0;
}
