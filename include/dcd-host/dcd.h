/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd.h - Dynamic Capacity commands and events (CXL r3.1 8.2.9.9.9,
 * 8.2.9.2).
 *
 * Owns: Identify (0001h) and Identify Memory Device (4000h), Get DC
 * Config (4800h), Get DC Extent List (4801h, all pages, with the
 * generation number), Add DC Response (4802h), Release DC (4803h), Get
 * and Clear Event Records (0100h, 0101h) and the parsing of Dynamic
 * Capacity event records (type, More flag, the 40-byte extent with its
 * tag and shared_seq).
 */
#ifndef DCD_HOST_DCD_H
#define DCD_HOST_DCD_H

#include "dcd/types.h"
#include "dcd-host/mbox.h"

#define CXL_OP_IDENTIFY 0x0001
#define CXL_OP_GET_EVENTS 0x0100
#define CXL_OP_CLEAR_EVENTS 0x0101
#define CXL_OP_IDENTIFY_MEMDEV 0x4000
#define CXL_OP_DC_CONFIG 0x4800
#define CXL_OP_DC_EXTENT_LIST 0x4801
#define CXL_OP_DC_ADD_RESPONSE 0x4802
#define CXL_OP_DC_RELEASE 0x4803

#define CXL_EVENT_LOG_DC 4
#define DCD_MAX_REGIONS 8

/* Dynamic Capacity event types */
enum {
    DCD_EV_ADD = 0,
    DCD_EV_RELEASE = 1,
    DCD_EV_FORCED_RELEASE = 2,
    DCD_EV_REGION_UPDATED = 3,
    DCD_EV_ADD_RESPONSE = 4,
    DCD_EV_RELEASED = 5,
};

typedef struct DcdDevExtent {
    uint64_t dpa;
    uint64_t len;
    uint8_t tag[16];        /* UUID bytes, as on the wire */
    uint16_t shared_seq;
} DcdDevExtent;

typedef struct DcdRegion {
    uint64_t base;          /* DPA */
    uint64_t decode_len;    /* bytes */
    uint64_t len;
    uint64_t block_size;
    uint32_t dsmad_handle;
    uint8_t flags;
} DcdRegion;

typedef struct DcdConfig {
    unsigned n_regions;
    DcdRegion region[DCD_MAX_REGIONS];
    uint32_t extents_supported, extents_available;
    uint32_t tags_supported, tags_available;
} DcdConfig;

typedef struct DcdIdentity {
    uint16_t vendor, device;
    uint8_t component_type;
    char fw_revision[17];
    uint64_t total_capacity;        /* bytes of static capacity */
    uint64_t volatile_capacity;
    uint64_t persistent_capacity;
    uint16_t dc_event_log_size;
} DcdIdentity;

typedef struct DcdEvent {
    uint16_t handle;
    uint8_t type;
    bool more;              /* another record of the group follows */
    uint16_t host_id;
    uint8_t region;
    DcdDevExtent extent;
    uint32_t extents_available;
} DcdEvent;

bool dcd_identify(DcdMbox *m, DcdIdentity *id, GError **errp);
bool dcd_get_config(DcdMbox *m, DcdConfig *c, GError **errp);

/* All accepted extents (GArray of DcdDevExtent) and the generation number. */
GArray *dcd_get_extents(DcdMbox *m, uint32_t *generation, GError **errp);

/*
 * Accept extents of the first pending group; n == 0 rejects it all.  More
 * extents than one mailbox payload holds (85 in 2048 bytes) go out as a
 * chain of responses linked with the "More" flag, which the device takes
 * as one answer.  If a response of the chain fails, the error is returned
 * and the rest is not sent.
 */
bool dcd_add_response(DcdMbox *m, const DcdDevExtent *ext, unsigned n,
                      GError **errp);
/*
 * Release accepted extents.  More than one payload holds go out as a chain
 * of Release DC commands linked with "More"; a device that knows the flag
 * applies the chain as one release when its last payload comes; if any
 * payload is refused, none of the chain is released.  If a command of the
 * chain fails, the error is returned and the rest is not sent.
 */
bool dcd_release(DcdMbox *m, const DcdDevExtent *ext, unsigned n, GError **errp);

/*
 * One Get Event Records on log: appends DC events (other records are
 * counted in *other) to events; *more tells whether the log has more.
 */
bool dcd_get_events(DcdMbox *m, unsigned log, GArray *events, bool *more,
                    unsigned *other, GError **errp);
bool dcd_clear_events(DcdMbox *m, unsigned log, const uint16_t *handles,
                      unsigned n, GError **errp);

/*
 * Read and clear Dynamic Capacity events until one group is complete
 * (the More chain closes).  Returns the group (GArray of DcdEvent), an
 * empty array if the log is empty.  Record handles are cleared as read.
 */
GArray *dcd_next_group(DcdMbox *m, GError **errp);

/*
 * The same for a driver that must not lose a group it has read, as a
 * crash between clearing records and answering them would.  group
 * comes in with what was saved before (maybe nothing); a record already
 * in it is cleared, not taken twice.  save(group, opaque) runs after
 * records are added and before they are cleared; its false stops with
 * its error.  *complete tells whether the More chain closed; when the
 * log runs dry first, true is returned with *complete false.
 */
typedef bool (*DcdGroupSave)(GArray *group, void *opaque, GError **errp);
bool dcd_group_read(DcdMbox *m, GArray *group, DcdGroupSave save,
                    void *opaque, bool *complete, GError **errp);

/* Tag helpers: text <-> the 16 bytes; null tag is all zero. */

#endif
