/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm-add.c - how long one allocation takes to reach N VMs: through
 * dcd-broker (one control request per host, issued back to back) against
 * upstream-style QEMU (each VM its own volatile-dc-memdev, the add issued
 * through each VM's own QMP, VM after VM).  A benchmark, not a test: it
 * prints a table and writes JSON; nothing passes or fails on speed.
 *
 * Owns: two sets of N patched QEMUs under -accel qtest
 * (tests/qemu/harness.c), one driver thread per VM playing its host side
 * with dcd-host, and the measurements.  The broker process and its
 * pipelined control requests are benchlib.c's.
 *
 * One add, broker path: pool-create (untimed), then t0, then pipelined
 * on one control connection extent-add prescriptive [0, size) to host 0
 * and enable-shared-access to hosts 1..N-1 (no "wait"); the run ends when
 * every VM's driver has seen its DC Add event, answered with Add DC
 * Response (4802h) and cxl-query-dynamic-capacity of that VM shows the
 * extent accepted.  Then (untimed) extent-release tag-based for every
 * host, the drivers answer with Release DC (4803h), pool-destroy.
 *
 * One add, upstream path: t0, then for VM 0..N-1 in turn
 * cxl-add-dynamic-capacity prescriptive [0, size) on its QMP, and that
 * VM's driver accepts it as above before the next VM is asked.  Release
 * (untimed) is cxl-release-dynamic-capacity prescriptive plus 4803h.
 *
 * Every VM has decoders committed over its whole DC region before the
 * first add, so an accepted pooled extent is aliased straight into the
 * window ("direct"); a volatile-dc-memdev extent is reached through the
 * emulated window ("mmio").  The two paths alternate add by add (ABBA),
 * so load on a shared machine falls on both alike.
 *
 * A driver waits for an event the way a guest without interrupts would:
 * it reads the Event Status register (one qtest round trip) every
 * --poll-us and fetches the event log when the DC bit is set.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "benchlib.h"
#include "benchvm.h"
#include "dcd/json.h"

#define DC_SIZE (4 * GiB)
#define EV_STATUS_DC (1u << 4)      /* Event Status: Dynamic Capacity log */
#define JOB_TIMEOUT_US (10 * G_USEC_PER_SEC)
#define CONNECT_TIMEOUT_US (20 * G_USEC_PER_SEC)

/* ---- the broker's view ------------------------------------------------- */

/* Accepted extents of tag over all hosts (extent-list). */
static unsigned broker_accepted(BenchBroker *b, const char *tag)
{
    g_autoptr(JsonNode) n = bench_call(b, "extent-list", bench_args_tag(tag));

    return bench_count_accepted(json_node_get_array(n));
}

static void broker_wait_hosts(BenchBroker *b, unsigned n)
{
    gint64 end = g_get_monotonic_time() + CONNECT_TIMEOUT_US;

    for (;;) {
        g_autoptr(JsonNode) l = bench_call(b, "host-list", NULL);
        JsonArray *a = json_node_get_array(l);
        unsigned up = 0;

        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *h = json_array_get_object_element(a, i);

            up += json_object_get_int_member(h, "host-id") < n &&
                  json_object_get_boolean_member(h, "connected");
        }
        if (up == n) {
            return;
        }
        if (g_get_monotonic_time() > end) {
            bench_die("only %u of %u VMs connected to the broker; see %s",
                      up, n, b->log);
        }
        g_usleep(10000);
    }
}

/* ---- VMs and their drivers --------------------------------------------- */

enum { JOB_NONE, JOB_ADD, JOB_RELEASE, JOB_QUIT };

typedef struct Vm {
    DcdQemuVm *q;
    pid_t pid;
    unsigned index;             /* host id on the broker */
    bool pooled;                /* attached to the broker */
    uint64_t ev_status;         /* Event Status register */
    DcdMapping map;
    GThread *thread;
    /* under the bench lock */
    int job;
    unsigned seq, done_seq;
    double t_post;              /* job given */
    double t_seen;              /* Event Status showed the DC log */
    double t_resp;              /* 4802h returned */
    double t_done;              /* cxl-query-dynamic-capacity confirmed */
    guint64 trips;              /* qtest round trips of the job */
    char *error;
    char mapping[16];
    /* driver thread only */
    GArray *held;               /* DcdDevExtent accepted by the last add */
    guint64 polls;
} Vm;

typedef struct Bench {
    GMutex lock;
    GCond job_cond;
    GCond done_cond;
    int poll_us;
    uint64_t size;
} Bench;

static Bench bench;

/*
 * Wait for the next DC event group of type: poll the Event Status
 * register, then read and clear the group.
 */
