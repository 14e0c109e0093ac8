/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-guest/devmem.h - the driver's register access inside a booted
 * Linux guest.
 *
 * Owns: a DcdHostIo over /dev/mem (registers, mapped uncached on first
 * use) and /sys/bus/pci/devices/.../config (configuration space, which
 * the kernel owns: its ECAM is a busy resource /dev/mem refuses), and
 * mapping ranges of a fixed window for data.
 */
#ifndef DCD_GUEST_DEVMEM_H
#define DCD_GUEST_DEVMEM_H

#include "dcd-host/io.h"

DcdHostIo *dcd_devmem_io_new(GError **errp);

/*
 * Map [phys, phys + len) of the window, cached, read-write and shared,
 * at at (MAP_FIXED, inside a range the caller reserved) or anywhere if
 * at is NULL.  Page aligned.
 */
void *dcd_devmem_map(uint64_t phys, size_t len, void *at, GError **errp);

#endif
