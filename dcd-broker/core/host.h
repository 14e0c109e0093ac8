/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * host.h - one host (one head of the device) as the broker sees it.
 *
 * Owns: the host's DC regions and their DPA space, its live extents (by
 * DPA), its open extent groups (offers not yet answered), a bounded
 * history of ended extents, and the link to its connection, if any.
 */
#ifndef DCD_HOST_H
#define DCD_HOST_H

#include "dcd/proto.h"
#include "core/dpa.h"
#include "core/pool.h"

#define DCD_HOST_HISTORY 1024

typedef struct DcdHost DcdHost;

typedef struct DcdExtent {
    uint64_t dpa;
    uint64_t len;
    uint8_t region;
    uint16_t seq;
    DcdTag tag;
    DcdPool *pool;        /* while live (pending, accepted, releasing,
                           * revoking) */
    DcdExtentState state;
    uint64_t group;
    bool confirmed;       /* seen in the host's HOLD after a reconnect */
    bool offer;           /* revoking an offer, not something accepted */
    uint64_t release;     /* the release request it is in (0: none) */
    gint64 release_us;    /* when that request came (metrics) */
} DcdExtent;

/* An offer waiting for the host's ACCEPT. */
typedef void (*DcdGroupDoneFn)(DcdHost *h, uint64_t group,
                               GPtrArray *extents, gpointer opaque);
typedef struct DcdGroupWaiter {
    DcdGroupDoneFn fn;
    gpointer opaque;
} DcdGroupWaiter;

typedef struct DcdGroup {
    uint64_t id;
    GPtrArray *extents;   /* DcdExtent *, owned by the host's table */
    GArray *waiters;      /* DcdGroupWaiter */
    guint timer;          /* withdraws the offer if unanswered; 0: none */
    bool withdrawing;     /* WITHDRAW sent, its reply not yet in */
    gint64 started_us;    /* when the add came (metrics); 0: unknown */
} DcdGroup;

/* How the broker talks to a connected host. */
typedef struct DcdHostLinkOps {
    bool (*send_pool)(gpointer link, DcdPool *p);
    bool (*send_offer)(gpointer link, uint64_t group, GPtrArray *extents);
    bool (*send_release)(gpointer link, uint64_t id, bool forced,
                         GPtrArray *extents);
    bool (*send_withdraw)(gpointer link, uint64_t group);
} DcdHostLinkOps;

struct DcdHost {
    uint16_t id;
    char name[DCD_NAME_LEN + 1];
    unsigned nregions;
    DcdSpace regions[DCD_MAX_REGIONS];
    GHashTable *extents;      /* &dpa -> DcdExtent, live extents */
    GQueue history;           /* DcdExtent, ended, oldest first */
    GHashTable *groups;       /* &id -> DcdGroup */
    uint64_t next_group;
    uint64_t next_release;

    const DcdHostLinkOps *ops;
    gpointer link;            /* NULL while disconnected */
    pid_t pid;
    uid_t uid;
    bool reconnecting;        /* waiting for the last HOLD */
    uint16_t version;         /* the session's protocol version */
    uint16_t max_group;       /* the session's most extents in a group,
                               * 0: no limit but the protocol's */
    GHashTable *handed;       /* tag strings whose memory this session
                               * handed back and the broker checked */

    struct cds_lfht_node node;
    struct rcu_head rcu;
};

DcdHost *dcd_host_new(uint16_t id, const char *name,
                      const struct dcd_region *regions, unsigned nregions);
void dcd_host_free(DcdHost *h);
bool dcd_host_connected(const DcdHost *h);
/* Same region layout? */
bool dcd_host_regions_equal(const DcdHost *h,
                            const struct dcd_region *regions,
                            unsigned nregions);
void dcd_host_set_regions(DcdHost *h, const struct dcd_region *regions,
                          unsigned nregions);

DcdExtent *dcd_host_extent(const DcdHost *h, uint64_t dpa);
/* A new live extent: takes its DPA range and a hold on the pool. */
DcdExtent *dcd_host_add_extent(DcdHost *h, DcdPool *pool, uint8_t region,
                               uint64_t dpa, uint64_t len, uint16_t seq,
                               DcdExtentState state);
/*
 * End a live extent: frees its DPA range and pool hold and moves it to the
 * history, where it stays valid until the next dcd_host_trim_history().
 */
void dcd_host_end_extent(DcdHost *h, DcdExtent *e, DcdExtentState state);
/* Take back an extent nobody has heard of (its change was not saved). */
void dcd_host_undo_extent(DcdHost *h, DcdExtent *e);
void dcd_host_trim_history(DcdHost *h);
/* Live extents of tag (NULL: all), sorted by DPA. */
GPtrArray *dcd_host_extents_of(const DcdHost *h, const DcdTag *tag);
bool dcd_host_holds(const DcdHost *h, const DcdPool *p);
/* Live extents in state. */
unsigned dcd_host_count_state(const DcdHost *h, DcdExtentState state);

DcdGroup *dcd_host_group(const DcdHost *h, uint64_t id);
DcdGroup *dcd_host_new_group(DcdHost *h);
/* Call the group's waiters and drop the group. */
void dcd_host_close_group(DcdHost *h, DcdGroup *g);

/* Fill a wire extent record. */
void dcd_extent_to_wire(const DcdExtent *e, struct dcd_extent *w);

#endif
