/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h - the broker's saved state: pools, hosts and accepted extents.
 *
 * Owns: the state dir, its lock, and two files of checksummed JSON lines:
 * "snapshot" (replaced atomically) and "journal" (appended).  Loading
 * replays the snapshot, then the journal, and stops at the first torn or
 * corrupt journal line.  Records are puts and deletes keyed by what they
 * describe, so replaying a journal over a newer snapshot is harmless.
 * Pending offers are not saved: a restarted broker has no connections,
 * and offers to a gone host are reclaimed anyway.
 */
#ifndef DCD_STORE_H
#define DCD_STORE_H

#include <sys/types.h>
#include <json-glib/json-glib.h>

#include "core/host.h"
#include "core/pool.h"

typedef struct DcdStore DcdStore;

/* Open (creating 0700) and lock dir; fails if another broker holds it. */
DcdStore *dcd_store_open(const char *dir, GError **errp);
void dcd_store_close(DcdStore *s);

/*
 * Replay saved state: the returned table maps record keys ("meta",
 * "pool:<tag>", "host:<id>", "extent:<id>:<dpa>") to the JSON text of the
 * last record saved under each (parse with dcd_store_parse_record()).
 * Reports dropped corrupt lines through *dropped.  Must be called once
 * before anything is saved.
 */
GHashTable *dcd_store_load(DcdStore *s, unsigned *dropped, GError **errp);
JsonObject *dcd_store_parse_record(const char *json);

/*
 * Saved records decoded, next to their encoding below: every member is
 * checked for type and range (saved state is read like peer input);
 * what the records mean is for the broker to check.  False: malformed.
 */
typedef struct DcdSavedPool {
    DcdTag tag;
    uint64_t size;
    DcdBacking backing;
    char *path;              /* file backing, or NULL */
    GArray *segments;        /* uint64_t lengths, in shared_seq order */
    GArray *requesters;      /* uint16_t host-ids, or NULL: any */
} DcdSavedPool;

typedef struct DcdSavedHost {
    uint16_t id;
    char name[DCD_NAME_LEN + 1];
    struct dcd_region regions[DCD_MAX_REGIONS];  /* dcd_regions_check()ed */
    unsigned nregions;
} DcdSavedHost;

typedef struct DcdSavedExtent {
    uint16_t host_id;
    uint64_t dpa;
    uint64_t len;
    uint8_t region;
    uint16_t seq;
    DcdTag tag;
    DcdExtentState state;    /* pending, accepted, releasing, revoking */
} DcdSavedExtent;

bool dcd_store_decode_meta(JsonObject *o, uint8_t id[16], uint64_t *epoch);
bool dcd_store_decode_pool(JsonObject *o, DcdSavedPool *out, GError **errp);
void dcd_saved_pool_clear(DcdSavedPool *p);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DcdSavedPool, dcd_saved_pool_clear)
bool dcd_store_decode_host(JsonObject *o, DcdSavedHost *out, GError **errp);
bool dcd_store_decode_extent(JsonObject *o, DcdSavedExtent *out);

/*
 * The put and del functions queue records; dcd_store_commit() appends
 * them to the journal in one write.  A commit that fails leaves the
 * journal as it was (a partial append is cut off) and fails with
 * DCD_ERR_NOSPC or DCD_ERR_IO: the caller must not act on the change.
 * dcd_store_discard() drops the queue.
 */
bool dcd_store_commit(DcdStore *s, GError **errp);
void dcd_store_discard(DcdStore *s);

/* Tests: every write of the store goes through fn (as write(2) does). */
typedef ssize_t (*DcdStoreWriteFn)(int fd, const void *buf, size_t len,
                                   gpointer opaque);
void dcd_store_set_write_fn(DcdStore *s, DcdStoreWriteFn fn, gpointer opaque);

void dcd_store_put_meta(DcdStore *s, const uint8_t id[16], uint64_t epoch);
void dcd_store_put_pool(DcdStore *s, const DcdPool *p);
void dcd_store_del_pool(DcdStore *s, const DcdPool *p);
void dcd_store_put_host(DcdStore *s, const DcdHost *h);
void dcd_store_put_extent(DcdStore *s, const DcdHost *h, const DcdExtent *e);
void dcd_store_del_extent(DcdStore *s, const DcdHost *h, const DcdExtent *e);

/* True when the journal has grown enough that a snapshot pays off. */
bool dcd_store_wants_compact(const DcdStore *s, unsigned live_records);
/*
 * Write a snapshot of exactly the records queued with the put functions
 * between begin and commit, then empty the journal.
 */
void dcd_store_compact_begin(DcdStore *s);
bool dcd_store_compact_commit(DcdStore *s, GError **errp);

/* Have what was appended flushed to disk, on the store's own thread. */
void dcd_store_sync(DcdStore *s);

#endif
