/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm.c - QEMU processes for drivers under qtest.  QEMU connects to
 * sockets we already listen on, so there is no polling for a socket to
 * appear and a QEMU that dies early is noticed at once.
 */
#include <fcntl.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>

#include "dcd-host/qemu-vm.h"
#include "err.h"
#include "qemu/proc.h"

#define START_TIMEOUT_US (20 * G_USEC_PER_SEC)
#define GiB (1ull << 30)

char *dcd_qemu_vm_log(const DcdQemuVm *q)
{
    g_autofree char *path = g_build_filename(q->dir, "qemu.err", NULL);
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return g_strdup("");
    }
    return text;
}


bool dcd_qemu_vm_fail(DcdQemuVm *q, GError **errp, const char *fmt, ...)
{
    g_autofree char *log = dcd_qemu_vm_log(q);
    g_autofree char *what = NULL;
    va_list ap;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ERR(errp, DCD_HOST_ERR_IO, "%s %s%s%s", q->name, what,
        *log ? "; its output:\n" : "", log);
    return false;
}

GSocket *dcd_qemu_vm_listen(const char *path, GError **errp)
{
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    GSocket *s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                              G_SOCKET_PROTOCOL_DEFAULT, errp);

    if (s && (!g_socket_bind(s, addr, TRUE, errp) ||
              !g_socket_listen(s, errp))) {
        g_clear_object(&s);
    }
    return s;
}

GIOStream *dcd_qemu_vm_accept(DcdQemuVm *q, GSocket *l, const char *what,
                              GError **errp)
{
    gint64 deadline = g_get_monotonic_time() + START_TIMEOUT_US;
    GSocketConnection *c;
    GSocket *s;

    /* wake up now and then to notice a QEMU that exited */
    while (!g_socket_condition_timed_wait(l, G_IO_IN, 50000, NULL, NULL)) {
        while (g_main_context_iteration(NULL, FALSE)) {
        }
        if (q->exited || g_get_monotonic_time() > deadline) {
            g_autofree char *how = q->exited ? dcd_qemu_vm_exit_text(q)
                                             : g_strdup("timed out");

            dcd_qemu_vm_fail(q, errp, "%s before connecting its %s socket",
                             how, what);
            return NULL;
        }
    }
    s = g_socket_accept(l, NULL, errp);
    if (!s) {
        return NULL;
    }
    g_socket_set_blocking(s, TRUE);
    c = g_socket_connection_factory_create_connection(s);
    g_object_unref(s);
    return G_IO_STREAM(c);
}

char *dcd_qemu_vm_file(DcdQemuVm *q, const char *name, uint64_t size,
                       GError **errp)
{
    char *path = g_build_filename(q->dir, name, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || ftruncate(fd, size) < 0) {
        ERR(errp, DCD_HOST_ERR_IO, "%s: %s", path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        g_free(path);
        return NULL;
    }
    close(fd);
    return path;
}

static void qemu_exited(GObject *src, GAsyncResult *res, gpointer opaque)
{
    DcdQemuVm *q = opaque;

    g_subprocess_wait_finish(G_SUBPROCESS(src), res, NULL);
    q->wait_status = g_subprocess_get_status(G_SUBPROCESS(src));
    q->exited = true;
}

char *dcd_qemu_vm_exit_text(DcdQemuVm *q)
{
    int st = q->wait_status;

    if (!q->exited) {
        return g_strdup("still running");
    }
    if (WIFSIGNALED(st)) {
        return g_strdup_printf("killed by signal %d (%s)", WTERMSIG(st),
                               g_strsignal(WTERMSIG(st)));
    }
    return g_strdup_printf("exited with status %d", WEXITSTATUS(st));
}

/* Run the default context (the child watch) until QEMU is gone. */
static bool wait_exit(DcdQemuVm *q, gint64 timeout_us)
{
    gint64 deadline = g_get_monotonic_time() + timeout_us;

    while (!q->exited && g_get_monotonic_time() < deadline) {
        while (g_main_context_iteration(NULL, FALSE)) {
        }
        if (!q->exited) {
            g_usleep(5000);
        }
    }
    return q->exited;
}

bool dcd_qemu_vm_spawn(DcdQemuVm *q, GPtrArray *argv, GError **errp)
{
    g_autofree char *err_path = g_build_filename(q->dir, "qemu.err", NULL);
    g_autoptr(GSubprocessLauncher) l =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);

    g_subprocess_launcher_set_stdout_file_path(l, err_path);
    g_subprocess_launcher_set_stderr_file_path(l, err_path);
    q->proc = g_subprocess_launcher_spawnv(l,
        (const char *const *)argv->pdata, errp);
    if (!q->proc) {
        return false;
    }
    g_subprocess_wait_async(q->proc, NULL, qemu_exited, q);
    return true;
}

