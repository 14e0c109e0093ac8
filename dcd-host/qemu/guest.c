/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest.c - booted guests.  QEMU connects the command channel and QMP
 * to sockets we listen on, like the qtest VMs.
 */
#include <string.h>
#include <glib/gstdio.h>

#include "dcd-host/qemu-guest.h"
#include "err.h"
#include "qemu/proc.h"

#define READY "=== ready "
#define RC "=== rc "
#define MANGLED "=== mangled "
#define BLACKLIST "modprobe.blacklist=cxl_acpi,cxl_pci,cxl_port,cxl_mem"
/* a guest writing more than this for one command is broken */
#define OUTPUT_MAX (16u << 20)

static GPtrArray *guest_argv(DcdQemuGuest *g, const DcdQemuGuestOpts *o,
                             const char *cmd_path, const char *qmp_path)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    uint64_t dc = o->dc_size ? o->dc_size : (1ull << 30);

#define ARG(...) g_ptr_array_add(argv, g_strdup_printf(__VA_ARGS__))
    ARG("%s", o->binary);
    /* KVM would do, but the guest kernel trips its instruction emulator
     * on the window's emulated path; TCG runs everywhere */
    ARG("-accel");
    ARG("tcg");
    ARG("-run-with");
    ARG("exit-with-parent=on");
    ARG("-machine");
    ARG("q35,cxl=on");
    ARG("-cpu");
    ARG("max,-hypervisor");
    ARG("-m");
    ARG("%uM", o->mem_mb ? o->mem_mb : 512);
    ARG("-smp");
    ARG("1");
    ARG("-nodefaults");
    ARG("-display");
    ARG("none");
    ARG("-L");
    ARG("%s/firmware", o->rig);
    ARG("-global");
    ARG("apic-common.vapic=off");
    ARG("-M");
    ARG("cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G%s",
        o->second_bridge ? ",cxl-fmw.1.targets.0=cxl.2,cxl-fmw.1.size=4G"
                         : "");
    ARG("-device");
    ARG("pxb-cxl,bus_nr=23,bus=pcie.0,id=cxl.1,hdm_for_passthrough=true");
    ARG("-device");
    ARG("cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2");
    ARG("-chardev");
    ARG("socket,id=brk,path=%s,reconnect-ms=500", o->broker_socket);
    ARG("-device");
    ARG("cxl-type3,bus=rp0,id=cxl-dcd0,num-dc-regions=1,"
        "dc-regions-total-size=%" G_GUINT64_FORMAT ",dc-regions-sharable=1,"
        "dcd-broker=brk,dcd-host-id=%u%s", dc, o->host_id,
        o->file_pools ? ",dcd-broker-file-pools=on" : "");
    if (o->second_bridge) {
        ARG("-chardev");
        ARG("socket,id=brk2,path=%s,reconnect-ms=500", o->broker_socket);
        ARG("-device");
        ARG("pxb-cxl,bus_nr=35,bus=pcie.0,id=cxl.2,hdm_for_passthrough=true");
        ARG("-device");
        ARG("cxl-rp,port=0,bus=cxl.2,id=rp2,chassis=1,slot=4");
        ARG("-device");
        ARG("cxl-type3,bus=rp2,id=cxl-dcd1,num-dc-regions=1,"
            "dc-regions-total-size=%" G_GUINT64_FORMAT ",dc-regions-sharable=1,"
            "dcd-broker=brk2,dcd-host-id=%u", dc, o->second_host_id);
    }
    if (o->slow_path) {
        ARG("-object");
        ARG("memory-backend-ram,id=vmem0,size=256M");
        ARG("-device");
        ARG("cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=3");
        ARG("-device");
        ARG("cxl-type3,bus=rp1,id=cxl-mem1,volatile-memdev=vmem0");
    }
    ARG("-serial");
    ARG("file:%s/console.log", g->vm.dir);
    ARG("-chardev");
    ARG("socket,id=cmd,path=%s", cmd_path);
    ARG("-serial");
    ARG("chardev:cmd");
    ARG("-qmp");
    ARG("unix:%s", qmp_path);
    ARG("-kernel");
    ARG("%s/vmlinuz", o->rig);
    ARG("-initrd");
    if (o->initramfs) {
        ARG("%s", o->initramfs);
    } else {
        ARG("%s/initramfs.cpio.gz", o->rig);
    }
    /*
     * no_timer_check: under TCG on a busy machine the timer interrupt
     * comes late, and the kernel's boot-time check of it panics ("IO-APIC
     * + timer doesn't work").
     */
    ARG("-append");
    ARG("console=ttyS0 quiet %s" BLACKLIST,
        o->timer_check ? "" : "no_timer_check ");
