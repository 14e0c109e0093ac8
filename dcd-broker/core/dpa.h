/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dpa.h - the DPA space of one DC region of one host.
 *
 * Owns: which blocks of a region are free (not taken by pending, accepted
 * or releasing extents) and the searches the selection policies need.
 * Knows nothing of tags or pools.
 */
#ifndef DCD_DPA_H
#define DCD_DPA_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/*
 * The free runs are kept, not the blocks: memory follows the number of
 * extents, never the region's size, which a peer declares.
 */
typedef struct DcdSpace {
    uint64_t base;
    uint64_t len;
    uint64_t block;
    bool sharable;
    uint64_t nfree;      /* free blocks */
    GTree *free;         /* DcdDpaRun by start: disjoint, never adjacent */
} DcdSpace;

/* A DPA range (absolute) */
typedef struct DcdDpaRange {
    uint64_t dpa;
    uint64_t len;
} DcdDpaRange;

void dcd_space_init(DcdSpace *s, uint64_t base, uint64_t len, uint64_t block,
                    bool sharable);
void dcd_space_fini(DcdSpace *s);

/* Is [dpa, dpa+len) block-aligned and inside the region? */
bool dcd_space_valid(const DcdSpace *s, uint64_t dpa, uint64_t len);
/* Is every block of the (valid) range free? */
bool dcd_space_is_free(const DcdSpace *s, uint64_t dpa, uint64_t len);
void dcd_space_take(DcdSpace *s, uint64_t dpa, uint64_t len);
void dcd_space_put(DcdSpace *s, uint64_t dpa, uint64_t len);

/* First free run of len bytes; false if none. */
bool dcd_space_find_contig(const DcdSpace *s, uint64_t len, uint64_t *dpa);
/*
 * First-fit over free runs, splitting as needed, so that the ranges add
 * up to len.  Appends DcdDpaRange to out; false (out untouched) if the
 * region has less than len free.
 */
bool dcd_space_find_free(const DcdSpace *s, uint64_t len, GArray *out);
/* How many free runs the region is cut into (memory use, tests). */
unsigned dcd_space_nruns(const DcdSpace *s);

#endif