static bool vm_launch(DcdQemuVm *q, const DcdQemuVmOpts *o, GError **errp)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *qt_path = NULL, *qmp_path = NULL;
    g_autoptr(GSocket) qt_l = NULL, qmp_l = NULL;
    g_autoptr(GIOStream) qt_s = NULL, qmp_s = NULL;
    uint64_t wsize = o->window_size ? o->window_size : 4 * GiB;
    unsigned regions = o->dc_regions ? o->dc_regions : 1;

    qt_path = g_build_filename(q->dir, "qtest.sock", NULL);
    qmp_path = g_build_filename(q->dir, "qmp.sock", NULL);
    if (!(qt_l = dcd_qemu_vm_listen(qt_path, errp)) ||
        !(qmp_l = dcd_qemu_vm_listen(qmp_path, errp))) {
        return false;
    }

#define ARG(...) g_ptr_array_add(argv, g_strdup_printf(__VA_ARGS__))
    ARG("%s", o->binary);
    ARG("-accel");
    ARG("qtest");
    ARG("-qtest");
    ARG("unix:%s", qt_path);
    ARG("-qtest-log");
    ARG("/dev/null");
    /* a program that aborts must not leave QEMU behind */
    ARG("-run-with");
    ARG("exit-with-parent=on");
    ARG("-qmp");
    ARG("unix:%s", qmp_path);
    ARG("-L");
    ARG("/usr/share/seabios");
    ARG("-nographic");
    ARG("-nodefaults");
    ARG("-global");
    ARG("apic-common.vapic=off");
    ARG("-m");
    ARG("256M");
    ARG("-M");
    ARG("q35,cxl=on,cxl-fmw.0.targets.0=cxl.1,"
        "cxl-fmw.0.size=%" G_GUINT64_FORMAT, wsize);
    ARG("-device");
    ARG("pxb-cxl,bus_nr=23,bus=pcie.0,id=cxl.1,hdm_for_passthrough=true");
    ARG("-device");
    ARG("cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2");
    if (o->dc_memdev_size) {
        q->dc_file = dcd_qemu_vm_file(q, "dc.img", o->dc_memdev_size, errp);
        if (!q->dc_file) {
            return false;
        }
        ARG("-object");
        ARG("memory-backend-file,id=dc0,mem-path=%s,size=%" G_GUINT64_FORMAT
            ",share=on", q->dc_file, o->dc_memdev_size);
        ARG("-device");
        ARG("cxl-type3,bus=rp0,id=cxl-dcd0,num-dc-regions=%u,"
            "volatile-dc-memdev=dc0%s", regions,
            o->dev_props ? o->dev_props : "");
    } else {
        ARG("-device");
        ARG("cxl-type3,bus=rp0,id=cxl-dcd0,num-dc-regions=%u,"
            "dc-regions-total-size=%" G_GUINT64_FORMAT "%s", regions,
            o->dc_total_size, o->dev_props ? o->dev_props : "");
    }
    for (const char *const *e = o->extra; e && *e; e++) {
        ARG("%s", *e);
    }
#undef ARG
    g_ptr_array_add(argv, NULL);

    if (!dcd_qemu_vm_spawn(q, argv, errp)) {
        return false;
    }

    if (!(qt_s = dcd_qemu_vm_accept(q, qt_l, "qtest", errp)) ||
        !(qmp_s = dcd_qemu_vm_accept(q, qmp_l, "QMP", errp))) {
        return false;
    }
    q->io = dcd_qtest_new(qt_s);
    q->qmp = dcd_qmp_new(qmp_s, errp);
    if (!q->qmp) {
        return false;
    }
    if (!dcd_platform_from_qmp(&q->plat, q->qmp, errp)) {
        return false;
    }
    if (o->probe_root_buses) {
        q->plat.n_root_buses = 0;
    }
    if (!(q->host = dcd_driver_new(q->io, &q->plat, errp))) {
        return false;
    }
    q->md = dcd_driver_memdev(q->host, 0);
    if (!q->md) {
        return dcd_qemu_vm_fail(q, errp, "has no CXL memory device");
    }
    return true;
}

bool dcd_qemu_vm_init(DcdQemuVm *q, const char *name, GError **errp)
{
    q->name = name ? g_strdup_printf("QEMU (%s)", name) : g_strdup("QEMU");
    q->dir = g_dir_make_tmp("dcd-qemu-XXXXXX", errp);
    if (!q->dir) {
        g_free(q->name);
        return false;
    }
    return true;
}