static GArray *drv_wait_group(Vm *v, unsigned type, GError **errp)
{
    DcdMemdev *md = v->q->md;
    gint64 end = g_get_monotonic_time() + JOB_TIMEOUT_US;

    for (;;) {
        uint32_t st = dcd_io_rd32(v->q->io, v->ev_status);
        g_autoptr(GArray) g = NULL;

        v->polls++;
        if (!dcd_io_check(v->q->io, errp)) {
            return NULL;
        }
        if (st & EV_STATUS_DC) {
            v->t_seen = bench_now_us();
            g = dcd_next_group(&md->mbox, errp);
            if (!g) {
                return NULL;
            }
            if (g->len) {
                for (guint i = 0; i < g->len; i++) {
                    if (g_array_index(g, DcdEvent, i).type != type) {
                        g_set_error(errp, DCD_HOST_ERROR,
                                    DCD_HOST_ERR_INVALID,
                                    "DC event of type %u, expected %u",
                                    g_array_index(g, DcdEvent, i).type, type);
                        return NULL;
                    }
                }
                return g_steal_pointer(&g);
            }
        }
        if (g_get_monotonic_time() > end) {
            g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_TIMEOUT,
                        "no DC event in %d s", JOB_TIMEOUT_US / 1000000);
            return NULL;
        }
        if (bench.poll_us > 0) {
            g_usleep(bench.poll_us);
        }
    }
}

/* cxl-query-dynamic-capacity shows every held extent accepted. */
static bool drv_confirm(Vm *v, GError **errp)
{
    g_autoptr(JsonNode) l = NULL;

    for (int tries = 0;; tries++) {
        bool all = true;

        l = dcd_qmp_execute(v->q->qmp, "cxl-query-dynamic-capacity",
                            dcd_qmp_args("s:path", DCD_QEMU_DEV_PATH, NULL), errp);
        if (!l) {
            return false;
        }
        for (guint i = 0; i < v->held->len && all; i++) {
            JsonObject *o = dcd_qemu_query_at(l, g_array_index(v->held, DcdDevExtent,
                                                       i).dpa);

            all = o && g_str_equal(json_object_get_string_member(o, "state"),
                                   "accepted");
            if (all) {
                g_strlcpy(v->mapping, json_object_get_string_member(
                          o, "mapping"), sizeof(v->mapping));
            }
        }
        if (all) {
            return true;
        }
        if (tries > 1000) {
            g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_TIMEOUT,
                        "accepted extent not in cxl-query-dynamic-capacity");
            return false;
        }
        g_clear_pointer(&l, json_node_unref);
        g_usleep(100);
    }
}

static bool drv_add(Vm *v, GError **errp)
{
    g_autoptr(GArray) g = drv_wait_group(v, DCD_EV_ADD, errp);

    if (!g) {
        return false;
    }
    g_array_set_size(v->held, 0);
    for (guint i = 0; i < g->len; i++) {
        g_array_append_val(v->held, g_array_index(g, DcdEvent, i).extent);
    }
    if (!dcd_add_response(&v->q->md->mbox, &g_array_index(v->held,
                          DcdDevExtent, 0), v->held->len, errp)) {
        return false;
    }
    v->t_resp = bench_now_us();
    return drv_confirm(v, errp);
}

static bool drv_release(Vm *v, GError **errp)
{
    g_autoptr(GArray) g = drv_wait_group(v, DCD_EV_RELEASE, errp);
    g_autoptr(GArray) ext = g_array_new(FALSE, FALSE, sizeof(DcdDevExtent));

    if (!g) {
        return false;
    }
    for (guint i = 0; i < g->len; i++) {
        g_array_append_val(ext, g_array_index(g, DcdEvent, i).extent);
    }
    return dcd_release(&v->q->md->mbox, &g_array_index(ext, DcdDevExtent, 0),
                       ext->len, errp);
}

static gpointer drv_thread(gpointer opaque)
{
    Vm *v = opaque;
    unsigned seen = 0;

    for (;;) {
        g_autoptr(GError) err = NULL;
        guint64 trips;
        int job;
        bool ok;

        g_mutex_lock(&bench.lock);
        while (v->seq == seen) {
            g_cond_wait(&bench.job_cond, &bench.lock);
        }
        seen = v->seq;
        job = v->job;
        g_mutex_unlock(&bench.lock);
        if (job == JOB_QUIT) {
            return NULL;
        }
        trips = dcd_qtest_round_trips(v->q->io);
        ok = job == JOB_ADD ? drv_add(v, &err) : drv_release(v, &err);
        trips = dcd_qtest_round_trips(v->q->io) - trips;
        g_mutex_lock(&bench.lock);
        v->t_done = bench_now_us();
        v->trips = trips;
        if (!ok) {
            v->error = g_strdup(err->message);
        }
        v->done_seq = seen;
        g_cond_broadcast(&bench.done_cond);
        g_mutex_unlock(&bench.lock);
    }
}

