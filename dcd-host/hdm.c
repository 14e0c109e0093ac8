/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hdm.c - decoder registers: capability at +0, global control at +4,
 * decoder n at +0x10 + 0x20 * n.
 */
#include "dcd-host/hdm.h"
#include "err.h"

#define HDM_CAP 0x00
#define HDM_GLOBAL_CTRL 0x04
#define  HDM_ENABLE 0x2
#define DEC(n) (0x10 + 0x20 * (n))
#define DEC_BASE_LO 0x00
#define DEC_BASE_HI 0x04
#define DEC_SIZE_LO 0x08
#define DEC_SIZE_HI 0x0c
#define DEC_CTRL 0x10
#define  CTRL_IG(v) ((v) & 0xf)
#define  CTRL_IW(v) (((v) >> 4) & 0xf)
#define  CTRL_COMMIT (1u << 9)
#define  CTRL_COMMITTED (1u << 10)
#define  CTRL_ERR (1u << 11)
#define  CTRL_HOSTONLY (1u << 12)
#define DEC_TARGET_LO 0x14
#define DEC_TARGET_HI 0x18

#define COMMIT_POLLS 1000
#define ALIGN_256M (256ull << 20)

unsigned dcd_hdm_count(DcdHostIo *io, uint64_t hdm)
{
    unsigned enc = dcd_io_rd32(io, hdm + HDM_CAP) & 0xf;

    /* 0 -> 1 decoder, then 2 per step */
    return enc ? enc * 2 : 1;
}

void dcd_hdm_read(DcdHostIo *io, uint64_t hdm, unsigned idx, DcdDecoder *d)
{
    uint64_t r = hdm + DEC(idx);
    uint32_t ctrl = dcd_io_rd32(io, r + DEC_CTRL);

    d->base = (uint64_t)dcd_io_rd32(io, r + DEC_BASE_HI) << 32 |
              (dcd_io_rd32(io, r + DEC_BASE_LO) & 0xf0000000);
    d->size = (uint64_t)dcd_io_rd32(io, r + DEC_SIZE_HI) << 32 |
              (dcd_io_rd32(io, r + DEC_SIZE_LO) & 0xf0000000);
    d->targets_lo = dcd_io_rd32(io, r + DEC_TARGET_LO);
    d->targets_hi = dcd_io_rd32(io, r + DEC_TARGET_HI);
    d->skip = (uint64_t)d->targets_hi << 32 | (d->targets_lo & 0xf0000000);
    d->ig = CTRL_IG(ctrl);
    d->iw = CTRL_IW(ctrl);
    d->committed = ctrl & CTRL_COMMITTED;
}

int dcd_hdm_free_slot(DcdHostIo *io, uint64_t hdm)
{
    unsigned n = dcd_hdm_count(io, hdm);

    for (unsigned i = 0; i < n; i++) {
        if (!(dcd_io_rd32(io, hdm + DEC(i) + DEC_CTRL) & CTRL_COMMITTED)) {
            return i;
        }
    }
    return -1;
}

int dcd_hdm_find(DcdHostIo *io, uint64_t hdm, uint64_t base, uint64_t size)
{
    unsigned n = dcd_hdm_count(io, hdm);

    for (unsigned i = 0; i < n; i++) {
        DcdDecoder d;

        dcd_hdm_read(io, hdm, i, &d);
        if (d.committed && d.base == base && d.size == size) {
            return i;
        }
    }
    return -1;
}

uint64_t dcd_hdm_dpa_end(DcdHostIo *io, uint64_t hdm, unsigned idx)
{
    uint64_t end = 0;

    for (unsigned i = 0; i < idx; i++) {
        DcdDecoder d;

        dcd_hdm_read(io, hdm, i, &d);
        if (!d.committed) {
            break;
        }
        /* 3, 6, 12 ways (iw 8..10) are not used by this driver */
        end += d.skip + (d.size >> (d.iw < 8 ? d.iw : 0));
    }
    return end;
}