#undef ARG
    g_ptr_array_add(argv, NULL);
    return argv;
}

DcdQemuGuest *dcd_qemu_guest_start(const DcdQemuGuestOpts *o, GError **errp)
{
    DcdQemuGuest *g = g_new0(DcdQemuGuest, 1);
    g_autofree char *cmd_path = NULL, *qmp_path = NULL;
    g_autoptr(GSocket) cmd_l = NULL, qmp_l = NULL;
    g_autoptr(GIOStream) qmp_s = NULL;
    g_autoptr(GPtrArray) argv = NULL;
    g_autofree char *kernel = g_build_filename(o->rig, "vmlinuz", NULL);

    if (!g_file_test(kernel, G_FILE_TEST_EXISTS)) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "no guest kernel at %s: build the "
            "guest rig first (make guest)", kernel);
        g_free(g);
        return NULL;
    }
    if (!dcd_qemu_vm_init(&g->vm, o->name, errp)) {
        g_free(g);
        return NULL;
    }
    cmd_path = g_build_filename(g->vm.dir, "cmd.sock", NULL);
    qmp_path = g_build_filename(g->vm.dir, "qmp.sock", NULL);
    argv = guest_argv(g, o, cmd_path, qmp_path);
    if (!(cmd_l = dcd_qemu_vm_listen(cmd_path, errp)) ||
        !(qmp_l = dcd_qemu_vm_listen(qmp_path, errp)) ||
        !dcd_qemu_vm_spawn(&g->vm, argv, errp) ||
        !(g->cmd = dcd_qemu_vm_accept(&g->vm, cmd_l, "command", errp)) ||
        !(qmp_s = dcd_qemu_vm_accept(&g->vm, qmp_l, "QMP", errp)) ||
        !(g->vm.qmp = dcd_qmp_new(qmp_s, errp))) {
        dcd_qemu_guest_kill(g);
        return NULL;
    }
    g->in = g_data_input_stream_new(g_io_stream_get_input_stream(g->cmd));
    return g;
}

/* One line from the guest, at most until deadline (monotonic us). */
static char *read_line(DcdQemuGuest *g, gint64 deadline, GError **errp)
{
    GSocket *s = g_socket_connection_get_socket(G_SOCKET_CONNECTION(g->cmd));
    GError *err = NULL;
    char *line;

    /* what is buffered already needs no wait */
    if (!memchr(g_buffered_input_stream_peek_buffer(
                    G_BUFFERED_INPUT_STREAM(g->in), NULL), '\n',
                g_buffered_input_stream_get_available(
                    G_BUFFERED_INPUT_STREAM(g->in)))) {
        gint64 left = deadline - g_get_monotonic_time();

        if (left <= 0 ||
            !g_socket_condition_timed_wait(s, G_IO_IN, left, NULL, NULL)) {
            ERR(errp, DCD_HOST_ERR_TIMEOUT, "%s: the guest did not answer "
                "in time", g->vm.name);
            return NULL;
        }
    }
    line = g_data_input_stream_read_line_utf8(g->in, NULL, NULL, &err);
    if (!line) {
        g_autofree char *how = NULL;

        /* a closed channel is most often a QEMU that died: say how */
        dcd_qemu_guest_wait_exit(g, 2000);
        how = dcd_qemu_vm_exit_text(&g->vm);
        dcd_qemu_vm_fail(&g->vm, errp, "%s the guest's command channel%s%s "
                         "(%s)", err ? "failed on" : "closed",
                         err ? ": " : "", err ? err->message : "", how);
        g_clear_error(&err);
    }
    return line;
}

