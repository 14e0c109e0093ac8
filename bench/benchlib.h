/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * benchlib.h - what the benchmarks share.
 *
 * Owns: the broker process a benchmark runs (a fresh temporary state
 * dir, started, stopped, its dir removed at exit even after a failure),
 * its control calls through dcd-broker/ctlclient.h (blocking, or
 * pipelined with bench_send()/bench_recv()), process figures from /proc,
 * statistics over latency samples, machine info and file output for the
 * JSON.  Not the measurements themselves: each benchmark keeps its own.
 *
 * Failures are fatal: a message prefixed with the name given to
 * bench_init(), then exit(1).
 */
#ifndef DCD_BENCHLIB_H
#define DCD_BENCHLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "dcd-client/ctlclient.h"

/* Name messages with prog; remove the broker's dir at exit. */
void bench_init(const char *prog);

void bench_die(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN;

/* A GSpawnChildSetupFunc: the child is killed when the benchmark dies. */
void bench_die_with_parent(gpointer unused);

/* ---- the broker process ------------------------------------------------ */

typedef struct BenchBroker {
    GSubprocess *proc;
    pid_t pid;
    char *dir;
    char *host_sock;
    char *ctl_sock;
    char *log;                  /* its stderr */
    char *ready;                /* its ready line (the metrics URL) */
    DcdCtlClient *ctl;
} BenchBroker;

/*
 * Start exe with sockets, state and pools under dir (NULL: a fresh
 * temporary dir) and extra options after them (NULL-terminated, may be
 * NULL); return once it says it is ready and the control socket is
 * connected.
 */
BenchBroker *bench_broker_start(const char *exe, char **extra,
                                const char *dir);
/*
 * The same with no --state-dir: extra names where the state is kept
 * (--cluster-store, for brokers sharing etcd).
 */
BenchBroker *bench_broker_start_store(const char *exe, char **extra,
                                      const char *dir);
/*
 * The same for a baseline build (an earlier commit, for before/after
 * figures measured side by side): only the options every build knows.
 */
BenchBroker *bench_broker_start_baseline(const char *exe);
/* SIGTERM and wait; keep_dir leaves the dir for a restart on it. */
void bench_broker_stop(BenchBroker *b, bool keep_dir);

/* ---- control calls: any failure is fatal ------------------------------- */

/* Send one request (args are taken, may be NULL); bench_recv() its reply. */
void bench_send(BenchBroker *b, const char *cmd, JsonObject *args);
/*
 * The next reply, in the order sent.  cls NULL: an error reply is fatal;
 * else NULL is returned with the error's class name in *cls (a closed
 * connection stays fatal).
 */
JsonNode *bench_recv(BenchBroker *b, const char *cmd, char **cls);
/* bench_send() then bench_recv() with no error allowed. */
JsonNode *bench_call(BenchBroker *b, const char *cmd, JsonObject *args);

/* { "tag": tag }, to be given to one of the calls above. */
JsonObject *bench_args_tag(const char *tag);
/* pool-create of size bytes; returns the new pool's tag. */
char *bench_pool_create(BenchBroker *b, uint64_t size);
/* pool-destroy, retried for up to 10 s while the pool is busy. */
void bench_pool_destroy(BenchBroker *b, const char *tag);
/*
 * The same, also retried on `state` if state is not NULL (counted there):
 * a broker of a cluster whose view of shared/device lags another
 * broker's create or destroy refuses a destroy so, and does not retry it.
 */
void bench_pool_destroy_counted(BenchBroker *b, const char *tag,
                                unsigned *state);
/* Objects of a (extent-add's "extents", extent-list) in state accepted. */
unsigned bench_count_accepted(JsonArray *a);

/* ---- process figures from /proc ---------------------------------------- */

typedef struct BenchProcSample {
    double cpu_s;               /* utime + stime */
    guint64 rss_kib;            /* VmRSS */
    guint64 hwm_kib;            /* VmHWM */
} BenchProcSample;

/* All zero if the process is gone. */
void bench_proc_sample(pid_t pid, BenchProcSample *s);

/* ---- statistics -------------------------------------------------------- */

/* CLOCK_MONOTONIC in microseconds. */
double bench_now_us(void);
/* A qsort() comparison for doubles. */
int bench_cmp_double(const void *a, const void *b);
/* Nearest-rank percentile (p in [0, 1]) of n sorted values. */
double bench_percentile(const double *v, unsigned n, double p);
/* What the tables show of n samples (v is sorted in place). */
typedef struct BenchStats {
    unsigned n;
    double mean, p50, p99, min, max;
} BenchStats;
void bench_stats(double *v, unsigned n, BenchStats *s);

/* ---- machine info and JSON output -------------------------------------- */

/* "Linux RELEASE MACHINE" from uname(2), or "unknown". */
char *bench_kernel_release(void);
/* RLIMIT_NOFILE up to its hard limit: many hosts, many brokers. */
void bench_raise_nofile(void);
/* /proc/cpuinfo's first model name, or "unknown". */
char *bench_cpu_model(void);
/* The build's broker: BUILD/dcd-broker/dcd-broker beside BUILD/bench. */
char *bench_default_broker(void);
/* A member holding the three load averages. */
void bench_json_loadavg(JsonBuilder *jb, const char *k, const double *load);
/* Open a result object: benchmark, kernel, cpu and loadavg members. */
void bench_json_begin(JsonBuilder *jb, const char *benchmark,
                      const char *kernel, const double *load);
/* Write jb's document to path, pretty-printed. */
bool bench_json_write(JsonBuilder *jb, const char *path, GError **errp);

#endif
