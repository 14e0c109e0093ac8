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

typedef struct DcdHostCore DcdHostCore;

/* What to do with valid offered extents when no decide callback is set. */
typedef enum DcdHostCorePolicy {
    DCD_HOST_ACCEPT_ALL,
    DCD_HOST_REJECT_ALL,
    DCD_HOST_REJECT_TAGS,  /* reject the listed tags, accept the rest */
    DCD_HOST_MANUAL,       /* keep groups until dcd_hostcore_accept/reject */
} DcdHostCorePolicy;

typedef struct DcdHostCoreConfig {
    const char *socket_path;
    uint16_t host_id;
    const char *name;
    const struct dcd_region *regions;
    unsigned nregions;
    DcdHostCorePolicy policy;
    const DcdTag *reject_tags;
    unsigned n_reject_tags;
    bool reconnect;
    GMainContext *ctx;     /* NULL: the thread-default context */
} DcdHostCoreConfig;

/* An extent as this host sees it. */
typedef struct DcdHostCoreExtent {
    struct dcd_extent e;
    DcdExtentState state;  /* pending (offered or awaiting ack), accepted */
    uint64_t group;
    bool mapped;
} DcdHostCoreExtent;

/* An offered group this host has not answered yet. */
typedef struct DcdHostCoreGroup {
    uint64_t group;
    bool complete;         /* the last part (no DCD_GROUP_MORE) arrived */
    GArray *extents;       /* of struct dcd_extent, as offered */
} DcdHostCoreGroup;

typedef struct DcdHostCoreEvents {
    void (*connected)(DcdHostCore *h, bool reconnected, gpointer opaque);
    void (*disconnected)(DcdHostCore *h, const GError *why, gpointer opaque);
    /* A group is complete and waits for a decision (manual policy). */
    void (*offered)(DcdHostCore *h, const DcdHostCoreGroup *g, gpointer opaque);
    void (*accepted)(DcdHostCore *h, const DcdHostCoreExtent *x, gpointer opaque);
    void (*rejected)(DcdHostCore *h, const struct dcd_extent *e,
                     const char *why, gpointer opaque);
    void (*released)(DcdHostCore *h, const DcdHostCoreExtent *x, bool forced,
                     gpointer opaque);
    /*
     * Decide one valid offered extent (true accepts); overrides the
     * policy unless it is manual.  Invalid extents never get here.
     */
    bool (*decide)(DcdHostCore *h, const struct dcd_extent *e, gpointer opaque);
} DcdHostCoreEvents;

/* A request finished: err NULL on success, else the broker's answer. */
typedef void (*DcdHostCoreDoneFn)(DcdHostCore *h, const GError *err,
                              gpointer opaque);

DcdHostCore *dcd_hostcore_new(const DcdHostCoreConfig *cfg, const DcdHostCoreEvents *ev,
                      gpointer opaque);
/* Start connecting (asynchronously); events report the outcome. */
void dcd_hostcore_start(DcdHostCore *h);
/* Disconnect, unmap everything, close every fd.  No events after this. */
void dcd_hostcore_free(DcdHostCore *h);

bool dcd_hostcore_is_connected(const DcdHostCore *h);
uint16_t dcd_hostcore_id(const DcdHostCore *h);

/* Extents held or pending, in no particular order (owned by h). */
const GPtrArray *dcd_hostcore_extents(const DcdHostCore *h);
/* Groups waiting for a decision (manual policy; owned by h). */
const GPtrArray *dcd_hostcore_groups(const DcdHostCore *h);
/* Accepted and mapped extents of tag. */
unsigned dcd_hostcore_count_extents(const DcdHostCore *h, const DcdTag *tag);
/* Extents of tag in any state (pending, accepted). */
unsigned dcd_hostcore_holds_tag(const DcdHostCore *h, const DcdTag *tag);

/*
 * Answer a complete pending group: accept the extents starting at the
 * listed DPAs (all valid ones if ndpa is 0), or reject it all.
 */
bool dcd_hostcore_accept(DcdHostCore *h, uint64_t group, const uint64_t *dpa,
                     unsigned ndpa, GError **errp);
bool dcd_hostcore_reject(DcdHostCore *h, uint64_t group, GError **errp);

/* ADD_REQ / RELEASE_REQ; cb gets the broker's answer. */
bool dcd_hostcore_add_request(DcdHostCore *h, const DcdTag *tag, uint64_t length,
                          DcdPolicy policy, uint8_t region,
                          const struct dcd_range *r, unsigned count,
                          DcdHostCoreDoneFn cb, gpointer opaque, GError **errp);
bool dcd_hostcore_release_request(DcdHostCore *h, const DcdTag *tag,
                              DcdRemoval removal, uint8_t region,
                              uint16_t flags, const struct dcd_range *r,
                              unsigned count, DcdHostCoreDoneFn cb,
                              gpointer opaque, GError **errp);
/* Host-initiated release of every accepted extent of tag (RELEASED). */
bool dcd_hostcore_drop(DcdHostCore *h, const DcdTag *tag, DcdHostCoreDoneFn cb,
                   gpointer opaque, GError **errp);

/*
 * Logical bytes of tag: offset 0 is the start of shared_seq 0, then each
 * accepted extent follows in shared_seq order.  Fails on bytes this host
 * does not hold.
 */
uint64_t dcd_hostcore_tag_size(const DcdHostCore *h, const DcdTag *tag);
bool dcd_hostcore_read(DcdHostCore *h, const DcdTag *tag, uint64_t off, void *buf,
                   size_t len, GError **errp);
bool dcd_hostcore_write(DcdHostCore *h, const DcdTag *tag, uint64_t off,
                    const void *buf, size_t len, GError **errp);
/* The pool fd of tag (owned by h), or -1. */
int dcd_hostcore_pool_fd(const DcdHostCore *h, const DcdTag *tag);

G_END_DECLS

#endif
