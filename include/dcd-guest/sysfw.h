/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-guest/sysfw.h - what the guest's firmware and kernel tell the
 * driver, and whether it may run.
 *
 * Owns: the platform from ACPI as the kernel exposes it (CEDT and MCFG
 * under /sys/firmware/acpi/tables, each CXL host bridge's _UID and root
 * bus from its ACPI0016 node), and the checks that refuse to run where
 * the driver cannot work: not root, a locked-down kernel, the kernel's
 * own CXL drivers loaded or bound.
 */
#ifndef DCD_GUEST_SYSFW_H
#define DCD_GUEST_SYSFW_H

#include "dcd-host/driver.h"

/* The machine's platform; keep_setup is set. */
bool dcd_sysfw_platform(DcdPlatform *p, GError **errp);

/* Refuse clearly when the driver cannot run here (before bring-up). */
bool dcd_sysfw_preflight(GError **errp);

#endif