/* Give VMs [0, n) a job. */
static void vms_post(Vm **vms, unsigned n, int job)
{
    double t = bench_now_us();

    g_mutex_lock(&bench.lock);
    for (unsigned i = 0; i < n; i++) {
        vms[i]->job = job;
        vms[i]->t_post = t;
        vms[i]->seq++;
    }
    g_cond_broadcast(&bench.job_cond);
    g_mutex_unlock(&bench.lock);
}

/* Wait for VMs [0, n) to finish their job; returns the latest t_done. */
static double vms_wait(Vm **vms, unsigned n)
{
    double last = 0;

    g_mutex_lock(&bench.lock);
    for (unsigned i = 0; i < n; i++) {
        while (vms[i]->done_seq != vms[i]->seq) {
            g_cond_wait(&bench.done_cond, &bench.lock);
        }
        if (vms[i]->error) {
            bench_die("VM %u (%s): %s", i,
                      vms[i]->pooled ? "broker" : "upstream", vms[i]->error);
        }
        last = MAX(last, vms[i]->t_done);
    }
    g_mutex_unlock(&bench.lock);
    return last;
}

static Vm *vm_start(bool pooled, unsigned index, const char *host_sock)
{
    Vm *v = g_new0(Vm, 1);
    g_autofree char *chardev = NULL;
    g_autofree char *props = NULL;
    const char *extra[3] = { NULL };
    DcdQemuVmOpts o = { .dc_regions = 1 };
    g_autoptr(GError) err = NULL;
    const DcdRegion *r;

    v->index = index;
    v->pooled = pooled;
    if (pooled) {
        chardev = g_strdup_printf("socket,id=brk,path=%s,reconnect-ms=500",
                                  host_sock);
        props = g_strdup_printf(",dc-regions-sharable=1,dcd-broker=brk,"
                                "dcd-host-id=%u", index);
        extra[0] = "-chardev";
        extra[1] = chardev;
        o.extra = extra;
        o.dev_props = props;
        o.dc_total_size = DC_SIZE;
    } else {
        o.dc_memdev_size = DC_SIZE;
    }
    v->q = bench_vm_start(&o);
    v->pid = atoi(g_subprocess_get_identifier(v->q->proc));
    v->ev_status = dcd_cxl_find_devcap(v->q->io, v->q->md->regs,
                                       CXL_DEVCAP_STATUS);
    if (!v->ev_status || v->q->md->dc.n_regions < 1) {
        bench_die("VM %u: no device status registers or DC region", index);
    }
    /* decoders over the whole DC region, so accepted extents get mapped */
    r = &v->q->md->dc.region[0];
    if (!dcd_memdev_map(v->q->md, 0, v->q->plat.windows[0].base, r->base,
                        r->decode_len, &v->map, &err)) {
        bench_die("VM %u: committing decoders: %s", index, err->message);
    }
    v->held = g_array_new(FALSE, FALSE, sizeof(DcdDevExtent));
    v->thread = g_thread_new("driver", drv_thread, v);
    return v;
}

static void vm_stop(Vm *v)
{
    vms_post(&v, 1, JOB_QUIT);
    g_thread_join(v->thread);
    dcd_qemu_vm_stop(v->q);
    g_array_unref(v->held);
    g_free(v->error);
    g_free(v);
}

/* ---- one add on each path ---------------------------------------------- */

typedef struct Sample {
    double all_us;              /* until accepted in all N VMs */
    double issued_us;           /* broker: all control replies back */
    double broker_us;           /* broker: extent-list shows N accepted */
    double cpu_s;               /* broker CPU over the add (schedstat) */
    double qemu_cpu_s;          /* the N QEMUs' CPU over the add */
    /* means over the N VMs of one add */
    double wait_us;             /* job given .. DC event seen */
    double accept_us;           /* .. 4802h done (event log read, cleared) */
    double confirm_us;          /* .. cxl-query-dynamic-capacity says so */
    double trips;               /* qtest round trips per VM */
    double qmp_us;              /* upstream: cxl-add-dynamic-capacity */
} Sample;

/* Add VM v's last add job to s's per-VM means (n VMs). */
static void sample_stages(Sample *s, const Vm *v, unsigned n)
{
    s->wait_us += (v->t_seen - v->t_post) / n;
    s->accept_us += (v->t_resp - v->t_seen) / n;
    s->confirm_us += (v->t_done - v->t_resp) / n;
    s->trips += (double)v->trips / n;
}

/* Whole-process CPU time in s: every thread's schedstat run time. */
static double proc_cpu_s(pid_t pid)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", pid);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *t;
    double ns = 0;

    while (d && (t = g_dir_read_name(d))) {
        g_autofree char *p = g_strdup_printf("%s/%s/schedstat", dir, t);
        g_autofree char *text = NULL;

        if (g_file_get_contents(p, &text, NULL, NULL)) {
            ns += g_ascii_strtod(text, NULL);
        }
    }
    return ns / 1e9;
}

static double vms_cpu_s(Vm **vms, unsigned n)
{
    double s = 0;

    for (unsigned i = 0; i < n; i++) {
        s += proc_cpu_s(vms[i]->pid);
    }
    return s;
}

