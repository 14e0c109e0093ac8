/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd.h - a client of etcd's v3 API over HTTP/JSON (the gRPC gateway),
 * with libsoup 3 and json-glib.
 *
 * Owns: the endpoints, two HTTP sessions (one for calls that block, one
 * for calls on the main loop), the bound on every request, TLS (the CAs
 * etcd's certificate must chain to, our client certificate), the etcd
 * user's password and token, and the checked reading of what etcd
 * answers.  etcd is read like any peer: an answer larger than
 * DCD_ETCD_MAX_REPLY, nested too deep, or of the wrong shape is an error,
 * and nothing is sized by a number etcd sends.  A certificate that does
 * not check out is never accepted.
 * Errors: DCD_ERR_UNAVAIL when no endpoint answered in time or none could
 * be reached (the request may or may not have been applied), DCD_ERR_NOSPC
 * when etcd is out of space, DCD_ERR_PERM when etcd refused our user or
 * its rights, DCD_ERR_IO for any other refusal or a malformed answer.
 */
#ifndef DCD_ETCD_H
#define DCD_ETCD_H

#include <stdint.h>
#include <json-glib/json-glib.h>

#include "core/store.h"

#define DCD_ETCD_MAX_REPLY (64u << 20)
#define DCD_ETCD_MAX_KEY 1024
#define DCD_ETCD_MAX_VALUE (1u << 20)

typedef struct DcdEtcd DcdEtcd;

/* A password file larger than this is refused. */
#define DCD_ETCD_MAX_PASSWORD 4096

/*
 * url: "etcd://HOST:PORT[,HOST:PORT...]" (HTTP), or "etcds://..." (HTTPS);
 * timeout_ms bounds each call, authentication included.  sec (NULL:
 * none): TLS files (etcds:// only) and the etcd user, whose password file
 * must be a regular file no one but its owner may read or write.  Files
 * are read here, so a bad one fails now, saying which and why.
 */
DcdEtcd *dcd_etcd_new(const char *url, unsigned timeout_ms,
                      const DcdEtcdSecurity *sec, GError **errp);
void dcd_etcd_free(DcdEtcd *c);
unsigned dcd_etcd_timeout_ms(const DcdEtcd *c);
/*
 * Calls made so far (each one round trip, whichever endpoints it tried),
 * and those that ended in an error; calls cancelled unanswered by
 * dcd_etcd_cancel_async() or dcd_etcd_free() count in neither.
 */
void dcd_etcd_counts(const DcdEtcd *c, uint64_t *calls, uint64_t *errors);

/*
 * POST body (JSON text) to path ("/v3/kv/txn") and return the answer's
 * object.  Blocks for at most the timeout; the caller's main context is
 * not run meanwhile, so nothing else of the broker happens under it.
 * *refused (if not NULL): etcd answered that it would not, so nothing of
 * the request was applied; false on success, and when it may have been.
 * With an etcd user, a token is got first, and a request etcd refuses for
 * its token (expired, or gone with a restart) is sent once more with a
 * new one: such a refusal comes before anything is applied.
 */
JsonObject *dcd_etcd_call(DcdEtcd *c, const char *path, const char *body,
                          bool *refused, GError **errp);

/* The same on the main loop: fn gets the answer, or NULL and the error. */
typedef void (*DcdEtcdReplyFn)(JsonObject *reply, const GError *err,
                               gpointer opaque);
void dcd_etcd_call_async(DcdEtcd *c, const char *path, const char *body,
                         DcdEtcdReplyFn fn, gpointer opaque);
/*
 * A watch (body: a WatchRequest's JSON) on the main loop: fn gets each
 * message's "result" object, in order, as etcd streams them; when the
 * stream ends (cut off, etcd gone, a malformed message) fn gets NULL and
 * the error, once.  Only the start is bounded by the timeout.
 */
typedef void (*DcdEtcdWatchFn)(JsonObject *result, const GError *err,
                               gpointer opaque);
void dcd_etcd_watch(DcdEtcd *c, const char *body, DcdEtcdWatchFn fn,
                    gpointer opaque);
/* Calls and watches in flight end with an error, their fn not called. */
void dcd_etcd_cancel_async(DcdEtcd *c);

/* A key/value pair of a range answer, checked. */
typedef struct DcdEtcdKv {
    char *key;               /* NUL-free, at most DCD_ETCD_MAX_KEY bytes */
    char *value;             /* NUL-free, at most DCD_ETCD_MAX_VALUE bytes */
    int64_t create_rev, mod_rev, lease;
} DcdEtcdKv;
void dcd_etcd_kv_clear(DcdEtcdKv *kv);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DcdEtcdKv, dcd_etcd_kv_clear)
bool dcd_etcd_kv_read(JsonObject *kv, DcdEtcdKv *out, GError **errp);
/*
 * One event of a watch message: a put (*out whole) or a deletion (*out
 * has only the key and the deleting revision in mod_rev).
 */
bool dcd_etcd_event_read(JsonObject *ev, bool *deleted, DcdEtcdKv *out,
                         GError **errp);

/* Members of an answer, NULL if absent or of another type (o may be NULL). */
JsonArray *dcd_etcd_array(JsonObject *o, const char *k);
JsonObject *dcd_etcd_object(JsonObject *o, const char *k);
/* A txn answer: whether its compares held ("succeeded", absent: false). */
bool dcd_etcd_succeeded(JsonObject *reply);
/* responses[i].response_range of a txn answer; NULL if not there. */
JsonObject *dcd_etcd_txn_range(JsonObject *reply, guint i);
/* A range of one key: true and *kv if found, true and !*found if none. */
bool dcd_etcd_range_one(JsonObject *range, DcdEtcdKv *kv, bool *found,
                        GError **errp);

/* A non-negative 64-bit member written as a string ("123"); absent is 0. */
bool dcd_etcd_int(JsonObject *o, const char *k, int64_t *out, GError **errp);
/* The answer's header.revision, which must be positive. */
bool dcd_etcd_revision(JsonObject *reply, int64_t *out, GError **errp);

/* JSON for requests: base64 of a string, 64-bit numbers as strings. */
void dcd_etcd_b64(JsonBuilder *jb, const char *member, const char *text);
void dcd_etcd_i64(JsonBuilder *jb, const char *member, int64_t v);
/* The key after every key that starts with prefix (a range's end). */
char *dcd_etcd_prefix_end(const char *prefix);

#endif
