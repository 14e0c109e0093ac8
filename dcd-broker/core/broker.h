/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * broker.h - the broker's core: pools, hosts and extents, and every
 * operation on them, independent of sockets.
 *
 * Owns: the registry, the saved state (through store.h, whichever
 * backend keeps it), the broker's
 * identity, and the extent state machine (docs/protocol.md, Ownership):
 *   add -> pending -> accepted | rejected
 *   pending -> revoking (withdrawn, host gone) -> reclaimed
 *   accepted -> releasing -> released;  accepted -> released (the host's
 *   own release, or lost across a reconnect)
 *   accepted | releasing -> revoking (forced) -> released
 *   revoking ends only when the host confirms, or is declared gone
 * Transports (hostsrv.c, ctl.c) and unit tests call in here; the broker
 * calls out to a connected host only through its DcdHostLinkOps.
 */
#ifndef DCD_BROKER_H
#define DCD_BROKER_H

#include "core/cluster.h"
#include "core/host.h"
#include "core/registry.h"
#include "core/store.h"

/*
 * A latency histogram (metrics): buckets[i] counts the observations of
 * more than dcd_latency_bounds[i - 1] and at most dcd_latency_bounds[i]
 * seconds; buckets[DCD_LATENCY_BOUNDS], those above every bound.
 */
#define DCD_LATENCY_BOUNDS 16
extern const double dcd_latency_bounds[DCD_LATENCY_BOUNDS];
typedef struct DcdLatency {
    uint64_t buckets[DCD_LATENCY_BOUNDS + 1];
    uint64_t count;
    double sum_s;
} DcdLatency;

/* How often a broker whose saved state lags behind tries to catch up. */
#define DCD_CATCH_UP_MS 1000

typedef struct DcdBrokerConfig {
    const char *state_dir;   /* NULL: nothing is saved (tests) */
    /* Or the state in etcd (docs/cluster.md): etcd://HOST:PORT[,...] */
    const char *cluster_store;
    const char *node;        /* this broker's node name in the cluster */
    unsigned lease_ttl_s;    /* the node's lease; 0: default */
    unsigned store_timeout_ms;  /* bound on one etcd request; 0: default */
    const DcdEtcdSecurity *etcd_security;  /* TLS and user; NULL: none */
    const char *pool_dir;    /* NULL: no file pools */
    const char *shared_device;  /* NULL: no device pools */
    guint offer_timeout_ms;  /* withdraw unanswered offers; 0: never */
} DcdBrokerConfig;

typedef struct DcdBroker {
    DcdRegistry reg;
    GArray *watchers;        /* DcdBrokerWatcher */
    DcdStore *store;
    char *state_dir;
    char *cluster_store;     /* where the state is, when in etcd */
    char *pool_dir;
    int pool_dir_lock;       /* flock'd: one broker per pool dir */
    DcdDevice *device;       /* --shared-device, or NULL */
    char *node;              /* our node name in a cluster, or NULL */
    DcdCluster cluster;      /* the other brokers sharing the store */
    void (*mail_fn)(struct DcdBroker *b, const char *from, const char *name,
                    const char *json, gpointer opaque);
    gpointer mail_opaque;
    guint offer_timeout_ms;
    uint8_t id[16];
    uint64_t epoch;
    gint64 started_us;
    guint maintain_source;   /* idle sync/rewrite, 0 if none */
    bool store_behind;       /* a change stands that is not saved yet */
    guint catch_up_source;   /* retries saving it, 0 if none */
    uint64_t releases;       /* release requests so far (DcdExtent.release) */
    DcdLatency add_latency;  /* an add's request to its ACCEPT */
    DcdLatency release_latency;  /* a release's request to its RELEASED */
} DcdBroker;

/* Loads saved state, if any.  Hosts start disconnected. */
DcdBroker *dcd_broker_new(const DcdBrokerConfig *cfg, GError **errp);
void dcd_broker_free(DcdBroker *b);