static void broker_add(BenchBroker *b, Vm **vms, unsigned n, Sample *s)
{
    g_autofree char *tag = bench_pool_create(b, bench.size);
    double t0, cpu0, qcpu0;

    memset(s, 0, sizeof(*s));
    qcpu0 = vms_cpu_s(vms, n);
    cpu0 = proc_cpu_s(b->pid);
    vms_post(vms, n, JOB_ADD);
    t0 = bench_now_us();
    for (unsigned i = 0; i < n; i++) {
        JsonObject *a = bench_args_tag(tag);

        json_object_set_int_member(a, "host-id", i);
        if (i == 0) {
            JsonArray *ext = json_array_new();
            JsonObject *e = json_object_new();

            json_object_set_int_member(e, "offset", 0);
            json_object_set_int_member(e, "len", bench.size);
            json_array_add_object_element(ext, e);
            json_object_set_string_member(a, "policy", "prescriptive");
            json_object_set_array_member(a, "extents", ext);
        } else {
            json_object_set_string_member(a, "policy",
                                          "enable-shared-access");
        }
        bench_send(b, "extent-add", a);
    }
    for (unsigned i = 0; i < n; i++) {
        json_node_unref(bench_recv(b, "extent-add", NULL));
    }
    s->issued_us = bench_now_us() - t0;
    s->all_us = vms_wait(vms, n) - t0;
    while (broker_accepted(b, tag) < n) {
        if (bench_now_us() - t0 > JOB_TIMEOUT_US) {
            bench_die("the broker never saw all %u hosts accept", n);
        }
        g_usleep(100);
    }
    s->broker_us = bench_now_us() - t0;
    s->cpu_s = proc_cpu_s(b->pid) - cpu0;
    s->qemu_cpu_s = vms_cpu_s(vms, n) - qcpu0;
    for (unsigned i = 0; i < n; i++) {
        sample_stages(s, vms[i], n);
    }

    /* untimed: give it all back */
    vms_post(vms, n, JOB_RELEASE);
    for (unsigned i = 0; i < n; i++) {
        JsonObject *a = bench_args_tag(tag);

        json_object_set_int_member(a, "host-id", i);
        bench_send(b, "extent-release", a);
    }
    for (unsigned i = 0; i < n; i++) {
        json_node_unref(bench_recv(b, "extent-release", NULL));
    }
    vms_wait(vms, n);
    bench_pool_destroy(b, tag);
}

static void upstream_add(Vm **vms, unsigned n, Sample *s)
{
    uint64_t ol[2] = { 0, bench.size };
    g_autoptr(GError) err = NULL;
    double qcpu0 = vms_cpu_s(vms, n);
    double t0 = bench_now_us(), last = t0;

    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i < n; i++) {
        double tq = bench_now_us();

        if (!dcd_qmp_run(vms[i]->q->qmp, "cxl-add-dynamic-capacity",
                         dcd_qemu_add_args(0, NULL, ol, 1), &err)) {
            bench_die("upstream VM %u: cxl-add-dynamic-capacity: %s", i,
                      err->message);
        }
        s->qmp_us += (bench_now_us() - tq) / n;
        vms_post(&vms[i], 1, JOB_ADD);
        last = vms_wait(&vms[i], 1);
        sample_stages(s, vms[i], n);
    }
    s->all_us = last - t0;
    s->qemu_cpu_s = vms_cpu_s(vms, n) - qcpu0;

    /* untimed */
    for (unsigned i = 0; i < n; i++) {
        if (!dcd_qmp_run(vms[i]->q->qmp, "cxl-release-dynamic-capacity",
                         dcd_qemu_release_args("prescriptive", 0, NULL, ol, 1),
                         &err)) {
            bench_die("upstream VM %u: cxl-release-dynamic-capacity: %s", i,
                      err->message);
        }
        vms_post(&vms[i], 1, JOB_RELEASE);
    }
    vms_wait(vms, n);
}

/* ---- statistics and output --------------------------------------------- */

typedef BenchStats Stats;

static void stats_of(const Sample *s, unsigned n, size_t field, Stats *st)
{
    g_autofree double *v = g_new(double, n);

    for (unsigned i = 0; i < n; i++) {
        v[i] = *(const double *)((const char *)&s[i] + field);
    }
    bench_stats(v, n, st);
}

/* Per-VM stage means of a path over a phase. */
typedef struct Stages {
    double wait_us, accept_us, confirm_us, trips, qmp_us;
    double qemu_cpu_us;         /* all N QEMUs, per add */
} Stages;

static void stages_of(const Sample *s, unsigned n, Stages *st)
{
    memset(st, 0, sizeof(*st));
    for (unsigned i = 0; i < n; i++) {
        st->wait_us += s[i].wait_us / n;
        st->accept_us += s[i].accept_us / n;
        st->confirm_us += s[i].confirm_us / n;
        st->trips += s[i].trips / n;
        st->qmp_us += s[i].qmp_us / n;
        st->qemu_cpu_us += s[i].qemu_cpu_s * 1e6 / n;
    }
}

