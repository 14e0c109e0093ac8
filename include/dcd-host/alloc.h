/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * alloc.h - a tagged allocation as one logical range.
 *
 * Owns: collecting the accepted extents that carry one tag, ordering
 * them by shared_seq (dense 0..n-1, unique), and translating a logical
 * offset to extent, DPA and HPA, so that reads and writes of the
 * allocation go to the right place in the fixed window.
 */
#ifndef DCD_HOST_ALLOC_H
#define DCD_HOST_ALLOC_H

#include "dcd-host/driver.h"

typedef struct DcdPart {
    DcdDevExtent extent;
    uint64_t logical;       /* offset of the extent in the allocation */
    uint64_t hpa;
} DcdPart;

typedef struct DcdAllocation {
    uint8_t tag[16];
    GArray *parts;          /* DcdPart, in logical order */
    uint64_t size;
    bool seq_from_dpa;      /* no shared_seq assigned: ordered by DPA */
} DcdAllocation;

/*
 * Build the allocation of tag from extents, placing each through one of
 * maps.  Extents of the tag must carry shared_seq 0..n-1 exactly once;
 * if every one carries 0 (the device assigns none) they are ordered by
 * DPA instead.
 */
DcdAllocation *dcd_allocation_build(const uint8_t tag[16],
                                    const DcdDevExtent *extents, unsigned n,
                                    const DcdMapping *maps, unsigned n_maps,
                                    GError **errp);
void dcd_allocation_free(DcdAllocation *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdAllocation, dcd_allocation_free)

/* HPA of a logical offset and how many bytes follow contiguously. */
bool dcd_allocation_locate(const DcdAllocation *a, uint64_t off,
                           uint64_t *hpa, uint64_t *contig);

bool dcd_allocation_read(const DcdAllocation *a, DcdHostIo *io, uint64_t off,
                         void *buf, size_t len, GError **errp);
bool dcd_allocation_write(const DcdAllocation *a, DcdHostIo *io,
                          uint64_t off, const void *buf, size_t len,
                          GError **errp);

#endif
