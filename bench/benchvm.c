/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * benchvm.c - QEMU for the benchmarks: a benchmark that cannot start its
 * VM has nothing to measure, so it stops with what QEMU said.
 */
#include <stdio.h>
#include <stdlib.h>

#include "benchvm.h"

const char *bench_qemu_binary(void)
{
    const char *q = g_getenv("DCD_QEMU");

    if (!q || !*q) {
        q = DCD_QEMU_DEFAULT;
    }
    return *q && g_file_test(q, G_FILE_TEST_IS_EXECUTABLE) ? q : NULL;
}

DcdQemuVm *bench_vm_start(DcdQemuVmOpts *o)
{
    g_autoptr(GError) err = NULL;
    DcdQemuVm *q;

    o->binary = bench_qemu_binary();
    if (!o->binary) {
        fprintf(stderr, "no QEMU: build it (qemu/build.sh) or set"
                " DCD_QEMU\n");
        exit(1);
    }
    q = dcd_qemu_vm_start(o, &err);
    if (!q) {
        fprintf(stderr, "%s\n", err->message);
        exit(1);
    }
    return q;
}

DcdQemuGuest *bench_guest_start(const char *broker_socket, unsigned host_id,
                                bool slow_path, bool timer_check)
{
    return bench_guest_start_qemu(bench_qemu_binary(), broker_socket, host_id,
                                  slow_path, timer_check);
}

DcdQemuGuest *bench_guest_start_qemu(const char *qemu,
                                     const char *broker_socket,
                                     unsigned host_id, bool slow_path,
                                     bool timer_check)
{
    g_autofree char *name = g_strdup_printf("guest %u", host_id);
    const char *rig = g_getenv("DCD_GUEST_RIG");
    DcdQemuGuestOpts o = {
        .binary = qemu,
        .rig = rig && *rig ? rig : DCD_GUEST_RIG_DEFAULT,
        .initramfs = DCD_GUEST_INITRAMFS,
        .broker_socket = broker_socket,
        .host_id = host_id,
        .slow_path = slow_path,
        .timer_check = timer_check,
        .name = name,
    };
    g_autoptr(GError) err = NULL;
    DcdQemuGuest *g;

    if (!o.binary) {
        fprintf(stderr, "no QEMU: build it (qemu/build.sh) or set"
                " DCD_QEMU\n");
        exit(1);
    }
    if (!g_file_test(o.initramfs, G_FILE_TEST_EXISTS)) {
        fprintf(stderr, "no guest initramfs at %s: ninja -C BUILD "
                "guest/initramfs.cpio.gz (make bench does)\n", o.initramfs);
        exit(1);
    }
    g = dcd_qemu_guest_start(&o, &err);
    if (!g) {
        fprintf(stderr, "%s\n", err->message);
        exit(1);
    }
    return g;
}

void bench_guest_ready(DcdQemuGuest *g, const char *agent_args)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;

    if (!dcd_qemu_guest_wait_ready(g, 300000, &err)) {
        fprintf(stderr, "%s\n", err->message);
        exit(1);
    }
    out = bench_guest_sh(g, "dcd-guest watch --daemon %s", agent_args);
}

char *bench_guest_sh(DcdQemuGuest *g, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    char *out;
    va_list ap;

    va_start(ap, fmt);
    out = dcd_qemu_guest_shv(g, 600000, &err, fmt, ap);
    va_end(ap);
    if (!out) {
        fprintf(stderr, "%s\n", err->message);
        exit(1);
    }
    return out;
}