bool dcd_hdm_commit(DcdHostIo *io, uint64_t hdm, unsigned idx,
                    const DcdDecoder *d, bool is_device, GError **errp)
{
    uint64_t r = hdm + DEC(idx);
    uint32_t ctrl;

    if (idx >= dcd_hdm_count(io, hdm)) {
        ERR(errp, DCD_HOST_ERR_INVALID, "no HDM decoder %u", idx);
        return false;
    }
    if ((d->base | d->size | (is_device ? d->skip : 0)) & (ALIGN_256M - 1)) {
        ERR(errp, DCD_HOST_ERR_INVALID,
            "HDM decoder ranges must be 256 MiB aligned");
        return false;
    }
    /* decoding on for the whole component */
    dcd_io_wr32(io, hdm + HDM_GLOBAL_CTRL,
                dcd_io_rd32(io, hdm + HDM_GLOBAL_CTRL) | HDM_ENABLE);
    dcd_io_wr32(io, r + DEC_BASE_LO, (uint32_t)d->base);
    dcd_io_wr32(io, r + DEC_BASE_HI, d->base >> 32);
    dcd_io_wr32(io, r + DEC_SIZE_LO, (uint32_t)d->size);
    dcd_io_wr32(io, r + DEC_SIZE_HI, d->size >> 32);
    if (is_device) {
        dcd_io_wr32(io, r + DEC_TARGET_LO, (uint32_t)d->skip);
        dcd_io_wr32(io, r + DEC_TARGET_HI, d->skip >> 32);
    } else {
        dcd_io_wr32(io, r + DEC_TARGET_LO, d->targets_lo);
        dcd_io_wr32(io, r + DEC_TARGET_HI, d->targets_hi);
    }
    ctrl = d->ig | d->iw << 4 | CTRL_HOSTONLY;
    dcd_io_wr32(io, r + DEC_CTRL, ctrl);
    dcd_io_wr32(io, r + DEC_CTRL, ctrl | CTRL_COMMIT);
    for (unsigned i = 0; i < COMMIT_POLLS; i++) {
        ctrl = dcd_io_rd32(io, r + DEC_CTRL);
        if (!dcd_io_check(io, errp)) {
            return false;
        }
        if (ctrl & CTRL_ERR) {
            ERR(errp, DCD_HOST_ERR_INVALID, "HDM decoder %u: commit error",
                idx);
            return false;
        }
        if (ctrl & CTRL_COMMITTED) {
            return true;
        }
        dcd_io_wait(io, 1000);
    }
    ERR(errp, DCD_HOST_ERR_TIMEOUT, "HDM decoder %u does not commit", idx);
    return false;
}

bool dcd_hdm_uncommit(DcdHostIo *io, uint64_t hdm, unsigned idx,
                      GError **errp)
{
    uint64_t r = hdm + DEC(idx);
    uint32_t ctrl = dcd_io_rd32(io, r + DEC_CTRL);

    dcd_io_wr32(io, r + DEC_CTRL, ctrl & ~CTRL_COMMIT);
    if (!dcd_io_check(io, errp)) {
        return false;
    }
    if (dcd_io_rd32(io, r + DEC_CTRL) & CTRL_COMMITTED) {
        ERR(errp, DCD_HOST_ERR_INVALID, "HDM decoder %u stays committed",
            idx);
        return false;
    }
    return dcd_io_check(io, errp);
}

bool dcd_hdm_enc_ways(unsigned ways, unsigned *iw)
{
    for (unsigned e = 0; e <= 4; e++) {
        if (ways == 1u << e) {
            *iw = e;
            return true;
        }
    }
    return false;
}

bool dcd_hdm_enc_gran(uint64_t gran, unsigned *ig)
{
    for (unsigned e = 0; e <= 6; e++) {
        if (gran == 256ull << e) {
            *ig = e;
            return true;
        }
    }
    return false;
}
