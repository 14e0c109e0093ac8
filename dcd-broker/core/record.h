/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * record.h - the saved form of the broker's state: pools, hosts and live
 * extents as records (a key and a JSON object), the same in every store.
 *
 * Owns: record keys ("meta", "pool:<tag>", "devpool:<tag>" (a pool on
 * the shared device), "device", "host:<id>", "extent:<id>:<dpa>"), their
 * JSON, and its checked reading.  The put and
 * del functions queue a record in a store (store.h); the decode functions
 * check every member for type and range (saved state is read like peer
 * input); what the records mean is for the broker to check.  Every live
 * extent is a record, pending offers included: a host may list one it
 * accepted across a restart (HOLD).
 */
#ifndef DCD_RECORD_H
#define DCD_RECORD_H

#include <json-glib/json-glib.h>

#include "core/host.h"
#include "core/pool.h"
#include "core/store.h"

void dcd_record_put_meta(DcdStore *s, const uint8_t id[16], uint64_t epoch);
void dcd_record_put_pool(DcdStore *s, const DcdPool *p);
void dcd_record_del_pool(DcdStore *s, const DcdPool *p);
/*
 * The shared device: every change of its pools puts it too, so that
 * brokers sharing it allocate one after another (store.h compares).
 */
void dcd_record_put_device(DcdStore *s, uint64_t size);
void dcd_record_put_host(DcdStore *s, const DcdHost *h);
void dcd_record_put_extent(DcdStore *s, const DcdHost *h, const DcdExtent *e);
void dcd_record_del_extent(DcdStore *s, const DcdHost *h, const DcdExtent *e);

/* Member k: device ranges as [{offset, len}, ...] (records, replies). */
void dcd_record_ranges(JsonBuilder *jb, const char *k, const GArray *ranges);

/* A record's text as an object, NULL if it is not one (or too deep). */
JsonObject *dcd_record_parse(const char *json);

typedef struct DcdSavedPool {
    DcdTag tag;
    uint64_t size;
    DcdBacking backing;
    char *path;              /* file backing, or NULL */
    GArray *segments;        /* uint64_t lengths, in shared_seq order */
    GArray *ranges;          /* DcdDevRange: device pools, else NULL */
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

/* False: malformed. */
bool dcd_record_decode_meta(JsonObject *o, uint8_t id[16], uint64_t *epoch);
bool dcd_record_decode_pool(JsonObject *o, DcdSavedPool *out, GError **errp);
void dcd_saved_pool_clear(DcdSavedPool *p);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DcdSavedPool, dcd_saved_pool_clear)
bool dcd_record_decode_host(JsonObject *o, DcdSavedHost *out, GError **errp);
bool dcd_record_decode_extent(JsonObject *o, DcdSavedExtent *out);
bool dcd_record_decode_device(JsonObject *o, uint64_t *size);

#endif
