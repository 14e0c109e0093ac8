/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cxlregs.c - register block discovery (CXL r3.1 8.1.9, 8.2.4, 8.2.8).
 */
#include "dcd-host/cxlregs.h"

uint64_t dcd_cxl_locate_block(DcdHostIo *io, const DcdPciDev *d,
                              unsigned block_id)
{
    uint16_t pos = dcd_pci_find_dvsec(io, d->bdf, CXL_VENDOR_ID,
                                      CXL_DVSEC_REG_LOCATOR);
    unsigned len, n;

    if (!pos) {
        return 0;
    }
    len = dcd_cfg_read(io, d->bdf, pos + 4, 4) >> 20;
    n = len > 0xc ? (len - 0xc) / 8 : 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t lo = dcd_cfg_read(io, d->bdf, pos + 0xc + 8 * i, 4);
        uint32_t hi = dcd_cfg_read(io, d->bdf, pos + 0x10 + 8 * i, 4);
        unsigned bir = lo & 7;

        if (((lo >> 8) & 0xff) != block_id) {
            continue;
        }
        if (bir >= DCD_PCI_MAX_BARS || !d->bar[bir]) {
            return 0;
        }
        return d->bar[bir] + (((uint64_t)hi << 32) | (lo & 0xffff0000));
    }
    return 0;
}

uint64_t dcd_cxl_find_hdm(DcdHostIo *io, uint64_t comp)
{
    uint64_t cm = comp + CXL_CM_OFFSET;
    uint32_t hdr = dcd_io_rd32(io, cm);
    unsigned n;

    /* CXL Capability Header: ID 1, array size in bits 31:24 */
    if ((hdr & 0xffff) != 1) {
        return 0;
    }
    n = hdr >> 24;
    for (unsigned i = 1; i <= n; i++) {
        uint32_t cap = dcd_io_rd32(io, cm + 4 * i);

        if ((cap & 0xffff) == CXL_CM_CAP_HDM) {
            return cm + (cap >> 20);
        }
    }
    return 0;
}

uint64_t dcd_cxl_find_devcap(DcdHostIo *io, uint64_t dev, uint16_t id)
{
    uint64_t arr = dcd_io_rd64(io, dev);
    unsigned n = (arr >> 32) & 0xffff;

    /* the array itself has capability ID 0 */
    if ((arr & 0xffff) != 0) {
        return 0;
    }
    for (unsigned i = 1; i <= n; i++) {
        uint32_t hdr = dcd_io_rd32(io, dev + 0x10 * i);

        if ((hdr & 0xffff) == id) {
            return dev + dcd_io_rd32(io, dev + 0x10 * i + 4);
        }
    }
    return 0;
}
