/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * benchvm.h - QEMU for the benchmarks that run it: dcd-host's qtest VMs
 * (vm-add, qtest-window) and booted guests of the guest rig
 * (guest-access, guest-add): which binary, starting one or giving up,
 * and commands in a guest that must succeed.
 */
#ifndef DCD_BENCHVM_H
#define DCD_BENCHVM_H

#include "dcd-host/qemu-guest.h"
#include "dcd-host/qemu-vm.h"

#ifndef MiB
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#endif

/* $DCD_QEMU, else the build's QEMU; NULL if that is not executable. */
const char *bench_qemu_binary(void);
/* Start a VM with bench_qemu_binary(); exits with QEMU's output if not. */
DcdQemuVm *bench_vm_start(DcdQemuVmOpts *o);

/*
 * Start a guest of the rig ($DCD_GUEST_RIG, else the source tree's
 * guest/cache; the build's initramfs) as host_id on the broker's socket;
 * timer_check: see DcdQemuGuestOpts.
 */
DcdQemuGuest *bench_guest_start(const char *broker_socket, unsigned host_id,
                                bool slow_path, bool timer_check);
/* The same with another QEMU binary (a baseline build). */
DcdQemuGuest *bench_guest_start_qemu(const char *qemu,
                                     const char *broker_socket,
                                     unsigned host_id, bool slow_path,
                                     bool timer_check);
/* Wait until it is up and start dcd-guest's agent with agent_args. */
void bench_guest_ready(DcdQemuGuest *g, const char *agent_args);
/* A command that must succeed in the guest; its output. */
char *bench_guest_sh(DcdQemuGuest *g, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

#endif
