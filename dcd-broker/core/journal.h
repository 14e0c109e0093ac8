/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.h - the store in a local dir (the default): a broker alone.
 *
 * Owns: the state dir, its lock, and two files of checksummed JSON lines:
 * "snapshot" (replaced atomically; the store's rewrite) and "journal"
 * (appended; each commit is one write).  Loading replays the snapshot,
 * then the journal, and stops at the first torn or corrupt journal line.
 * Records are puts and deletes keyed by what they describe, so replaying
 * a journal over a newer snapshot is harmless.  The dir's lock makes this
 * broker the only writer, so every key is always as it last wrote it.
 */
#ifndef DCD_JOURNAL_H
#define DCD_JOURNAL_H

#include <sys/types.h>

#include "core/store.h"

/* Open (creating 0700) and lock dir; fails if another broker holds it. */
DcdStore *dcd_journal_open(const char *dir, GError **errp);

/* Tests: every write of the journal goes through fn (as write(2) does). */
typedef ssize_t (*DcdJournalWriteFn)(int fd, const void *buf, size_t len,
                                     gpointer opaque);
void dcd_journal_set_write_fn(DcdStore *s, DcdJournalWriteFn fn,
                              gpointer opaque);

#endif
