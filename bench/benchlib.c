/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * benchlib.c - what the benchmarks share; see benchlib.h.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <glib/gstdio.h>

#include "benchlib.h"

#define POOL_DESTROY_WAIT_US (10 * G_USEC_PER_SEC)

static const char *prog = "bench";

/* The live brokers' dirs, removed on exit() from a failure too. */
static GPtrArray *live_dirs;

static void remove_dir(const char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

    if (system(cmd) != 0) {
        g_printerr("%s: could not remove %s\n", prog, dir);
    }
}

static void remove_live_dirs(void)
{
    /* Kept to look at: the brokers' logs after a failure. */
    if (g_getenv("DCD_BENCH_KEEP")) {
        for (guint i = 0; live_dirs && i < live_dirs->len; i++) {
            g_printerr("%s: kept %s\n", prog,
                       (char *)live_dirs->pdata[i]);
        }
        return;
    }
    for (guint i = 0; live_dirs && i < live_dirs->len; i++) {
        remove_dir(live_dirs->pdata[i]);
    }
    g_clear_pointer(&live_dirs, g_ptr_array_unref);
}

void bench_init(const char *name)
{
    prog = name;
    live_dirs = g_ptr_array_new_with_free_func(g_free);
    atexit(remove_live_dirs);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Children die with the bench, so a failure cannot leave them behind. */
void bench_die_with_parent(gpointer unused)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* ---- the broker process ------------------------------------------------ */

static BenchBroker *broker_start(const char *exe, char **extra,
                                 const char *dir, bool baseline,
                                 bool state_dir)
{
    BenchBroker *b = g_new0(BenchBroker, 1);
    g_autoptr(GSubprocessLauncher) l =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr(GDataInputStream) out = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prog);
    g_autofree char *pools = NULL;
    g_autofree char *line = NULL;

    b->dir = dir ? g_strdup(dir) : g_dir_make_tmp(tmpl, &err);
    if (!b->dir) {
        bench_die("%s", err->message);
    }
    if (!g_ptr_array_find_with_equal_func(live_dirs, b->dir, g_str_equal,
                                          NULL)) {
        g_ptr_array_add(live_dirs, g_strdup(b->dir));
    }
    b->host_sock = g_build_filename(b->dir, "host.sock", NULL);
    b->ctl_sock = g_build_filename(b->dir, "control.sock", NULL);
    b->log = g_build_filename(b->dir, "broker.log", NULL);
    pools = g_build_filename(b->dir, "pools", NULL);
    g_mkdir_with_parents(pools, 0700);
    g_ptr_array_add(argv, g_strdup(exe));
    g_ptr_array_add(argv, g_strdup_printf("--host-socket=%s", b->host_sock));
    g_ptr_array_add(argv, g_strdup_printf("--control-socket=%s", b->ctl_sock));
    if (state_dir) {
        g_ptr_array_add(argv, g_strdup_printf("--state-dir=%s/state",
                                              b->dir));
    }
    g_ptr_array_add(argv, g_strdup_printf("--pool-dir=%s", pools));
    /*
     * Benchmarks keep one control connection, idle while guests boot.  A
     * baseline build from before the timeout has no such option.
     */
    if (!baseline) {
        g_ptr_array_add(argv, g_strdup("--control-timeout=0"));
    }
    for (char **e = extra; e && *e; e++) {
        g_ptr_array_add(argv, g_strdup(*e));
    }
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_set_child_setup(l, bench_die_with_parent, NULL,
                                          NULL);
    g_subprocess_launcher_set_stderr_file_path(l, b->log);
    b->proc = g_subprocess_launcher_spawnv(l,
        (const char *const *)argv->pdata, &err);
    if (!b->proc) {
        bench_die("starting %s: %s", exe, err->message);
    }
    b->pid = atoi(g_subprocess_get_identifier(b->proc));
    /* The broker prints one line when both sockets listen. */
    out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(b->proc));
    line = g_data_input_stream_read_line(out, NULL, NULL, NULL);
    if (!line || !g_str_has_prefix(line, "dcd-broker: ready")) {
        bench_die("the broker did not start; see %s", b->log);
    }
    b->ready = g_steal_pointer(&line);
    b->ctl = dcd_ctl_client_connect(b->ctl_sock, &err);
    if (!b->ctl) {
        bench_die("control socket: %s", err->message);
    }
    return b;
}