/* Pools. */
/* requesters: host-ids that may ask for the pool themselves (NULL: any). */
DcdPool *dcd_broker_pool_create(DcdBroker *b, const DcdTag *tag,
                                uint64_t size, DcdBacking backing,
                                GArray *requesters, GError **errp);
bool dcd_broker_pool_destroy(DcdBroker *b, const DcdTag *tag, GError **errp);
/* Host ids holding any live extent of p, sorted. */
GArray *dcd_broker_pool_holders(DcdBroker *b, const DcdPool *p);

/* Capacity. ranges are region-relative offsets (DcdDpaRange). */
typedef struct DcdAddArgs {
    uint16_t host_id;
    DcdTag tag;
    uint8_t region;
    DcdPolicy policy;
    const DcdDpaRange *ranges;
    unsigned nranges;
    bool by_host;            /* the host asked (ADD_REQ), not the FM */
} DcdAddArgs;
/* Offers the extents to the host; returns the pending group. */
DcdGroup *dcd_broker_extent_add(DcdBroker *b, const DcdAddArgs *a,
                                GError **errp);

typedef struct DcdReleaseArgs {
    uint16_t host_id;
    DcdTag tag;
    DcdRemoval removal;
    uint8_t region;
    const DcdDpaRange *ranges;
    unsigned nranges;
    bool forced;
} DcdReleaseArgs;
/* Returns the extents now releasing (or released if forced). */
GPtrArray *dcd_broker_extent_release(DcdBroker *b, const DcdReleaseArgs *a,
                                     GError **errp);

/* Host connection events, from the host server. */
typedef struct DcdHelloArgs {
    uint16_t host_id;
    const char *name;
    const struct dcd_region *regions;
    unsigned nregions;
    bool reconnect;
    uint16_t version;        /* negotiated; 2 acknowledges withdrawals */
    uint16_t max_group;      /* most extents in one group; 0: no limit */
    pid_t pid;
    uid_t uid;
} DcdHelloArgs;
DcdHost *dcd_broker_host_attach(DcdBroker *b, const DcdHelloArgs *a,
                                const DcdHostLinkOps *ops, gpointer link,
                                GError **errp);
/*
 * The connection is gone: its offers are revoking (the host's device may
 * still have them) and its accepted extents stay, until it reconnects.
 */
void dcd_broker_host_detach(DcdBroker *b, DcdHost *h);
/* The reply to a WITHDRAW: the host maps nothing of the group. */
void dcd_broker_host_withdrawn(DcdBroker *b, DcdHost *h, uint64_t group);
/*
 * The operator declares a disconnected host gone for good (its process
 * is dead): every extent it may still map ends now.  Returns copies of
 * the ended extents.
 */
GPtrArray *dcd_broker_host_forget(DcdBroker *b, uint16_t host_id,
                                  GError **errp);
bool dcd_broker_host_accept(DcdBroker *b, DcdHost *h, uint64_t group,
                            const struct dcd_range *ranges, unsigned n,
                            GError **errp);
bool dcd_broker_host_released(DcdBroker *b, DcdHost *h,
                              const struct dcd_range *ranges, unsigned n,
                              GError **errp);
/* A reconnecting host hands back a pool fd (taken on success). */
bool dcd_broker_host_pool(DcdBroker *b, DcdHost *h, const DcdTag *tag,
                          uint64_t size, DcdBacking backing, int fd,
                          GError **errp);
/* A reconnecting host lists what it holds; last == no MORE flag. */
void dcd_broker_host_hold(DcdBroker *b, DcdHost *h,
                          const struct dcd_extent *e, unsigned n, bool last);

/* Wait for a group to be answered. */
void dcd_broker_group_wait(DcdGroup *g, DcdGroupDoneFn fn, gpointer opaque);
/* Stop waiting (e.g. a timeout); no-op if the group is closed. */
void dcd_broker_group_unwait(DcdBroker *b, uint16_t host_id, uint64_t group,
                             gpointer opaque);