typedef struct Phase {
    unsigned n;
    unsigned adds;
    Stats brk, brk_issued, brk_ack, up;
    Stages brk_st, up_st;
    double broker_cpu_s;        /* schedstat, over the timed adds */
    double broker_stat_cpu_s;   /* utime+stime, whole phase */
    BenchProcSample broker_end;
    char brk_mapping[16], up_mapping[16];
    guint64 polls;
} Phase;

static void member_stages(JsonBuilder *jb, const Stages *s, bool qmp)
{
    json_builder_set_member_name(jb, "per-vm-mean");
    json_builder_begin_object(jb);
    if (qmp) {
        dcd_json_double(jb, "qmp-add-us", s->qmp_us);
    }
    dcd_json_double(jb, "event-wait-us", s->wait_us);
    dcd_json_double(jb, "accept-us", s->accept_us);
    dcd_json_double(jb, "confirm-us", s->confirm_us);
    dcd_json_double(jb, "qtest-round-trips", s->trips);
    json_builder_end_object(jb);
    dcd_json_double(jb, "qemu-cpu-us-per-add", s->qemu_cpu_us);
}

static void member_stats(JsonBuilder *jb, const char *k, const Stats *s)
{
    json_builder_set_member_name(jb, k);
    json_builder_begin_object(jb);
    dcd_json_double(jb, "p50-us", s->p50);
    dcd_json_double(jb, "p99-us", s->p99);
    dcd_json_double(jb, "mean-us", s->mean);
    dcd_json_double(jb, "min-us", s->min);
    dcd_json_double(jb, "max-us", s->max);
    json_builder_end_object(jb);
}

static char *qemu_version(Vm *v)
{
    g_autoptr(JsonNode) r = dcd_qmp_execute(v->q->qmp, "query-version", NULL,
                                            NULL);
    JsonObject *q;

    if (!r) {
        return g_strdup("unknown");
    }
    q = json_object_get_object_member(json_node_get_object(r), "qemu");
    return g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%"
                           G_GINT64_FORMAT "%s",
                           json_object_get_int_member(q, "major"),
                           json_object_get_int_member(q, "minor"),
                           json_object_get_int_member(q, "micro"),
                           json_object_get_string_member(
                               json_node_get_object(r), "package"));
}