DcdQemuVm *dcd_qemu_vm_start(const DcdQemuVmOpts *o, GError **errp)
{
    DcdQemuVm *q = g_new0(DcdQemuVm, 1);
    g_autoptr(GError) err = NULL;

    if (!dcd_qemu_vm_init(q, o->name, errp)) {
        g_free(q);
        return NULL;
    }
    if (!vm_launch(q, o, &err)) {
        /* Say what QEMU said, unless the message already does. */
        if (err->domain == DCD_HOST_ERROR && err->code == DCD_HOST_ERR_IO &&
            g_str_has_prefix(err->message, q->name)) {
            g_propagate_error(errp, g_steal_pointer(&err));
        } else {
            dcd_qemu_vm_fail(q, errp, "did not come up: %s", err->message);
        }
        dcd_qemu_vm_kill(q);
        return NULL;
    }
    return q;
}

static void rm_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        g_unlink(p);
    }
    g_rmdir(dir);
}

bool dcd_qemu_vm_stop(DcdQemuVm *q)
{
    bool exited;

    if (!q) {
        return true;
    }
    exited = dcd_qemu_vm_end(q);
    g_free(q);
    return exited;
}

bool dcd_qemu_vm_end(DcdQemuVm *q)
{
    dcd_driver_free(q->host);
    dcd_platform_clear(&q->plat);
    if (q->qmp) {
        /* QEMU may close the socket before it answers */
        if (!q->exited) {
            dcd_qmp_run(q->qmp, "quit", NULL, NULL);
        }
        dcd_qmp_free(q->qmp);
    }
    dcd_io_free(q->io);
    if (q->proc) {
        if (!wait_exit(q, 10 * G_USEC_PER_SEC)) {
            g_subprocess_force_exit(q->proc);
            wait_exit(q, 10 * G_USEC_PER_SEC);
        }
        g_object_unref(q->proc);
    }
    rm_dir(q->dir);
    g_free(q->dir);
    g_free(q->name);
    g_free(q->dc_file);
    return q->exited;
}

bool dcd_qemu_vm_kill(DcdQemuVm *q)
{
    if (q->proc) {
        g_subprocess_force_exit(q->proc);
        wait_exit(q, 10 * G_USEC_PER_SEC);
    }
    return dcd_qemu_vm_stop(q);
}

/* Prescriptive add, or release with a policy: same shape otherwise. */
static JsonNode *dc_args(const char *policy_key, const char *policy,
                         unsigned region, const char *tag,
                         const uint64_t *ol, unsigned n)
{
    JsonNode *ext = dcd_qmp_extent_list(ol, n);

    if (tag) {
        return dcd_qmp_args("s:path", DCD_QEMU_DEV_PATH, "i:host-id",
                            (gint64)0, policy_key, policy,
                            "i:region", (gint64)region, "s:tag", tag,
                            "n:extents", ext, NULL);
    }
    return dcd_qmp_args("s:path", DCD_QEMU_DEV_PATH, "i:host-id", (gint64)0,
                        policy_key, policy, "i:region", (gint64)region,
                        "n:extents", ext, NULL);
}

JsonNode *dcd_qemu_add_args(unsigned region, const char *tag,
                            const uint64_t *ol, unsigned n)
{
    return dc_args("s:selection-policy", "prescriptive", region, tag, ol, n);
}

JsonNode *dcd_qemu_release_args(const char *policy, unsigned region,
                                const char *tag, const uint64_t *ol,
                                unsigned n)
{
    return dc_args("s:removal-policy", policy, region, tag, ol, n);
}

char *dcd_qemu_vm_backend(DcdQemuVm *q, const char *id, const char *tag,
                          uint64_t size, GError **errp)
{
    g_autofree char *name = g_strdup_printf("%s.mem", id);
    g_autofree char *path = dcd_qemu_vm_file(q, name, size, errp);

    if (!path ||
        !dcd_qmp_run(q->qmp, "object-add",
                     dcd_qmp_args("s:qom-type", "memory-backend-file",
                                  "s:id", id, "s:mem-path", path,
                                  "u:size", (guint64)size, "b:share", TRUE,
                                  "s:tag", tag, NULL), errp)) {
        return NULL;
    }
    return g_steal_pointer(&path);
}

JsonNode *dcd_qemu_vm_query(DcdQemuVm *q, GError **errp)
{
    return dcd_qmp_execute(q->qmp, "cxl-query-dynamic-capacity",
                           dcd_qmp_args("s:path", DCD_QEMU_DEV_PATH, NULL),
                           errp);
}

JsonObject *dcd_qemu_query_at(JsonNode *list, uint64_t dpa)
{
    JsonArray *a = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if ((uint64_t)json_object_get_int_member(o, "dpa") == dpa) {
            return o;
        }
    }
    return NULL;
}
