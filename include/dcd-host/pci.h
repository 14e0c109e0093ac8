/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pci.h - PCI bring-up where no firmware ran, or reading what firmware
 * set up where one did.
 *
 * Owns: finding root buses (the main one and expander host bridges),
 * walking the tree, numbering buses behind bridges, sizing and placing
 * BARs, opening bridge memory windows, enabling decode, and the lookups
 * the CXL code needs (extended capabilities, DVSECs, BAR addresses).
 */
#ifndef DCD_HOST_PCI_H
#define DCD_HOST_PCI_H

#include "dcd-host/io.h"

#define DCD_PCI_MAX_BARS 6

typedef struct DcdPciDev DcdPciDev;
struct DcdPciDev {
    uint16_t bdf;
    uint16_t vendor, device;
    uint32_t class_code;        /* class << 16 | subclass << 8 | prog-if */
    bool bridge;
    uint8_t secondary, subordinate;
    uint8_t pcie_type;          /* PCIe device/port type, 0xff if none */
    uint8_t port_num;           /* Link Capabilities port number */
    uint8_t root_bus;
    DcdPciDev *parent;          /* upstream bridge, NULL on a root bus */
    uint64_t bar[DCD_PCI_MAX_BARS];
    uint64_t bar_size[DCD_PCI_MAX_BARS];
};

/* PCIe port types (PCIe capability, bits 7:4 of the flags) */
#define DCD_PCIE_ENDPOINT 0x0
#define DCD_PCIE_ROOT_PORT 0x4
#define DCD_PCIE_UPSTREAM 0x5
#define DCD_PCIE_DOWNSTREAM 0x6

typedef struct DcdPci {
    DcdHostIo *io;
    GPtrArray *devs;            /* DcdPciDev, in walk order */
    uint64_t mmio_next, mmio_end;
} DcdPci;

/* q35: program PCIEXBAR so config space is reachable through ECAM. */
void dcd_pci_q35_enable_ecam(DcdHostIo *io, uint64_t base, unsigned buses);

/*
 * Walk every root bus, number bridges, place BARs in [mmio_base,
 * mmio_end) and enable memory decode and bus mastering.  roots (n of
 * them) are the root bus numbers if known; with n == 0 they are found
 * by probing all 256 bus numbers.
 */
DcdPci *dcd_pci_setup(DcdHostIo *io, const uint8_t *roots, unsigned n,
                      uint64_t mmio_base, uint64_t mmio_end, GError **errp);
/*
 * Where firmware and a kernel ran: walk the root buses (roots, n) and
 * read bus numbers and BAR addresses as they are, writing nothing.
 */
DcdPci *dcd_pci_scan(DcdHostIo *io, const uint8_t *roots, unsigned n,
                     GError **errp);
/* Set memory decode and bus mastering on d and the bridges above it,
 * only adding bits that are missing. */
void dcd_pci_enable(DcdHostIo *io, DcdPciDev *d);
void dcd_pci_free(DcdPci *pci);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdPci, dcd_pci_free)

/* The n-th device (from 0) matching class_code, or NULL. */
DcdPciDev *dcd_pci_find_class(DcdPci *pci, uint32_t class_code, unsigned n);
DcdPciDev *dcd_pci_find_bdf(DcdPci *pci, uint16_t bdf);

/* Offset of an extended capability / a DVSEC, 0 if absent. */
uint16_t dcd_pci_find_ext_cap(DcdHostIo *io, uint16_t bdf, uint16_t id);
uint16_t dcd_pci_find_dvsec(DcdHostIo *io, uint16_t bdf, uint16_t vendor,
                            uint16_t dvsec_id);

#endif
