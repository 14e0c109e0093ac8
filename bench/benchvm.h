/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * benchvm.h - dcd-host's QEMU VMs for the benchmarks that run QEMU
 * (vm-add, qtest-window): which binary, and starting one or giving up.
 */
#ifndef DCD_BENCHVM_H
#define DCD_BENCHVM_H

#include "dcd-host/qemu-vm.h"

#ifndef MiB
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#endif

/* $DCD_QEMU, else the build's QEMU; NULL if that is not executable. */
const char *bench_qemu_binary(void);
/* Start a VM with bench_qemu_binary(); exits with QEMU's output if not. */
DcdQemuVm *bench_vm_start(DcdQemuVmOpts *o);

#endif
