/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-guest/tag.h - what an application of the guest uses: a tag held
 * and mapped.
 *
 * Owns: holding a tag (a shared lock on the tag's lock file in the run
 * dir; the agent answers a release only once it can take the lock
 * exclusively, so a release waits for every holder), and mapping the
 * tag's extents as one contiguous range in shared_seq order, however
 * scattered their DPAs are.
 */
#ifndef DCD_GUEST_TAG_H
#define DCD_GUEST_TAG_H

#include "dcd/types.h"
#include "dcd-host/io.h"

typedef struct DcdGuestTag DcdGuestTag;

/*
 * Hold tag and map it read-write.  Fails when the tag has no accepted
 * extents or is being released.  Waits while the agent is answering a
 * release of it.
 */
DcdGuestTag *dcd_guest_tag_open(const DcdTag *tag, GError **errp);
/* Unmap and let go: a release waiting for this holder may proceed. */
void dcd_guest_tag_close(DcdGuestTag *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdGuestTag, dcd_guest_tag_close)

void *dcd_guest_tag_data(const DcdGuestTag *t);
uint64_t dcd_guest_tag_size(const DcdGuestTag *t);
unsigned dcd_guest_tag_extents(const DcdGuestTag *t);

/*
 * The tag's lock file, opened, locked with op (flock: LOCK_SH, LOCK_EX,
 * maybe | LOCK_NB).  -1 with errp set on failure; a lock busy under
 * LOCK_NB fails with DCD_HOST_ERR_TIMEOUT.
 */
int dcd_guest_tag_lock(const DcdTag *tag, int op, GError **errp);

#endif