BenchBroker *bench_broker_start(const char *exe, char **extra,
                                const char *dir)
{
    return broker_start(exe, extra, dir, false, true);
}

BenchBroker *bench_broker_start_store(const char *exe, char **extra,
                                      const char *dir)
{
    return broker_start(exe, extra, dir, false, false);
}

BenchBroker *bench_broker_start_baseline(const char *exe)
{
    return broker_start(exe, NULL, NULL, true, true);
}

void bench_broker_stop(BenchBroker *b, bool keep_dir)
{
    guint i;

    dcd_ctl_client_free(b->ctl);
    g_subprocess_send_signal(b->proc, SIGTERM);
    g_subprocess_wait(b->proc, NULL, NULL);
    g_object_unref(b->proc);
    if (!keep_dir && !g_getenv("DCD_BENCH_KEEP") &&
        g_ptr_array_find_with_equal_func(live_dirs, b->dir, g_str_equal, &i)) {
        remove_dir(b->dir);
        g_ptr_array_remove_index(live_dirs, i);
    }
    g_free(b->dir);
    g_free(b->host_sock);
    g_free(b->ctl_sock);
    g_free(b->log);
    g_free(b->ready);
    g_free(b);
}

/* ---- control calls ----------------------------------------------------- */

void bench_send(BenchBroker *b, const char *cmd, JsonObject *args)
{
    g_autoptr(GError) err = NULL;

    if (!dcd_ctl_client_send(b->ctl, cmd, args, &err)) {
        bench_die("%s: %s", cmd, err->message);
    }
    if (args) {
        json_object_unref(args);
    }
}

JsonNode *bench_recv(BenchBroker *b, const char *cmd, char **cls)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n = dcd_ctl_client_recv(b->ctl, &err);

    if (!n) {
        if (!cls || err->code == DCD_ERR_UNAVAIL) {
            bench_die("%s: %s: %s", cmd, dcd_err_name(err->code),
                      err->message);
        }
        *cls = g_strdup(dcd_err_name(err->code));
    }
    return n;
}

JsonNode *bench_call(BenchBroker *b, const char *cmd, JsonObject *args)
{
    bench_send(b, cmd, args);
    return bench_recv(b, cmd, NULL);
}

JsonObject *bench_args_tag(const char *tag)
{
    JsonObject *a = json_object_new();

    json_object_set_string_member(a, "tag", tag);
    return a;
}

char *bench_pool_create(BenchBroker *b, uint64_t size)
{
    JsonObject *a = json_object_new();
    g_autoptr(JsonNode) n = NULL;

    json_object_set_int_member(a, "size", size);
    n = bench_call(b, "pool-create", a);
    return g_strdup(json_object_get_string_member(json_node_get_object(n),
                                                  "tag"));
}

/* Busy while a host's RELEASED is still on its way. */
void bench_pool_destroy_counted(BenchBroker *b, const char *tag,
                                unsigned *state)
{
    gint64 end = g_get_monotonic_time() + POOL_DESTROY_WAIT_US;

    for (;;) {
        g_autofree char *cls = NULL;
        g_autoptr(JsonNode) n = NULL;
        bool again;

        bench_send(b, "pool-destroy", bench_args_tag(tag));
        n = bench_recv(b, "pool-destroy", &cls);
        if (n) {
            return;
        }
        again = g_str_equal(cls, "busy") ||
                (state && g_str_equal(cls, "state"));
        if (!again || g_get_monotonic_time() > end) {
            bench_die("pool-destroy %s: %s", tag, cls);
        }
        if (state && g_str_equal(cls, "state")) {
            (*state)++;
        }
        g_usleep(200);
    }
}

void bench_pool_destroy(BenchBroker *b, const char *tag)
{
    bench_pool_destroy_counted(b, tag, NULL);
}

unsigned bench_count_accepted(JsonArray *a)
{
    unsigned ok = 0;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        ok += g_str_equal(json_object_get_string_member(e, "state"),
                          "accepted");
    }
    return ok;
}

