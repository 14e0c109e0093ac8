/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * platform.h - what firmware would tell the driver about the machine.
 *
 * Owns: DcdPlatform, the CXL host bridge component register blocks
 * (CHBS) and the CXL fixed memory windows (CFMWS) with their targets,
 * plus where ECAM goes.  On real hardware these come from ACPI (CEDT,
 * MCFG); under qtest no firmware runs, so dcd_platform_from_qmp()
 * (qemu-platform.h) reads them from QEMU itself.
 */
#ifndef DCD_HOST_PLATFORM_H
#define DCD_HOST_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#define DCD_MAX_CHBS 8
#define DCD_MAX_WINDOWS 8
#define DCD_MAX_WAYS 16

typedef struct DcdWindow {
    uint64_t base;
    uint64_t size;
    unsigned ways;                  /* host bridges interleaved */
    uint64_t granularity;           /* bytes */
    char *targets[DCD_MAX_WAYS];    /* host bridge ids */
} DcdWindow;

typedef struct DcdPlatform {
    uint64_t ecam_base;
    unsigned ecam_buses;
    uint64_t mmio_base;             /* where BARs and windows may go */
    uint64_t mmio_end;
    unsigned n_root_buses;          /* 0: find them by probing */
    uint8_t root_buses[DCD_MAX_CHBS + 1];
    unsigned n_chbs;
    uint64_t chbs[DCD_MAX_CHBS];    /* component register block bases */
    uint32_t chbs_uid[DCD_MAX_CHBS]; /* the host bridge's ACPI _UID */
    bool chbs_bus_known;            /* chbs_bus filled in (from ACPI) */
    uint8_t chbs_bus[DCD_MAX_CHBS]; /* the host bridge's root bus */
    /*
     * Firmware and a kernel set the machine up: keep ECAM, bus numbers
     * and BARs as they are (configuration space through the DcdHostIo's
     * cfg ops), only read them.
     */
    bool keep_setup;
    unsigned n_windows;
    DcdWindow windows[DCD_MAX_WINDOWS];
} DcdPlatform;

void dcd_platform_clear(DcdPlatform *p);

/*
 * Fill p's CXL part from the ACPI tables firmware made: CEDT's CHBS and
 * CFMWS records, and MCFG's ECAM for segment 0.  Window targets are host
 * bridge _UIDs in decimal.  The tables are checked (signature, lengths,
 * every record inside the table) before anything is read from them.
 */
bool dcd_platform_from_acpi(DcdPlatform *p, const void *cedt, size_t cedt_len,
                            const void *mcfg, size_t mcfg_len, GError **errp);

#endif
