/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostcore.h - the host side of the host protocol, as a library.
 *
 * Owns: one host's connection to the broker, the pools it was handed
 * (their fds), the extents it was offered and holds (each mapped from
 * its pool), the decision on each offer, and a simulated DPA space that
 * reads and writes a tag's logical bytes in shared_seq order.  With
 * reconnect on, it outlives the broker: it keeps its mappings, connects
 * again every 200 ms and hands back its pools and held extents.
 *
 * No global state: many hosts may share one process and one main loop.
 */
#ifndef DCD_HOSTCORE_H
#define DCD_HOSTCORE_H

#include <gio/gio.h>

#include "dcd/proto.h"

G_BEGIN_DECLS

typedef struct DcdHost DcdHost;

/* What to do with valid offered extents when no decide callback is set. */
typedef enum DcdHostPolicy {
    DCD_HOST_ACCEPT_ALL,
    DCD_HOST_REJECT_ALL,
    DCD_HOST_REJECT_TAGS,  /* reject the listed tags, accept the rest */
    DCD_HOST_MANUAL,       /* keep groups until dcd_host_accept/reject */
} DcdHostPolicy;

typedef struct DcdHostConfig {
    const char *socket_path;
    uint16_t host_id;
    const char *name;
    const struct dcd_region *regions;
    unsigned nregions;
    DcdHostPolicy policy;
    const DcdTag *reject_tags;
    unsigned n_reject_tags;
    bool reconnect;
    GMainContext *ctx;     /* NULL: the thread-default context */
} DcdHostConfig;

/* An extent as this host sees it. */
typedef struct DcdHostExtent {
    struct dcd_extent e;
    DcdExtentState state;  /* pending (offered or awaiting ack), accepted */
    uint64_t group;
    bool mapped;
} DcdHostExtent;

/* An offered group this host has not answered yet. */
typedef struct DcdHostGroup {
    uint64_t group;
    bool complete;         /* the last part (no DCD_GROUP_MORE) arrived */
    GArray *extents;       /* of struct dcd_extent, as offered */
} DcdHostGroup;

typedef struct DcdHostEvents {
    void (*connected)(DcdHost *h, bool reconnected, gpointer opaque);
    void (*disconnected)(DcdHost *h, const GError *why, gpointer opaque);
    /* A group is complete and waits for a decision (manual policy). */
    void (*offered)(DcdHost *h, const DcdHostGroup *g, gpointer opaque);
    void (*accepted)(DcdHost *h, const DcdHostExtent *x, gpointer opaque);
    void (*rejected)(DcdHost *h, const struct dcd_extent *e,
                     const char *why, gpointer opaque);
    void (*released)(DcdHost *h, const DcdHostExtent *x, bool forced,
                     gpointer opaque);
    /*
     * Decide one valid offered extent (true accepts); overrides the
     * policy unless it is manual.  Invalid extents never get here.
     */
    bool (*decide)(DcdHost *h, const struct dcd_extent *e, gpointer opaque);
} DcdHostEvents;

/* A request finished: err NULL on success, else the broker's answer. */
typedef void (*DcdHostDoneFn)(DcdHost *h, const GError *err,
                              gpointer opaque);

DcdHost *dcd_host_new(const DcdHostConfig *cfg, const DcdHostEvents *ev,
                      gpointer opaque);
/* Start connecting (asynchronously); events report the outcome. */
void dcd_host_start(DcdHost *h);
/* Disconnect, unmap everything, close every fd.  No events after this. */
void dcd_host_free(DcdHost *h);

bool dcd_host_is_connected(const DcdHost *h);
uint16_t dcd_host_id(const DcdHost *h);

/* Extents held or pending, in no particular order (owned by h). */
const GPtrArray *dcd_host_extents(const DcdHost *h);
/* Groups waiting for a decision (manual policy; owned by h). */
const GPtrArray *dcd_host_groups(const DcdHost *h);
/* Accepted and mapped extents of tag. */
unsigned dcd_host_count_extents(const DcdHost *h, const DcdTag *tag);
/* Extents of tag in any state (pending, accepted). */
unsigned dcd_host_holds_tag(const DcdHost *h, const DcdTag *tag);

/*
 * Answer a complete pending group: accept the extents starting at the
 * listed DPAs (all valid ones if ndpa is 0), or reject it all.
 */
bool dcd_host_accept(DcdHost *h, uint64_t group, const uint64_t *dpa,
                     unsigned ndpa, GError **errp);
bool dcd_host_reject(DcdHost *h, uint64_t group, GError **errp);

/* ADD_REQ / RELEASE_REQ; cb gets the broker's answer. */
bool dcd_host_add_request(DcdHost *h, const DcdTag *tag, uint64_t length,
                          DcdPolicy policy, uint8_t region,
                          const struct dcd_range *r, unsigned count,
                          DcdHostDoneFn cb, gpointer opaque, GError **errp);
bool dcd_host_release_request(DcdHost *h, const DcdTag *tag,
                              DcdRemoval removal, uint8_t region,
                              uint16_t flags, const struct dcd_range *r,
                              unsigned count, DcdHostDoneFn cb,
                              gpointer opaque, GError **errp);
/* Host-initiated release of every accepted extent of tag (RELEASED). */
bool dcd_host_drop(DcdHost *h, const DcdTag *tag, DcdHostDoneFn cb,
                   gpointer opaque, GError **errp);

/*
 * Logical bytes of tag: offset 0 is the start of shared_seq 0, then each
 * accepted extent follows in shared_seq order.  Fails on bytes this host
 * does not hold.
 */
uint64_t dcd_host_tag_size(const DcdHost *h, const DcdTag *tag);
bool dcd_host_read(DcdHost *h, const DcdTag *tag, uint64_t off, void *buf,
                   size_t len, GError **errp);
bool dcd_host_write(DcdHost *h, const DcdTag *tag, uint64_t off,
                    const void *buf, size_t len, GError **errp);
/* The pool fd of tag (owned by h), or -1. */
int dcd_host_pool_fd(const DcdHost *h, const DcdTag *tag);

G_END_DECLS

#endif