static void write_json(const char *path, const Phase *ph, unsigned nph,
                       const double *load0, const double *load1,
                       const char *stamp, const char *qver, double wall_s,
                       const BenchProcSample *idle)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *cpu = bench_cpu_model();
    struct utsname u;

    uname(&u);
    json_builder_begin_object(jb);
    dcd_json_str(jb, "benchmark", "vm-add");
    dcd_json_str(jb, "timestamp", stamp);
    json_builder_set_member_name(jb, "machine");
    json_builder_begin_object(jb);
    dcd_json_int(jb, "nproc", g_get_num_processors());
    dcd_json_str(jb, "kernel", u.release);
    dcd_json_str(jb, "cpu", cpu);
    dcd_json_str(jb, "qemu", qver);
    bench_json_loadavg(jb, "loadavg-at-start", load0);
    bench_json_loadavg(jb, "loadavg-at-end", load1);
    dcd_json_int(jb, "clock-ticks-per-s", sysconf(_SC_CLK_TCK));
    json_builder_end_object(jb);

    json_builder_set_member_name(jb, "setup");
    json_builder_begin_object(jb);
    dcd_json_int(jb, "extent-bytes", bench.size);
    dcd_json_int(jb, "dc-region-bytes", DC_SIZE);
    dcd_json_int(jb, "poll-us", bench.poll_us);
    dcd_json_double(jb, "wall-s", wall_s);
    dcd_json_str(jb, "broker-path", "one broker, N QEMUs (cxl-type3 with "
                 "dcd-broker, dc-regions-total-size, sharable); t0, then "
                 "pipelined on one control connection: extent-add "
                 "prescriptive [0, size) of a fresh memfd pool to host 0 and "
                 "enable-shared-access to hosts 1..N-1, without wait; done "
                 "when every VM's driver has taken the DC Add event, sent Add "
                 "DC Response (4802h) and its cxl-query-dynamic-capacity "
                 "shows the extent accepted");
    dcd_json_str(jb, "upstream-path", "N QEMUs, each its own "
                 "volatile-dc-memdev, no broker; t0, then VM after VM: "
                 "cxl-add-dynamic-capacity prescriptive [0, size) on its QMP, "
                 "its driver takes the event, 4802h, and "
                 "cxl-query-dynamic-capacity shows it accepted, before the "
                 "next VM is asked");
    dcd_json_str(jb, "untimed", "pool-create before a broker add; release "
                 "(tag-based on the broker, prescriptive QMP upstream, 4803h "
                 "by the drivers) and pool-destroy after");
    dcd_json_str(jb, "driver", "one thread per VM with dcd-host over qtest; "
                 "decoders committed over the whole DC region up front; waits "
                 "by reading Event Status every poll-us");
    dcd_json_str(jb, "order", "broker and upstream adds alternate ABBA");
    dcd_json_str(jb, "broker-ack", "after all VMs: extent-list of the tag "
                 "polled until N accepted");
    dcd_json_str(jb, "stages", "per VM: event-wait from the job given "
                 "(broker: t0; upstream: after its QMP add returned) until "
                 "Event Status shows the DC log; accept: reading and clearing "
                 "the group and 4802h; confirm: cxl-query-dynamic-capacity");
    dcd_json_str(jb, "broker-cpu", "timed: sum over the timed adds of every "
                 "broker thread's /proc/PID/task/*/schedstat run time; phase: "
                 "utime+stime from /proc/PID/stat across the whole phase, "
                 "release and pool calls included");
    json_builder_set_member_name(jb, "broker-idle");
    json_builder_begin_object(jb);
    dcd_json_double(jb, "cpu-s", idle->cpu_s);
    dcd_json_int(jb, "vm-rss-kib", idle->rss_kib);
    json_builder_end_object(jb);
    json_builder_end_object(jb);

    json_builder_set_member_name(jb, "phases");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < nph; i++) {
        const Phase *p = &ph[i];

        json_builder_begin_object(jb);
        dcd_json_int(jb, "vms", p->n);
        dcd_json_int(jb, "adds", p->adds);
        json_builder_set_member_name(jb, "broker");
        json_builder_begin_object(jb);
        dcd_json_str(jb, "mapping", p->brk_mapping);
        member_stats(jb, "all-accepted", &p->brk);
        member_stats(jb, "requests-answered", &p->brk_issued);
        member_stats(jb, "broker-ack", &p->brk_ack);
        member_stages(jb, &p->brk_st, false);
        dcd_json_double(jb, "broker-cpu-s-timed-schedstat", p->broker_cpu_s);
        dcd_json_double(jb, "broker-cpu-us-per-add",
                        p->broker_cpu_s * 1e6 / p->adds);
        dcd_json_double(jb, "broker-utime-stime-s-phase",
                        p->broker_stat_cpu_s);
        dcd_json_int(jb, "broker-vm-rss-kib", p->broker_end.rss_kib);
        dcd_json_int(jb, "broker-vm-hwm-kib", p->broker_end.hwm_kib);
        json_builder_end_object(jb);
        json_builder_set_member_name(jb, "upstream");
        json_builder_begin_object(jb);
        dcd_json_str(jb, "mapping", p->up_mapping);
        member_stats(jb, "all-accepted", &p->up);
        member_stages(jb, &p->up_st, true);
        json_builder_end_object(jb);
        json_builder_set_member_name(jb, "ratio-upstream-over-broker");
        json_builder_begin_object(jb);
        dcd_json_double(jb, "p50", p->up.p50 / p->brk.p50);
        dcd_json_double(jb, "p99", p->up.p99 / p->brk.p99);
        dcd_json_double(jb, "mean", p->up.mean / p->brk.mean);
        json_builder_end_object(jb);
        dcd_json_int(jb, "event-status-polls", p->polls);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    if (!bench_json_write(jb, path, &err)) {
        bench_die("%s: %s", path, err->message);
    }
}

/* The mapping the last add got in VMs [0, n): one word, or "mixed". */
static void mapping_of(Vm **vms, unsigned n, char out[16])
{
    g_strlcpy(out, vms[0]->mapping, 16);
    for (unsigned i = 1; i < n; i++) {
        if (!g_str_equal(vms[i]->mapping, out)) {
            g_strlcpy(out, "mixed", 16);
        }
    }
}