/* ---- process figures from /proc ---------------------------------------- */

void bench_proc_sample(pid_t pid, BenchProcSample *s)
{
    g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *status_path = g_strdup_printf("/proc/%d/status", pid);
    g_autofree char *stat = NULL;
    g_autofree char *status = NULL;
    g_auto(GStrv) f = NULL;
    g_auto(GStrv) lines = NULL;
    const char *rp;

    memset(s, 0, sizeof(*s));
    if (!g_file_get_contents(stat_path, &stat, NULL, NULL) ||
        !g_file_get_contents(status_path, &status, NULL, NULL)) {
        return;
    }
    /* Fields after the command's closing parenthesis start at field 3. */
    rp = strrchr(stat, ')');
    if (rp) {
        f = g_strsplit(rp + 2, " ", 0);
        if (g_strv_length(f) > 12) {
            s->cpu_s = (double)(g_ascii_strtoull(f[11], NULL, 10) +
                                g_ascii_strtoull(f[12], NULL, 10)) /
                       sysconf(_SC_CLK_TCK);
        }
    }
    lines = g_strsplit(status, "\n", 0);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "VmRSS:")) {
            s->rss_kib = g_ascii_strtoull(*l + 6, NULL, 10);
        } else if (g_str_has_prefix(*l, "VmHWM:")) {
            s->hwm_kib = g_ascii_strtoull(*l + 6, NULL, 10);
        }
    }
}

/* ---- statistics -------------------------------------------------------- */

double bench_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double bench_percentile(const double *v, unsigned n, double p)
{
    unsigned rank = (unsigned)(p * n + 0.999999);

    return v[MIN(MAX(rank, 1), n) - 1];
}

void bench_stats(double *v, unsigned n, BenchStats *s)
{
    memset(s, 0, sizeof(*s));
    s->n = n;
    if (!n) {
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        s->mean += v[i] / n;
    }
    qsort(v, n, sizeof(double), bench_cmp_double);
    s->p50 = bench_percentile(v, n, 0.50);
    s->p99 = bench_percentile(v, n, 0.99);
    s->min = v[0];
    s->max = v[n - 1];
}

/* ---- machine info and JSON output -------------------------------------- */

char *bench_kernel_release(void)
{
    struct utsname u;

    return uname(&u) == 0 ? g_strdup_printf("%s %s %s", u.sysname, u.release,
                                            u.machine) : g_strdup("unknown");
}

void bench_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

char *bench_cpu_model(void)
{
    g_autofree char *info = NULL;
    g_auto(GStrv) lines = NULL;

    if (g_file_get_contents("/proc/cpuinfo", &info, NULL, NULL)) {
        lines = g_strsplit(info, "\n", 0);
        for (char **l = lines; *l; l++) {
            const char *c = strchr(*l, ':');

            if (g_str_has_prefix(*l, "model name") && c) {
                return g_strstrip(g_strdup(c + 1));
            }
        }
    }
    return g_strdup("unknown");
}

void bench_json_loadavg(JsonBuilder *jb, const char *k, const double *load)
{
    json_builder_set_member_name(jb, k);
    json_builder_begin_array(jb);
    for (int i = 0; i < 3; i++) {
        json_builder_add_double_value(jb, load[i]);
    }
    json_builder_end_array(jb);
}

void bench_json_begin(JsonBuilder *jb, const char *benchmark,
                      const char *kernel, const double *load)
{
    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "benchmark");
    json_builder_add_string_value(jb, benchmark);
    json_builder_set_member_name(jb, "kernel");
    json_builder_add_string_value(jb, kernel);
    json_builder_set_member_name(jb, "cpu");
    json_builder_add_string_value(jb, bench_cpu_model());
    bench_json_loadavg(jb, "loadavg", load);
}

bool bench_json_write(JsonBuilder *jb, const char *path, GError **errp)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(jb);

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_file(gen, path, errp);
}

char *bench_default_broker(void)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;

    return dir ? g_build_filename(dir, "..", "dcd-broker", "dcd-broker",
                                  NULL)
               : NULL;
}
