/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * host.h - the host-side CXL Type 3 DCD driver: what a DCD-capable
 * kernel does, over a DcdHostIo.
 *
 * Owns: bring-up (ECAM, PCI enumeration and resources, finding CXL
 * memory devices, their register blocks and mailbox, checking the host
 * bridge register blocks), a device's DC configuration, and mapping DPA
 * ranges of a device into a fixed memory window by committing HDM
 * decoders at every level (host bridge, switch and root ports, device).
 */
#ifndef DCD_HOST_HOST_H
#define DCD_HOST_HOST_H

#include "dcd-host/cxlregs.h"
#include "dcd-host/dcd.h"
#include "dcd-host/hdm.h"
#include "dcd-host/platform.h"

/* PCI class of a CXL memory device: 0502h, prog-if 10h */
#define CXL_MEMDEV_CLASS 0x050210

typedef struct DcdDriver DcdDriver;

typedef struct DcdMemdev {
    DcdDriver *host;
    DcdPciDev *pci;
    uint64_t comp;          /* component register block */
    uint64_t hdm;           /* its HDM decoder capability */
    uint64_t regs;          /* memory device register block */
    uint64_t status;        /* memory device status register */
    DcdMbox mbox;
    DcdIdentity id;
    DcdConfig dc;
    unsigned hb;            /* index of its host bridge in plat.chbs */
} DcdMemdev;

struct DcdDriver {
    DcdHostIo *io;
    DcdPlatform plat;
    DcdPci *pci;
    uint64_t hb_hdm[DCD_MAX_CHBS];
    GPtrArray *memdevs;     /* DcdMemdev */
};

/* Bring the machine up; plat is copied (targets are duplicated). */
DcdDriver *dcd_driver_new(DcdHostIo *io, const DcdPlatform *plat, GError **errp);
void dcd_driver_free(DcdDriver *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdDriver, dcd_driver_free)

DcdMemdev *dcd_driver_memdev(DcdDriver *h, unsigned n);

/* A DPA range of a device as seen in a fixed window. */
typedef struct DcdMapping {
    DcdMemdev *md;
    unsigned window;
    uint64_t hpa;           /* start in host physical addresses */
    uint64_t dpa;
    uint64_t size;
    int dev_decoder;
    int hb_decoder;
    int port_decoder[4];    /* root port, then switch ports */
    unsigned n_ports;
    uint64_t port_hdm[4];
} DcdMapping;

/*
 * Map [dpa, dpa + size) of md at hpa inside window (1-way, so the
 * window must target md's host bridge).  Decoders are committed top
 * down: host bridge, ports, device.  All must be 256 MiB aligned.
 */
bool dcd_memdev_map(DcdMemdev *md, unsigned window, uint64_t hpa,
                    uint64_t dpa, uint64_t size, DcdMapping *map,
                    GError **errp);
/*
 * Find a mapping committed earlier (by a driver that has since gone):
 * decoders of [hpa, hpa + size) at every level, the device's starting
 * at dpa.  1: all there, map describes them; 0: some or none are
 * there, map holds those, which dcd_mapping_unmap() takes down; -1:
 * error.
 */
int dcd_memdev_adopt(DcdMemdev *md, unsigned window, uint64_t hpa,
                     uint64_t dpa, uint64_t size, DcdMapping *map,
                     GError **errp);
/* Uncommit in reverse order. */
bool dcd_mapping_unmap(DcdMapping *map, GError **errp);
/* Translate; false when dpa is outside the mapping. */
bool dcd_mapping_hpa(const DcdMapping *map, uint64_t dpa, uint64_t len,
                     uint64_t *hpa);

/* Media and mailbox ready (memory device status register). */
bool dcd_memdev_ready(DcdMemdev *md, GError **errp);

#endif
