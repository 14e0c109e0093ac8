/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * alloc.c - assembling a tagged allocation by shared_seq.
 */
#include <string.h>

#include "dcd-host/alloc.h"
#include "err.h"

static gint by_seq(gconstpointer a, gconstpointer b)
{
    const DcdPart *x = a, *y = b;

    return (gint)x->extent.shared_seq - (gint)y->extent.shared_seq;
}

static gint by_dpa(gconstpointer a, gconstpointer b)
{
    const DcdPart *x = a, *y = b;

    return x->extent.dpa < y->extent.dpa ? -1 : x->extent.dpa > y->extent.dpa;
}

DcdAllocation *dcd_allocation_build(const uint8_t tag[16],
                                    const DcdDevExtent *extents, unsigned n,
                                    const DcdMapping *maps, unsigned n_maps,
                                    GError **errp)
{
    g_autoptr(DcdAllocation) a = g_new0(DcdAllocation, 1);
    bool all_zero = true;
    uint64_t off = 0;

    memcpy(a->tag, tag, 16);
    a->parts = g_array_new(FALSE, TRUE, sizeof(DcdPart));
    for (unsigned i = 0; i < n; i++) {
        DcdPart p = { .extent = extents[i] };

        if (memcmp(extents[i].tag, tag, 16) != 0) {
            continue;
        }
        all_zero &= extents[i].shared_seq == 0;
        g_array_append_val(a->parts, p);
    }
    if (!a->parts->len) {
        char t[DCD_TAG_STR_LEN];

        dcd_tag_unparse((const DcdTag *)tag, t);
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "no extent has tag %s", t);
        return NULL;
    }
    a->seq_from_dpa = all_zero && a->parts->len > 1;
    g_array_sort(a->parts, a->seq_from_dpa ? by_dpa : by_seq);

    for (guint i = 0; i < a->parts->len; i++) {
        DcdPart *p = &g_array_index(a->parts, DcdPart, i);
        bool placed = false;

        if (!a->seq_from_dpa && p->extent.shared_seq != i) {
            ERR(errp, DCD_HOST_ERR_INVALID,
                "shared_seq of the tag is not dense: found %u at place %u",
                p->extent.shared_seq, i);
            return NULL;
        }
        p->logical = off;
        off += p->extent.len;
        for (unsigned m = 0; m < n_maps && !placed; m++) {
            placed = dcd_mapping_hpa(&maps[m], p->extent.dpa, p->extent.len,
                                     &p->hpa);
        }
        if (!placed) {
            ERR(errp, DCD_HOST_ERR_NOTFOUND,
                "extent at DPA 0x%" G_GINT64_MODIFIER "x is not mapped in "
                "any window", p->extent.dpa);
            return NULL;
        }
    }
    a->size = off;
    return g_steal_pointer(&a);
}

void dcd_allocation_free(DcdAllocation *a)
{
    if (a) {
        g_array_free(a->parts, TRUE);
        g_free(a);
    }
}

bool dcd_allocation_locate(const DcdAllocation *a, uint64_t off,
                           uint64_t *hpa, uint64_t *contig)
{
    guint lo = 0, hi = a->parts->len;

    if (off >= a->size) {
        return false;
    }
    /* parts are sorted by logical offset: binary search */
    while (hi - lo > 1) {
        guint mid = (lo + hi) / 2;

        if (g_array_index(a->parts, DcdPart, mid).logical <= off) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    {
        const DcdPart *p = &g_array_index(a->parts, DcdPart, lo);

        *hpa = p->hpa + (off - p->logical);
        *contig = p->extent.len - (off - p->logical);
    }
    return true;
}

static bool transfer(const DcdAllocation *a, DcdHostIo *io, uint64_t off,
                     uint8_t *buf, size_t len, bool write, GError **errp)
{
    if (off > a->size || len > a->size - off) {
        ERR(errp, DCD_HOST_ERR_INVALID, "access beyond the allocation");
        return false;
    }
    while (len) {
        uint64_t hpa, contig, n;

        dcd_allocation_locate(a, off, &hpa, &contig);
        n = MIN(contig, len);
        if (write) {
            dcd_io_write(io, hpa, buf, n);
        } else {
            dcd_io_read(io, hpa, buf, n);
        }
        off += n;
        buf += n;
        len -= n;
    }
    return dcd_io_check(io, errp);
}

bool dcd_allocation_read(const DcdAllocation *a, DcdHostIo *io, uint64_t off,
                         void *buf, size_t len, GError **errp)
{
    return transfer(a, io, off, buf, len, false, errp);
}

bool dcd_allocation_write(const DcdAllocation *a, DcdHostIo *io,
                          uint64_t off, const void *buf, size_t len,
                          GError **errp)
{
    return transfer(a, io, off, (uint8_t *)buf, len, true, errp);
}
