/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proc.h - private to libdcdhostqemu: the QEMU process plumbing that
 * the qtest VMs (vm.c) and the booted guests (guest.c) share.  QEMU
 * connects to sockets we listen on, so a QEMU that dies early is
 * noticed at once instead of polled for.
 */
#ifndef DCD_HOST_QEMU_PROC_H
#define DCD_HOST_QEMU_PROC_H

#include "dcd-host/qemu-vm.h"

/* A private dir and the name messages use ("QEMU (name)"). */
bool dcd_qemu_vm_init(DcdQemuVm *q, const char *name, GError **errp);
/* Start argv (NULL ended) with output to the dir's qemu.err. */
bool dcd_qemu_vm_spawn(DcdQemuVm *q, GPtrArray *argv, GError **errp);
GSocket *dcd_qemu_vm_listen(const char *path, GError **errp);
/* The connection QEMU makes to l; fails if QEMU exits first. */
GIOStream *dcd_qemu_vm_accept(DcdQemuVm *q, GSocket *l, const char *what,
                              GError **errp);
/* Fail with what QEMU said. */
bool dcd_qemu_vm_fail(DcdQemuVm *q, GError **errp, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* "exited with status N", "killed by signal N (name)" or "still running". */
char *dcd_qemu_vm_exit_text(DcdQemuVm *q);
/* dcd_qemu_vm_stop() without freeing q itself. */
bool dcd_qemu_vm_end(DcdQemuVm *q);

#endif
