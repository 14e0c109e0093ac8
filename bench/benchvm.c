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