bool dcd_qemu_guest_wait_ready(DcdQemuGuest *g, unsigned timeout_ms,
                               GError **errp)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000ll;

    while (!g->kernel) {
        g_autofree char *line = read_line(g, deadline, errp);
        char *at;

        if (!line) {
            g_autofree char *con = dcd_qemu_guest_console(g);

            g_prefix_error(errp, "booting: ");
            if (errp && *errp) {
                g_autofree char *msg = g_strdup_printf(
                    "%s; its console ends:\n%s", (*errp)->message,
                    strlen(con) > 2000 ? con + strlen(con) - 2000 : con);

                g_free((*errp)->message);
                (*errp)->message = g_steal_pointer(&msg);
            }
            return false;
        }
        /* the port may carry noise from before init opened it */
        at = strstr(line, READY);
        if (at) {
            g->kernel = g_strdup(g_strstrip(at + strlen(READY)));
        }
    }
    return true;
}

int dcd_qemu_guest_run(DcdQemuGuest *g, const char *line, char **out,
                       unsigned timeout_ms, GError **errp)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000ll;
    g_autoptr(GString) text = g_string_new(NULL);
    GOutputStream *os = g_io_stream_get_output_stream(g->cmd);
    g_autofree char *framed = NULL;

    if (strchr(line, '\n')) {
        ERR(errp, DCD_HOST_ERR_INVALID, "one command line at a time");
        return -1;
    }
    /* the length lets the guest refuse a line that did not arrive whole */
    framed = g_strdup_printf("%zu %s\n", strlen(line), line);
    if (!g_output_stream_write_all(os, framed, strlen(framed), NULL, NULL,
                                   errp)) {
        return -1;
    }
    for (;;) {
        g_autofree char *l = read_line(g, deadline, errp);
        guint64 rc;

        if (!l) {
            g_prefix_error(errp, "'%s': ", line);
            return -1;
        }
        if (g_str_has_prefix(l, MANGLED)) {
            ERR(errp, DCD_HOST_ERR_IO, "%s: '%s' did not arrive whole; the "
                "guest got %s", g->vm.name, line, l + strlen(MANGLED));
            return -1;
        }
        if (g_str_has_prefix(l, RC) &&
            g_ascii_string_to_unsigned(l + strlen(RC), 10, 0, 255, &rc,
                                       NULL)) {
            if (out) {
                *out = g_strdup(text->str);
            }
            return rc;
        }
        if (text->len < OUTPUT_MAX) {
            g_string_append(text, l);
            g_string_append_c(text, '\n');
        }
    }
}

char *dcd_qemu_guest_shv(DcdQemuGuest *g, unsigned timeout_ms, GError **errp,
                         const char *fmt, va_list ap)
{
    g_autofree char *line = g_strdup_vprintf(fmt, ap);
    char *out = NULL;
    int rc = dcd_qemu_guest_run(g, line, &out, timeout_ms, errp);

    if (rc > 0) {
        ERR(errp, DCD_HOST_ERR_IO, "%s: '%s' exited with %d:\n%s",
            g->vm.name, line, rc, out);
    }
    if (rc != 0) {
        g_free(out);
        return NULL;
    }
    return out;
}

char *dcd_qemu_guest_sh(DcdQemuGuest *g, unsigned timeout_ms, GError **errp,
                        const char *fmt, ...)
{
    va_list ap;
    char *out;

    va_start(ap, fmt);
    out = dcd_qemu_guest_shv(g, timeout_ms, errp, fmt, ap);
    va_end(ap);
    return out;
}

char *dcd_qemu_guest_console(DcdQemuGuest *g)
{
    g_autofree char *path = g_build_filename(g->vm.dir, "console.log", NULL);
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return g_strdup("");
    }
    return text;
}

bool dcd_qemu_guest_wait_exit(DcdQemuGuest *g, unsigned timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000ll;

    while (!g->vm.exited && g_get_monotonic_time() < deadline) {
        while (g_main_context_iteration(NULL, FALSE)) {
        }
        if (!g->vm.exited) {
            g_usleep(10000);
        }
    }
    return g->vm.exited;
}

static void guest_end(DcdQemuGuest *g, bool kill)
{
    if (!g) {
        return;
    }
    if (kill && g->vm.proc) {
        g_subprocess_force_exit(g->vm.proc);
        dcd_qemu_guest_wait_exit(g, 10000);
    }
    g_clear_object(&g->in);
    g_clear_object(&g->cmd);
    dcd_qemu_vm_end(&g->vm);
    g_free(g->kernel);
    g_free(g);
}

void dcd_qemu_guest_stop(DcdQemuGuest *g)
{
    guest_end(g, false);
}

void dcd_qemu_guest_kill(DcdQemuGuest *g)
{
    guest_end(g, true);
}
