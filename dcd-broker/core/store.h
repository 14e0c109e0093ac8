/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h - where the broker's state is saved: the one interface the
 * broker core uses, whatever keeps it (a journal in a local dir, or etcd
 * for brokers on several servers).
 *
 * Owns: the store's contract.  A store holds records, each a key
 * ("meta", "pool:<tag>", "devpool:<tag>", "device", "host:<id>",
 * "extent:<id>:<dpa>") and the JSON
 * text of an object (record.h makes and reads them).  Changes are queued
 * (put, del) and made by one commit, all or nothing: a commit that fails
 * changes nothing and says why (DCD_ERR_NOSPC, DCD_ERR_IO, DCD_ERR_UNAVAIL
 * when the store cannot be reached or this broker may not write to it,
 * DCD_ERR_STATE when a key changed since this broker read it), and the
 * caller must not act on the change.  A store remembers, per key, the
 * revision it last read or wrote; a commit only applies if every key it
 * touches is still at that revision, so a broker never overwrites a
 * change it has not seen.  The backends: journal.h, etcdstore.h.
 */
#ifndef DCD_STORE_H
#define DCD_STORE_H

#include <stdint.h>
#include <glib.h>

typedef struct DcdStore DcdStore;

/*
 * What a backend has asked of what keeps the state (metrics): journal
 * writes (a commit's append, a rewrite's snapshot), or round trips to
 * etcd, and how many of them failed.
 */
typedef struct DcdStoreCounts {
    uint64_t requests, errors;
} DcdStoreCounts;

/*
 * What another broker sharing the store changed (json NULL: deleted):
 *   node NULL:  a shared record ("devpool:<tag>", "device"), which this
 *               broker may change too;
 *   node, key:  a record of that node's own (its hosts, extents, local
 *               pools, meta), which only that node changes;
 *   node, no key: that node's liveness record (NULL: it is gone);
 *   node, "mail:<name>": a message that node sent this one (below).
 */
typedef void (*DcdStoreWatchFn)(DcdStore *s, const char *node,
                                const char *key, const char *json,
                                gpointer opaque);

/* What a backend does; the functions below call these. */
typedef struct DcdStoreOps {
    const char *name;
    GHashTable *(*load)(DcdStore *s, unsigned *dropped, GError **errp);
    void (*put)(DcdStore *s, const char *key, const char *json);
    void (*del)(DcdStore *s, const char *key);
    bool (*commit)(DcdStore *s, GError **errp);
    void (*discard)(DcdStore *s);
    bool (*wants_rewrite)(const DcdStore *s, unsigned live_records);
    void (*rewrite_begin)(DcdStore *s);
    bool (*rewrite_commit)(DcdStore *s, GError **errp);
    void (*sync)(DcdStore *s);
    bool (*available)(const DcdStore *s);
    void (*watch)(DcdStore *s);    /* start reporting; NULL: alone */
    bool (*refresh)(DcdStore *s, GError **errp);  /* NULL: alone */
    bool (*send)(DcdStore *s, const char *to, const char *name,
                 const char *json, GError **errp);  /* NULL: alone */
    void (*drop)(DcdStore *s, const char *from, const char *name);
    void (*counts)(const DcdStore *s, DcdStoreCounts *c);
    void (*close)(DcdStore *s);
} DcdStoreOps;

/* A backend's own struct starts with this. */
struct DcdStore {
    const DcdStoreOps *ops;
    char *where;             /* for status and messages */
    DcdStoreWatchFn watch;
    gpointer watch_opaque;
};

/* How a broker proves itself to etcd and checks etcd (docs/cluster.md). */
typedef struct DcdEtcdSecurity {
    const char *cacert;      /* CAs for etcds:// servers; NULL: the system's */
    const char *cert;        /* client certificate (etcds://), with key */
    const char *key;
    const char *user;        /* etcd user, or NULL: no authentication */
    const char *password_file;  /* the user's password, mode 0600 or less */
} DcdEtcdSecurity;

typedef struct DcdStoreConfig {
    const char *state_dir;      /* the journal in this dir */
    /* or etcd: "etcd://HOST:PORT[,HOST:PORT]", "etcds://" with TLS */
    const char *cluster_store;
    const char *node;           /* this broker's node name (etcd) */
    unsigned lease_ttl_s;       /* 0: the default */
    unsigned timeout_ms;        /* bound on one request to etcd; 0: default */
    const DcdEtcdSecurity *security;  /* etcd's TLS and user; NULL: none */
} DcdStoreConfig;

/* Open the backend cfg names; NULL with errp set if it cannot be. */
DcdStore *dcd_store_open(const DcdStoreConfig *cfg, GError **errp);
void dcd_store_close(DcdStore *s);

/*
 * Every record saved, key -> JSON text (parse with
 * dcd_store_parse_record()).  *dropped counts records that could not be
 * read (a torn or corrupt line, a malformed value).  Called once, before
 * anything is saved.
 */
GHashTable *dcd_store_load(DcdStore *s, unsigned *dropped, GError **errp);

/* Queue a change; keys are plain ASCII (record.h makes them). */
void dcd_store_put(DcdStore *s, const char *key, const char *json);
void dcd_store_del(DcdStore *s, const char *key);
/* Make the queued changes, all or none (see above); the queue empties. */
bool dcd_store_commit(DcdStore *s, GError **errp);
void dcd_store_discard(DcdStore *s);

/*
 * Rewrite the whole state: between begin and commit, put every record
 * that should exist; commit makes the store hold exactly those (the
 * journal writes a snapshot; etcd puts and deletes the difference).
 * The broker rewrites when wants_rewrite says so, and to catch up after
 * changes it could not refuse were not saved.
 */
bool dcd_store_wants_rewrite(const DcdStore *s, unsigned live_records);
void dcd_store_rewrite_begin(DcdStore *s);
bool dcd_store_rewrite_commit(DcdStore *s, GError **errp);

/* Have committed changes made durable in the background (journal). */
void dcd_store_sync(DcdStore *s);

/* False while commits would fail with DCD_ERR_UNAVAIL (status). */
bool dcd_store_available(const DcdStore *s);
const char *dcd_store_where(const DcdStore *s);
/* "journal" or "etcd". */
const char *dcd_store_backend(const DcdStore *s);
void dcd_store_counts(const DcdStore *s, DcdStoreCounts *c);

/*
 * From now on, what other brokers sharing the store hold and change is
 * reported to fn: first all of it as of load, then each change, in the
 * order the store made them.  A store of one broker reports nothing.
 */
void dcd_store_set_watch(DcdStore *s, DcdStoreWatchFn fn, gpointer opaque);
/*
 * Read the shared records again now, reporting what changed as the watch
 * would (after a commit failed because one moved); blocks like a commit.
 * True at once for a store of one broker.
 */
bool dcd_store_refresh(DcdStore *s, GError **errp);

/*
 * Messages between brokers sharing the store: a message to node "to"
 * reaches its watch fn as (our node, "mail:<name>", json); it lasts until
 * the receiver drops it or the sender's lease ends.  Sending blocks like
 * a commit, and fails (DCD_ERR_NOTSUP) for a store of one broker.
 */
bool dcd_store_send(DcdStore *s, const char *to, const char *name,
                    const char *json, GError **errp);
void dcd_store_drop(DcdStore *s, const char *from, const char *name);

#endif
