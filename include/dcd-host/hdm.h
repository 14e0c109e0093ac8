/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hdm.h - HDM decoders (CXL r3.1 8.2.4.20) of host bridges, switch and
 * root ports, and memory devices.
 *
 * Owns: reading a decoder, programming one (base, size, interleave,
 * target list or DPA skip), committing and uncommitting it, and the DPA
 * bookkeeping a device decoder's skip depends on.
 */
#ifndef DCD_HOST_HDM_H
#define DCD_HOST_HDM_H

#include "dcd-host/io.h"

typedef struct DcdDecoder {
    uint64_t base, size;
    uint64_t skip;          /* devices: DPA skipped before this decoder */
    uint32_t targets_lo, targets_hi;
    unsigned ig, iw;        /* encoded granularity and ways */
    bool committed;
} DcdDecoder;

unsigned dcd_hdm_count(DcdHostIo *io, uint64_t hdm);
void dcd_hdm_read(DcdHostIo *io, uint64_t hdm, unsigned idx, DcdDecoder *d);
/* The first decoder not committed, or -1. */
int dcd_hdm_free_slot(DcdHostIo *io, uint64_t hdm);

/* The committed decoder of [base, base + size), or -1. */
int dcd_hdm_find(DcdHostIo *io, uint64_t hdm, uint64_t base, uint64_t size);
/*
 * Program decoder idx and commit it.  For a device pass is_device: the
 * target list registers then hold the DPA skip.
 */
bool dcd_hdm_commit(DcdHostIo *io, uint64_t hdm, unsigned idx,
                    const DcdDecoder *d, bool is_device, GError **errp);
bool dcd_hdm_uncommit(DcdHostIo *io, uint64_t hdm, unsigned idx,
                      GError **errp);

/* Device: DPA just past the decoders below idx (their skip + size/ways). */
uint64_t dcd_hdm_dpa_end(DcdHostIo *io, uint64_t hdm, unsigned idx);

/* Encodings: 1,2,4,8,16 ways; 256 B .. 16 KiB granularity */
bool dcd_hdm_enc_ways(unsigned ways, unsigned *iw);
bool dcd_hdm_enc_gran(uint64_t gran, unsigned *ig);

#endif
