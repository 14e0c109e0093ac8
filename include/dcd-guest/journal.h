/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-guest/journal.h - the agent's journal: Dynamic Capacity event
 * groups read from a device's log and not answered yet.
 *
 * Owns: DcdGuestGroup (one device's group of DC events), the journal
 * file (written whole and renamed, so a crash leaves the old one or the
 * new one) and reading it back with every field checked.
 */
#ifndef DCD_GUEST_JOURNAL_H
#define DCD_GUEST_JOURNAL_H

#include "dcd-host/dcd.h"

/* no more events than this are taken from a journal */
#define DCD_GUEST_JOURNAL_MAX_EVENTS 4096

typedef struct DcdGuestGroup {
    unsigned dev;
    GArray *events;             /* DcdEvent, in log order */
} DcdGuestGroup;

DcdGuestGroup *dcd_guest_group_new(unsigned dev);
void dcd_guest_group_free(DcdGuestGroup *g);

bool dcd_guest_journal_save(const char *path, DcdGuestGroup *const *groups,
                            unsigned n, GError **errp);
/*
 * The groups an agent that is gone saved, in order (DcdGuestGroup, freed
 * with the array); empty when there is no journal.  Devices must be
 * below n_devs.  A group whose More chain is open comes last for its
 * device; a second open one is dropped.
 */
GPtrArray *dcd_guest_journal_load(const char *path, unsigned n_devs,
                                  GError **errp);

#endif