int main(int argc, char **argv)
{
    g_autofree char *broker_exe = NULL;
    g_autofree char *output = NULL;
    g_autofree char *vms_list = g_strdup("1,2,4,8");
    g_auto(GStrv) broker_args = NULL;
    gint adds = 100, size_mib = 64, poll_us = 50;
    gboolean probe = FALSE;
    GOptionEntry entries[] = {
        { "broker", 0, 0, G_OPTION_ARG_FILENAME, &broker_exe,
          "dcd-broker executable", "PATH" },
        { "broker-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &broker_args,
          "pass an option to the broker (repeatable)", "ARG" },
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
          "write JSON results here", "FILE" },
        { "vms", 0, 0, G_OPTION_ARG_STRING, &vms_list,
          "VM counts (default 1,2,4,8)", "N,..." },
        { "adds", 0, 0, G_OPTION_ARG_INT, &adds,
          "adds per VM count and path (default 100)", "N" },
        { "size", 0, 0, G_OPTION_ARG_INT, &size_mib,
          "extent size in MiB (default 64)", "MIB" },
        { "poll-us", 0, 0, G_OPTION_ARG_INT, &poll_us,
          "drivers read Event Status this often (default 50)", "US" },
        { "probe", 0, 0, G_OPTION_ARG_NONE, &probe,
          "exit 0 if the QEMU binary exists, 1 if not", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "- time to add one allocation to N VMs: broker vs upstream QEMU");
    g_autoptr(GError) err = NULL;
    g_autoptr(GDateTime) dt = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(dt);
    g_autofree char *qver = NULL;
    g_autofree Phase *ph = NULL;
    g_auto(GStrv) nlist = NULL;
    g_autoptr(GPtrArray) bvms = g_ptr_array_new();
    g_autoptr(GPtrArray) uvms = g_ptr_array_new();
    double load0[3] = { 0 }, load1[3] = { 0 }, t_start;
    BenchProcSample idle;
    unsigned nph;
    BenchBroker *b;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!g_option_context_parse(oc, &argc, &argv, &err)) {
        g_printerr("vm-add: %s\n", err->message);
        return 2;
    }
    if (probe) {
        return bench_qemu_binary() ? 0 : 1;
    }
    if (!bench_qemu_binary()) {
        g_printerr("vm-add: no QEMU: build it (qemu/build.sh) or set"
                   " DCD_QEMU\n");
        return 1;
    }
    if (!broker_exe || adds < 1 || size_mib < 2 || size_mib % 2 ||
        (uint64_t)size_mib * MiB > DC_SIZE || poll_us < 0) {
        g_printerr("vm-add: --broker is required; --adds positive; --size a "
                   "multiple of 2 up to 4096\n");
        return 2;
    }
    bench.poll_us = poll_us;
    bench.size = (uint64_t)size_mib * MiB;
    g_mutex_init(&bench.lock);
    g_cond_init(&bench.job_cond);
    g_cond_init(&bench.done_cond);
    bench_init("vm-add");
    nlist = g_strsplit(vms_list, ",", 0);
    nph = g_strv_length(nlist);
    ph = g_new0(Phase, nph);
    getloadavg(load0, 3);
    t_start = bench_now_us();

    b = bench_broker_start(broker_exe, broker_args, NULL);
    bench_proc_sample(b->pid, &idle);
    for (unsigned k = 0; k < nph; k++) {
        unsigned n = atoi(nlist[k]);
        g_autofree Sample *bs = NULL;
        g_autofree Sample *us = NULL;
        Phase *p = &ph[k];
        guint64 polls0 = 0;
        BenchProcSample c0;

        if (n < 1 || n > 64) {
            g_printerr("vm-add: bad VM count '%s'\n", nlist[k]);
            return 2;
        }
        while (bvms->len < n) {
            g_ptr_array_add(bvms, vm_start(true, bvms->len, b->host_sock));
            g_ptr_array_add(uvms, vm_start(false, uvms->len, NULL));
        }
        broker_wait_hosts(b, n);
        if (!qver) {
            qver = qemu_version(bvms->pdata[0]);
        }
        for (unsigned i = 0; i < n; i++) {
            polls0 += ((Vm *)bvms->pdata[i])->polls +
                      ((Vm *)uvms->pdata[i])->polls;
        }
        /* one untimed round of each, so first-time costs stay out */
        {
            Sample warm;

            broker_add(b, (Vm **)bvms->pdata, n, &warm);
            upstream_add((Vm **)uvms->pdata, n, &warm);
        }
        bs = g_new0(Sample, adds);
        us = g_new0(Sample, adds);
        bench_proc_sample(b->pid, &c0);
        for (int i = 0; i < adds; i++) {
            /* ABBA: broker first on even pairs, upstream first on odd */
            if ((i & 1) == ((i >> 1) & 1)) {
                broker_add(b, (Vm **)bvms->pdata, n, &bs[i]);
                upstream_add((Vm **)uvms->pdata, n, &us[i]);
            } else {
                upstream_add((Vm **)uvms->pdata, n, &us[i]);
                broker_add(b, (Vm **)bvms->pdata, n, &bs[i]);
            }
            p->broker_cpu_s += bs[i].cpu_s;
        }
        p->n = n;
        p->adds = adds;
        stats_of(bs, adds, G_STRUCT_OFFSET(Sample, all_us), &p->brk);
        stats_of(bs, adds, G_STRUCT_OFFSET(Sample, issued_us),
                 &p->brk_issued);
        stats_of(bs, adds, G_STRUCT_OFFSET(Sample, broker_us), &p->brk_ack);
        stats_of(us, adds, G_STRUCT_OFFSET(Sample, all_us), &p->up);
        bench_proc_sample(b->pid, &p->broker_end);
        p->broker_stat_cpu_s = p->broker_end.cpu_s - c0.cpu_s;
        stages_of(bs, adds, &p->brk_st);
        stages_of(us, adds, &p->up_st);
        mapping_of((Vm **)bvms->pdata, n, p->brk_mapping);
        mapping_of((Vm **)uvms->pdata, n, p->up_mapping);
        for (unsigned i = 0; i < n; i++) {
            p->polls += ((Vm *)bvms->pdata[i])->polls +
                        ((Vm *)uvms->pdata[i])->polls;
        }
        p->polls -= polls0;
        g_printerr("vm-add: %u VMs done (broker p50 %.0f us, upstream p50 "
                   "%.0f us)\n", n, p->brk.p50, p->up.p50);
    }
    for (guint i = 0; i < bvms->len; i++) {
        vm_stop(bvms->pdata[i]);
        vm_stop(uvms->pdata[i]);
    }
    bench_broker_stop(b, false);
    getloadavg(load1, 3);

    printf("vm-add: one %d MiB allocation to N VMs, broker vs upstream QEMU"
           "  %s  nproc %d\n", size_mib, stamp, g_get_num_processors());
    printf("qemu %s under -accel qtest, dcd-host drivers polling Event "
           "Status every %d us\n", qver, poll_us);
    printf("load average: %.2f %.2f %.2f at start, %.2f %.2f %.2f at end\n\n",
           load0[0], load0[1], load0[2], load1[0], load1[1], load1[2]);
    printf("latency until accepted in all N VMs (4802h sent, "
           "cxl-query-dynamic-capacity says accepted), %d adds each\n", adds);
    printf("%4s | %9s %9s %9s %9s | %9s %9s %9s | %7s %7s %7s | %8s %7s\n",
           "N", "brk-p50", "brk-p99", "brk-mean", "brk-ack", "up-p50",
           "up-p99", "up-mean", "x-p50", "x-p99", "x-mean", "cpu-us", "rss-MiB");
    for (unsigned k = 0; k < nph; k++) {
        const Phase *p = &ph[k];

        printf("%4u | %9.0f %9.0f %9.0f %9.0f | %9.0f %9.0f %9.0f | %7.2f "
               "%7.2f %7.2f | %8.0f %7.1f\n", p->n, p->brk.p50, p->brk.p99,
               p->brk.mean, p->brk_ack.p50, p->up.p50, p->up.p99, p->up.mean,
               p->up.p50 / p->brk.p50, p->up.p99 / p->brk.p99,
               p->up.mean / p->brk.mean, p->broker_cpu_s * 1e6 / p->adds,
               p->broker_end.rss_kib / 1024.0);
    }
    printf("  times in us; x = upstream / broker (above 1: the broker is "
           "faster)\n");
    printf("  brk-ack: p50 until the broker's extent-list shows all N "
           "accepted\n");
    printf("  cpu-us: broker CPU per timed add (all threads' schedstat run "
           "time); rss: broker VmRSS\n  after the phase\n");
    for (unsigned k = 0; k < nph; k++) {
        printf("%s%u VMs %s/%s", k ? ", " : "  mapping (broker/upstream): ",
               ph[k].n, ph[k].brk_mapping, ph[k].up_mapping);
    }
    printf("\n");
    printf("\nper VM, mean us: event-wait (job given .. Event Status shows "
           "it), accept (read +\nclear events, 4802h), confirm (QMP query);"
           " upstream qmp = its cxl-add-dynamic-capacity\n");
    printf("%4s | %8s %8s %8s %6s %7s | %8s %8s %8s %8s %6s %7s | %9s\n",
           "N", "brk-wait", "accept", "confirm", "trips", "qemu-cpu",
           "up-qmp", "up-wait", "accept", "confirm", "trips", "qemu-cpu",
           "brk-cpu-s");
    for (unsigned k = 0; k < nph; k++) {
        const Phase *p = &ph[k];

        printf("%4u | %8.0f %8.0f %8.0f %6.1f %8.0f | %8.0f %8.0f %8.0f "
               "%8.0f %6.1f %8.0f | %9.2f\n", p->n, p->brk_st.wait_us,
               p->brk_st.accept_us, p->brk_st.confirm_us, p->brk_st.trips,
               p->brk_st.qemu_cpu_us / p->n, p->up_st.qmp_us,
               p->up_st.wait_us, p->up_st.accept_us, p->up_st.confirm_us,
               p->up_st.trips, p->up_st.qemu_cpu_us / p->n,
               p->broker_stat_cpu_s);
    }
    printf("  qemu-cpu: QEMU CPU time (schedstat) per VM per timed add\n");
    printf("  brk-cpu-s: broker utime+stime over the whole phase (timed adds"
           ", releases, pool calls)\n");
    if (output) {
        write_json(output, ph, nph, load0, load1, stamp, qver,
                   (bench_now_us() - t_start) / 1e6, &idle);
        printf("\nresults: %s\n", output);
    }
    return 0;
}