/*
 * What happens, as it happens (dcdctl monitor, waiting clients).  Each
 * event names the object it is about, valid during the call only; an
 * extent event carries the extent's new state.
 */
typedef enum DcdBrokerEventKind {
    DCD_EVENT_HOST_CONNECTED,
    DCD_EVENT_HOST_DISCONNECTED,
    DCD_EVENT_POOL_CREATED,
    DCD_EVENT_POOL_DESTROYED,
    DCD_EVENT_POOL_MEMORY,   /* a pool got memory back (hand-back, renewal) */
    DCD_EVENT_EXTENT,
} DcdBrokerEventKind;

typedef struct DcdBrokerEvent {
    DcdBrokerEventKind kind;
    const DcdHost *host;     /* host and extent events */
    const DcdPool *pool;     /* pool events */
    const DcdExtent *extent; /* extent events */
} DcdBrokerEvent;

typedef void (*DcdBrokerWatchFn)(DcdBroker *b, const DcdBrokerEvent *ev,
                                 gpointer opaque);
typedef struct DcdBrokerWatcher {
    DcdBrokerWatchFn fn;
    gpointer opaque;
} DcdBrokerWatcher;

void dcd_broker_watch(DcdBroker *b, DcdBrokerWatchFn fn, gpointer opaque);
/* Safe from inside a watcher's own call. */
void dcd_broker_unwatch(DcdBroker *b, gpointer opaque);

/* Lookups for the transports, which never touch the registry itself. */
DcdPool *dcd_broker_pool(DcdBroker *b, const DcdTag *tag);
DcdHost *dcd_broker_host(DcdBroker *b, uint16_t id);
/* Every pool (by tag) and every host (by id); free with unref. */
GPtrArray *dcd_broker_pools(DcdBroker *b);
GPtrArray *dcd_broker_hosts(DcdBroker *b);

/* Counts for status. */
typedef struct DcdBrokerStats {
    unsigned pools, hosts, hosts_connected, extents;
} DcdBrokerStats;
void dcd_broker_stats(DcdBroker *b, DcdBrokerStats *s);
/* Whether changes can be saved now (false: they fail with unavail). */
bool dcd_broker_store_available(DcdBroker *b);

/*
 * What the metrics endpoint (server/metrics.c) exports, read in one go.
 * Latencies: an add from the request to the host's ACCEPT (its extents
 * accepted or rejected), a release from the request to the RELEASED of
 * its last extent; offers that end otherwise (withdrawn, the host gone)
 * and releases that end by host forget are not observed.
 */
typedef struct DcdBrokerMetrics {
    DcdBrokerStats stats;
    uint64_t pool_bytes;        /* the pools' sizes, summed */
    unsigned extents[DCD_EXTENT_STATE__MAX];  /* live ones, by state */
    DcdLatency add_latency, release_latency;
    const char *store;          /* the backend's name; NULL: no state */
    uint64_t store_requests;    /* journal writes, or etcd round trips */
    uint64_t store_errors;      /* those that failed */
    bool store_available;
    /* The shared device's bytes (--shared-device); false: none. */
    bool device;
    uint64_t device_free, device_used;
} DcdBrokerMetrics;
void dcd_broker_metrics(DcdBroker *b, DcdBrokerMetrics *m);

/*
 * Messages between the brokers of a cluster (store.h): fn gets each one
 * sent to this broker, which it drops once read.  Without fn, mail that
 * comes is dropped unread.
 */
typedef void (*DcdBrokerMailFn)(DcdBroker *b, const char *from,
                                const char *name, const char *json,
                                gpointer opaque);
void dcd_broker_set_mail(DcdBroker *b, DcdBrokerMailFn fn, gpointer opaque);
bool dcd_broker_send_mail(DcdBroker *b, const char *to, const char *name,
                          const char *json, GError **errp);
void dcd_broker_drop_mail(DcdBroker *b, const char *from, const char *name);
/* The node that has host id, if it is another node's; else NULL. */
const char *dcd_broker_host_node(DcdBroker *b, uint16_t id);

#endif
