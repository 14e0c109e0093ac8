/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-platform.h - the platform as QEMU describes it over QMP, for
 * drivers that run with no firmware (qtest).
 */
#ifndef DCD_HOST_QEMU_PLATFORM_H
#define DCD_HOST_QEMU_PLATFORM_H

#include "dcd-host/platform.h"
#include "dcd-host/qmp.h"

/*
 * Fill p for a q35 machine with cxl=on: windows from the machine's
 * cxl-fmw property and "info mtree", CHBS from "info mtree", root bus
 * numbers (what ACPI _BBN would say) from query-pci.
 */
bool dcd_platform_from_qmp(DcdPlatform *p, DcdQmp *q, GError **errp);

/*
 * Parse the system address space of an "info mtree" dump: bases of the
 * regions named name (in address order), at most max.  Exposed for tests.
 */
unsigned dcd_mtree_find(const char *mtree, const char *name, uint64_t *base,
                        uint64_t *size, unsigned max);

#endif
