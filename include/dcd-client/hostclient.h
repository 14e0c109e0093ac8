/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-client/hostclient.h - the host side of the host protocol, as a
 * library: the host client.
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
#ifndef DCD_CLIENT_HOSTCLIENT_H
#define DCD_CLIENT_HOSTCLIENT_H

#include <gio/gio.h>

#include "dcd/proto.h"

G_BEGIN_DECLS

typedef struct DcdHostClient DcdHostClient;

/* What to do with valid offered extents when no decide callback is set. */
typedef enum DcdHostClientPolicy {
    DCD_HOST_ACCEPT_ALL,
    DCD_HOST_REJECT_ALL,
    DCD_HOST_REJECT_TAGS,  /* reject the listed tags, accept the rest */
    DCD_HOST_MANUAL,       /* keep groups until dcd_hostclient_accept/reject */
} DcdHostClientPolicy;

typedef struct DcdHostClientConfig {
    const char *socket_path;
    uint16_t host_id;
    const char *name;
    const struct dcd_region *regions;
    unsigned nregions;
    DcdHostClientPolicy policy;
    const DcdTag *reject_tags;
    unsigned n_reject_tags;
    bool reconnect;
    /*
     * A faulty host, for fault storms: a forced RELEASE is neither obeyed
     * nor confirmed (the extents stay mapped), as a guest or device that
     * ignores Forced Release would.  Its broker must keep counting them.
     */
    bool ignore_forced;
    /*
     * The most extents it takes in one group, told to the broker in HELLO
     * (protocol version 3); 0: no limit of its own
     */
    uint16_t max_group;
    GMainContext *ctx;     /* NULL: the thread-default context */
} DcdHostClientConfig;

/* An extent as this host sees it. */
typedef struct DcdHostClientExtent {
    struct dcd_extent e;
    DcdExtentState state;  /* pending (offered or awaiting ack), accepted */
    uint64_t group;
    bool mapped;
} DcdHostClientExtent;

/* An offered group this host has not answered yet. */
typedef struct DcdHostClientGroup {
    uint64_t group;
    bool complete;         /* the last part (no DCD_GROUP_MORE) arrived */
    GArray *extents;       /* of struct dcd_extent, as offered */
} DcdHostClientGroup;

typedef struct DcdHostClientEvents {
    void (*connected)(DcdHostClient *h, bool reconnected, gpointer opaque);
    void (*disconnected)(DcdHostClient *h, const GError *why, gpointer opaque);
    /* A group is complete and waits for a decision (manual policy). */
    void (*offered)(DcdHostClient *h, const DcdHostClientGroup *g,
                    gpointer opaque);
    void (*accepted)(DcdHostClient *h, const DcdHostClientExtent *x,
                     gpointer opaque);
    void (*rejected)(DcdHostClient *h, const struct dcd_extent *e,
                     const char *why, gpointer opaque);
    void (*released)(DcdHostClient *h, const DcdHostClientExtent *x,
                     bool forced, gpointer opaque);
    /*
     * Decide one valid offered extent (true accepts); overrides the
     * policy unless it is manual.  Invalid extents never get here.
     */
    bool (*decide)(DcdHostClient *h, const struct dcd_extent *e,
                   gpointer opaque);
} DcdHostClientEvents;

/* A request finished: err NULL on success, else the broker's answer. */
typedef void (*DcdHostClientDoneFn)(DcdHostClient *h, const GError *err,
                              gpointer opaque);

DcdHostClient *dcd_hostclient_new(const DcdHostClientConfig *cfg,
                                  const DcdHostClientEvents *ev,
                                  gpointer opaque);
/* Start connecting (asynchronously); events report the outcome. */
void dcd_hostclient_start(DcdHostClient *h);
/* Disconnect, unmap everything, close every fd.  No events after this. */
void dcd_hostclient_free(DcdHostClient *h);

bool dcd_hostclient_is_connected(const DcdHostClient *h);
uint16_t dcd_hostclient_id(const DcdHostClient *h);

/* Extents held or pending, in no particular order (owned by h). */
const GPtrArray *dcd_hostclient_extents(const DcdHostClient *h);
/* Groups waiting for a decision (manual policy; owned by h). */
const GPtrArray *dcd_hostclient_groups(const DcdHostClient *h);
/* Accepted and mapped extents of tag. */
unsigned dcd_hostclient_count_extents(const DcdHostClient *h,
                                      const DcdTag *tag);
/* Extents of tag in any state (pending, accepted). */
unsigned dcd_hostclient_holds_tag(const DcdHostClient *h, const DcdTag *tag);

/*
 * Answer a complete pending group: accept the extents starting at the
 * listed DPAs (all valid ones if ndpa is 0), or reject it all.
 */
bool dcd_hostclient_accept(DcdHostClient *h, uint64_t group,
                           const uint64_t *dpa, unsigned ndpa, GError **errp);
bool dcd_hostclient_reject(DcdHostClient *h, uint64_t group, GError **errp);

/* ADD_REQ / RELEASE_REQ; cb gets the broker's answer. */
bool dcd_hostclient_add_request(DcdHostClient *h, const DcdTag *tag,
                                uint64_t length, DcdPolicy policy,
                                uint8_t region, const struct dcd_range *r,
                                unsigned count, DcdHostClientDoneFn cb,
                                gpointer opaque, GError **errp);
bool dcd_hostclient_release_request(DcdHostClient *h, const DcdTag *tag,
                                    DcdRemoval removal, uint8_t region,
                                    uint16_t flags, const struct dcd_range *r,
                                    unsigned count, DcdHostClientDoneFn cb,
                                    gpointer opaque, GError **errp);
/* Host-initiated release of every accepted extent of tag (RELEASED). */
bool dcd_hostclient_drop(DcdHostClient *h, const DcdTag *tag,
                         DcdHostClientDoneFn cb, gpointer opaque,
                         GError **errp);

/*
 * Logical bytes of tag: offset 0 is the start of shared_seq 0, then each
 * accepted extent follows in shared_seq order.  Fails on bytes this host
 * does not hold.
 */
uint64_t dcd_hostclient_tag_size(const DcdHostClient *h, const DcdTag *tag);
bool dcd_hostclient_read(DcdHostClient *h, const DcdTag *tag, uint64_t off,
                         void *buf, size_t len, GError **errp);
bool dcd_hostclient_write(DcdHostClient *h, const DcdTag *tag, uint64_t off,
                          const void *buf, size_t len, GError **errp);
/* The pool fd of tag (owned by h), or -1. */
int dcd_hostclient_pool_fd(const DcdHostClient *h, const DcdTag *tag);

G_END_DECLS

#endif
