/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h - where the broker's state is saved: the one interface the
 * broker core uses, whatever keeps it (a journal in a local dir, or etcd
 * for brokers on several servers).
 *
 * Owns: the store's contract.  A store holds records, each a key
 * ("meta", "pool:<tag>", "host:<id>", "extent:<id>:<dpa>") and the JSON
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

#include <glib.h>

typedef struct DcdStore DcdStore;

/* A record another broker changed (json NULL: deleted). */
typedef void (*DcdStoreWatchFn)(DcdStore *s, const char *key,
                                const char *json, gpointer opaque);

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

/*
 * Changes made by other brokers sharing the store are reported to fn.
 * Declared for brokers sharing one etcd; no backend calls it yet.
 */
void dcd_store_set_watch(DcdStore *s, DcdStoreWatchFn fn, gpointer opaque);

#endif
