/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd.c - etcd's JSON API through libsoup.  Every call is a POST whose
 * answer is read in chunks up to a cap, under a timer that cancels it: a
 * blocking call runs the same steps on a private main context, so its
 * bound is exact and no other source of the broker runs inside it.
 */
#include <string.h>
#include <libsoup/soup.h>

#include "dcd/json.h"
#include "dcd/types.h"
#include "core/etcd.h"

#define READ_CHUNK 65536

struct DcdEtcd {
    GPtrArray *endpoints;    /* "http://HOST:PORT" */
    guint current;           /* the endpoint that answered last */
    unsigned timeout_ms;
    GMainContext *sync_ctx;  /* blocking calls run here */
    SoupSession *sync_session;
    SoupSession *async_session;  /* bound to the main context */
    GCancellable *async_cancel;  /* every call on the main loop */
    uint64_t calls, errors;      /* answered or failed (metrics) */
};

typedef struct Call {
    DcdEtcd *c;
    SoupSession *session;
    GMainContext *ctx;
    char *path;
    GBytes *body;
    SoupMessage *msg;
    GInputStream *in;
    GByteArray *reply;
    GCancellable *cancel;    /* this call: the timer's */
    GCancellable *outer;     /* dcd_etcd_cancel_async()'s, or NULL */
    gulong outer_id;
    GSource *timer;
    guint tries;             /* endpoints tried */
    bool timed_out;
    bool refused;            /* etcd said no: nothing was applied */
    bool done;
    JsonObject *result;
    GError *err;
    DcdEtcdReplyFn fn;
    DcdEtcdWatchFn watch;    /* a stream: each message to watch() */
    gpointer opaque;
} Call;

static void call_start(Call *k);

static void on_outer_cancel(GCancellable *outer, gpointer opaque)
{
    g_cancellable_cancel(((Call *)opaque)->cancel);
}

static gboolean on_timeout(gpointer opaque)
{
    Call *k = opaque;

    k->timed_out = true;
    g_cancellable_cancel(k->cancel);
    return G_SOURCE_REMOVE;
}

static void call_free(Call *k)
{
    if (k->timer) {
        g_source_destroy(k->timer);
        g_source_unref(k->timer);
    }
    if (k->outer_id) {
        g_cancellable_disconnect(k->outer, k->outer_id);
    }
    g_clear_object(&k->outer);
    g_clear_object(&k->cancel);
    g_clear_object(&k->msg);
    g_clear_object(&k->in);
    g_clear_object(&k->session);
    if (k->reply) {
        g_byte_array_unref(k->reply);
    }
    g_bytes_unref(k->body);
    g_free(k->path);
    if (k->result) {
        json_object_unref(k->result);
    }
    g_clear_error(&k->err);
    g_free(k);
}

/* Map an error answer (gRPC status in "code") to ours. */
static void set_refusal(Call *k, guint status, JsonObject *o)
{
    const char *msg = NULL;
    uint64_t code = 0;

    if (o) {
        if (!dcd_jsonin_str(o, "message", false, &msg, NULL) || !msg) {
            dcd_jsonin_str(o, "error", false, &msg, NULL);
        }
        dcd_jsonin_u64(o, "code", false, 64, &code, NULL);
    }
    /*
     * 8 is RESOURCE_EXHAUSTED: "database space exceeded".  4 and 14
     * (DEADLINE_EXCEEDED, UNAVAILABLE: "request timed out", "leader
     * changed") may still be applied; any other refusal was not.
     */
    k->refused = code != 4 && code != 14;
    g_set_error(&k->err, DCD_ERROR, code == 8 ? DCD_ERR_NOSPC :
                code == 14 || code == 4 ? DCD_ERR_UNAVAIL : DCD_ERR_IO,
                "etcd refused %s: %s (HTTP %u)", k->path,
                msg ? msg : "no reason given", status);
}

static void call_finish(Call *k)
{
    guint status = soup_message_get_status(k->msg);
    g_autoptr(GError) err = NULL;
    JsonObject *o = NULL;

    if (k->reply->len) {
        o = dcd_jsonin_object((const char *)k->reply->data, k->reply->len,
                              &err);
    }
    if (status != SOUP_STATUS_OK) {
        set_refusal(k, status, o);
        g_clear_pointer(&o, json_object_unref);
    } else if (!o) {
        g_set_error(&k->err, DCD_ERROR, DCD_ERR_IO, "etcd's answer to %s is"
                    " not a JSON object: %s", k->path,
                    err ? err->message : "empty");
    } else if (json_object_has_member(o, "error")) {
        set_refusal(k, status, o);
        g_clear_pointer(&o, json_object_unref);
    }
    k->result = o;
}

/* A watch ends: its fn hears why, once. */
static void watch_end(Call *k, GError *why)
{
    g_autoptr(GError) err = why;

    if (!err) {
        err = g_error_new(DCD_ERROR, DCD_ERR_UNAVAIL, "etcd ended the watch");
    }
    k->c->errors++;
    k->watch(NULL, err, k->opaque);
    call_free(k);
}

static void call_done(Call *k)
{
    k->done = true;
    if (k->watch) {
        /* It never started: the same end as a watch cut off later. */
        watch_end(k, k->err ? g_steal_pointer(&k->err) : NULL);
        return;
    }
    k->c->calls++;
    k->c->errors += k->err != NULL;
    if (k->fn) {
        k->fn(k->result, k->err, k->opaque);
        call_free(k);
    }
}

static void set_unreachable(Call *k, const GError *why)
{
    g_clear_error(&k->err);
    /* The next call tries the next endpoint (a member that went silent). */
    if (k->timed_out && k->c->endpoints->len > 1) {
        k->c->current = (k->c->current + 1) % k->c->endpoints->len;
    }
    if (k->timed_out) {
        g_set_error(&k->err, DCD_ERROR, DCD_ERR_UNAVAIL, "etcd did not"
                    " answer %s within %u ms", k->path, k->c->timeout_ms);
    } else {
        g_set_error(&k->err, DCD_ERROR, DCD_ERR_UNAVAIL, "etcd at %s: %s",
                    (char *)k->c->endpoints->pdata[k->c->current], why ?
                    why->message : "no answer");
    }
}

/* dcd_etcd_cancel_async(): c may be gone; end without a word. */
static bool abandoned(Call *k)
{
    if (k->outer && g_cancellable_is_cancelled(k->outer)) {
        call_free(k);
        return true;
    }
    return false;
}

/*
 * Each message of a watch stream is one JSON object and a newline; hand
 * over every complete one.  False: the stream is bad and has ended.
 */
static bool watch_messages(Call *k)
{
    guint8 *nl;

    while ((nl = memchr(k->reply->data, '\n', k->reply->len))) {
        gsize len = nl - k->reply->data;
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonObject) o = len ? dcd_jsonin_object(
            (const char *)k->reply->data, len, &err) : NULL;
        JsonObject *result = dcd_etcd_object(o, "result");

        if (len && !result) {
            watch_end(k, g_error_new(DCD_ERROR, DCD_ERR_IO, "etcd's watch"
                                     " sent %s", err ? err->message :
                                     "no result"));
            return false;
        }
        g_byte_array_remove_range(k->reply, 0, len + 1);
        if (result) {
            k->c->calls++;
            k->watch(result, NULL, k->opaque);
        }
    }
    return true;
}

static void on_read(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Call *k = opaque;
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish(
        G_INPUT_STREAM(src), res, &err);

    if (abandoned(k)) {
        return;
    }
    if (k->watch && k->timer == NULL) {
        if (!chunk || g_bytes_get_size(chunk) == 0 ||
            k->reply->len + g_bytes_get_size(chunk) > DCD_ETCD_MAX_REPLY) {
            watch_end(k, chunk && g_bytes_get_size(chunk) ?
                      g_error_new(DCD_ERROR, DCD_ERR_IO, "a message of"
                                  " etcd's watch is over %u bytes",
                                  DCD_ETCD_MAX_REPLY) :
                      g_steal_pointer(&err));
            return;
        }
        g_byte_array_append(k->reply, g_bytes_get_data(chunk, NULL),
                            g_bytes_get_size(chunk));
        if (watch_messages(k)) {
            g_input_stream_read_bytes_async(k->in, READ_CHUNK,
                                            G_PRIORITY_DEFAULT, k->outer,
                                            on_read, k);
        }
        return;
    }
    if (!chunk) {
        set_unreachable(k, err);
        call_done(k);
        return;
    }
    if (g_bytes_get_size(chunk) == 0) {
        call_finish(k);
        call_done(k);
        return;
    }
    if (k->reply->len + g_bytes_get_size(chunk) > DCD_ETCD_MAX_REPLY) {
        g_set_error(&k->err, DCD_ERROR, DCD_ERR_IO, "etcd's answer to %s is"
                    " over %u bytes", k->path, DCD_ETCD_MAX_REPLY);
        call_done(k);
        return;
    }
    g_byte_array_append(k->reply, g_bytes_get_data(chunk, NULL),
                        g_bytes_get_size(chunk));
    g_input_stream_read_bytes_async(k->in, READ_CHUNK, G_PRIORITY_DEFAULT,
                                    k->cancel, on_read, k);
}

static void on_sent(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Call *k = opaque;
    g_autoptr(GError) err = NULL;

    k->in = soup_session_send_finish(SOUP_SESSION(src), res, &err);
    if (abandoned(k)) {
        return;
    }
    if (!k->in) {
        /* Another endpoint, while there is time and one left to try. */
        if (!k->timed_out && !g_cancellable_is_cancelled(k->cancel) &&
            ++k->tries < k->c->endpoints->len) {
            k->c->current = (k->c->current + 1) % k->c->endpoints->len;
            g_clear_object(&k->msg);
            call_start(k);
            return;
        }
        set_unreachable(k, err);
        call_done(k);
        return;
    }
    /*
     * A watch that etcd took runs as long as etcd keeps it: the timer
     * bounded only the wait for its start.  Its reads end with the
     * broker's (dcd_etcd_cancel_async()).
     */
    if (k->watch && soup_message_get_status(k->msg) == SOUP_STATUS_OK) {
        g_source_destroy(k->timer);
        g_clear_pointer(&k->timer, g_source_unref);
        g_input_stream_read_bytes_async(k->in, READ_CHUNK, G_PRIORITY_DEFAULT,
                                        k->outer, on_read, k);
        return;
    }
    g_input_stream_read_bytes_async(k->in, READ_CHUNK, G_PRIORITY_DEFAULT,
                                    k->cancel, on_read, k);
}

static void call_start(Call *k)
{
    g_autofree char *uri = g_strconcat(k->c->endpoints->pdata[k->c->current],
                                       k->path, NULL);

    k->msg = soup_message_new(SOUP_METHOD_POST, uri);
    /* etcd answers; it does not send us elsewhere. */
    soup_message_add_flags(k->msg, SOUP_MESSAGE_NO_REDIRECT);
    soup_message_set_request_body_from_bytes(k->msg, "application/json",
                                             k->body);
    soup_session_send_async(k->session, k->msg, G_PRIORITY_DEFAULT,
                            k->cancel, on_sent, k);
}

static Call *call_new(DcdEtcd *c, SoupSession *session, GMainContext *ctx,
                      const char *path, const char *body)
{
    Call *k = g_new0(Call, 1);

    k->c = c;
    k->session = g_object_ref(session);
    k->ctx = ctx;
    k->path = g_strdup(path);
    k->body = g_bytes_new(body, strlen(body));
    k->reply = g_byte_array_new();
    k->cancel = g_cancellable_new();
    k->timer = g_timeout_source_new(c->timeout_ms);
    g_source_set_callback(k->timer, on_timeout, k, NULL);
    g_source_attach(k->timer, ctx);
    return k;
}

JsonObject *dcd_etcd_call(DcdEtcd *c, const char *path, const char *body,
                          bool *refused, GError **errp)
{
    Call *k = call_new(c, c->sync_session, c->sync_ctx, path, body);
    JsonObject *o;

    g_main_context_push_thread_default(c->sync_ctx);
    call_start(k);
    while (!k->done) {
        g_main_context_iteration(c->sync_ctx, TRUE);
    }
    o = g_steal_pointer(&k->result);
    if (refused) {
        *refused = !o && k->refused;
    }
    if (!o) {
        g_propagate_error(errp, g_steal_pointer(&k->err));
    }
    /* Closing the stream completes the message, in its own context. */
    call_free(k);
    while (g_main_context_iteration(c->sync_ctx, FALSE)) {
    }
    g_main_context_pop_thread_default(c->sync_ctx);
    return o;
}

void dcd_etcd_call_async(DcdEtcd *c, const char *path, const char *body,
                         DcdEtcdReplyFn fn, gpointer opaque)
{
    Call *k = call_new(c, c->async_session, g_main_context_default(), path,
                       body);

    k->fn = fn;
    k->opaque = opaque;
    k->outer = g_object_ref(c->async_cancel);
    k->outer_id = g_cancellable_connect(k->outer, G_CALLBACK(on_outer_cancel),
                                        k, NULL);
    call_start(k);
}

void dcd_etcd_watch(DcdEtcd *c, const char *body, DcdEtcdWatchFn fn,
                    gpointer opaque)
{
    Call *k = call_new(c, c->async_session, g_main_context_default(),
                       "/v3/watch", body);

    k->watch = fn;
    k->opaque = opaque;
    k->outer = g_object_ref(c->async_cancel);
    k->outer_id = g_cancellable_connect(k->outer, G_CALLBACK(on_outer_cancel),
                                        k, NULL);
    call_start(k);
}

void dcd_etcd_cancel_async(DcdEtcd *c)
{
    /* The calls unwind later on the main loop, touching nothing of c. */
    g_cancellable_cancel(c->async_cancel);
    g_object_unref(c->async_cancel);
    c->async_cancel = g_cancellable_new();
}

static bool parse_endpoints(DcdEtcd *c, const char *url, GError **errp)
{
    g_auto(GStrv) parts = NULL;

    if (!g_str_has_prefix(url, "etcd://")) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "cluster store '%s':"
                    " expected etcd://HOST:PORT[,HOST:PORT...]", url);
        return false;
    }
    parts = g_strsplit(url + strlen("etcd://"), ",", -1);
    for (char **p = parts; *p; p++) {
        g_autofree char *http = g_strconcat("http://", *p, NULL);
        g_autoptr(GUri) u = g_uri_parse(http, G_URI_FLAGS_NONE, NULL);

        if (!u || !g_uri_get_host(u) || !*g_uri_get_host(u) ||
            g_uri_get_port(u) <= 0 || strchr(*p, '/')) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "cluster store"
                        " endpoint '%s': expected HOST:PORT", *p);
            return false;
        }
        g_ptr_array_add(c->endpoints, g_steal_pointer(&http));
    }
    if (!c->endpoints->len) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "cluster store '%s': no"
                    " endpoint", url);
        return false;
    }
    return true;
}

DcdEtcd *dcd_etcd_new(const char *url, unsigned timeout_ms, GError **errp)
{
    DcdEtcd *c = g_new0(DcdEtcd, 1);

    c->endpoints = g_ptr_array_new_with_free_func(g_free);
    c->timeout_ms = timeout_ms;
    if (!parse_endpoints(c, url, errp)) {
        g_ptr_array_unref(c->endpoints);
        g_free(c);
        return NULL;
    }
    /* Our timer bounds each call; soup's own (in seconds) stays off. */
    c->async_session = soup_session_new_with_options("timeout", 0,
                                                     "idle-timeout", 0, NULL);
    c->sync_ctx = g_main_context_new();
    g_main_context_push_thread_default(c->sync_ctx);
    c->sync_session = soup_session_new_with_options("timeout", 0,
                                                    "idle-timeout", 0, NULL);
    g_main_context_pop_thread_default(c->sync_ctx);
    /* The endpoints are the ones given: no http_proxy in between. */
    soup_session_set_proxy_resolver(c->async_session, NULL);
    soup_session_set_proxy_resolver(c->sync_session, NULL);
    c->async_cancel = g_cancellable_new();
    return c;
}

void dcd_etcd_free(DcdEtcd *c)
{
    if (!c) {
        return;
    }
    dcd_etcd_cancel_async(c);
    g_object_unref(c->async_cancel);
    g_object_unref(c->async_session);
    g_main_context_push_thread_default(c->sync_ctx);
    g_object_unref(c->sync_session);
    while (g_main_context_iteration(c->sync_ctx, FALSE)) {
    }
    g_main_context_pop_thread_default(c->sync_ctx);
    g_main_context_unref(c->sync_ctx);
    g_ptr_array_unref(c->endpoints);
    g_free(c);
}

unsigned dcd_etcd_timeout_ms(const DcdEtcd *c)
{
    return c->timeout_ms;
}

void dcd_etcd_counts(const DcdEtcd *c, uint64_t *calls, uint64_t *errors)
{
    *calls = c->calls;
    *errors = c->errors;
}

/* ---- reading answers -------------------------------------------------- */

JsonArray *dcd_etcd_array(JsonObject *o, const char *k)
{
    JsonNode *n = o ? json_object_get_member(o, k) : NULL;

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

JsonObject *dcd_etcd_object(JsonObject *o, const char *k)
{
    JsonNode *n = o ? json_object_get_member(o, k) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

bool dcd_etcd_int(JsonObject *o, const char *k, int64_t *out, GError **errp)
{
    JsonNode *n;
    const char *s;
    gint64 v;

    *out = 0;
    if (!o) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: no object holding"
                    " %s", k);
        return false;
    }
    n = json_object_get_member(o, k);
    if (!n) {
        return true;  /* proto3 leaves zeros out */
    }
    if (JSON_NODE_HOLDS_VALUE(n) &&
        json_node_get_value_type(n) == G_TYPE_STRING) {
        s = json_node_get_string(n);
        if (g_ascii_string_to_signed(s, 10, 0, G_MAXINT64, &v, NULL)) {
            *out = v;
            return true;
        }
    } else if (JSON_NODE_HOLDS_VALUE(n) &&
               json_node_get_value_type(n) == G_TYPE_INT64 &&
               json_node_get_int(n) >= 0) {
        *out = json_node_get_int(n);
        return true;
    }
    g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: member %s is not a"
                " number", k);
    return false;
}

bool dcd_etcd_revision(JsonObject *reply, int64_t *out, GError **errp)
{
    JsonObject *h = dcd_etcd_object(reply, "header");

    if (!h) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd's answer has no"
                    " header");
        return false;
    }
    return dcd_etcd_int(h, "revision", out, errp) && *out > 0;
}

/* Strict base64 (g_base64_decode() skips what it does not know). */
static char *unb64(const char *s, size_t max, GError **errp)
{
    size_t n = strlen(s);
    g_autofree guchar *raw = NULL;
    gsize len = 0;

    if (n % 4 || n / 4 * 3 > max + 2 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789+/=") != n ||
        (strchr(s, '=') && strspn(strchr(s, '='), "=") !=
         strlen(strchr(s, '=')))) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: bad or oversized"
                    " base64");
        return NULL;
    }
    raw = g_base64_decode(s, &len);
    if (len > max || memchr(raw, 0, len)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: a key or value is"
                    " oversized or holds a NUL");
        return NULL;
    }
    return g_strndup((const char *)raw, len);
}

void dcd_etcd_kv_clear(DcdEtcdKv *kv)
{
    g_clear_pointer(&kv->key, g_free);
    g_clear_pointer(&kv->value, g_free);
}

bool dcd_etcd_kv_read(JsonObject *o, DcdEtcdKv *out, GError **errp)
{
    const char *key = NULL, *value = "";

    memset(out, 0, sizeof(*out));
    if (!o || !dcd_jsonin_str(o, "key", true, &key, errp) ||
        !dcd_jsonin_str(o, "value", false, &value, errp) ||
        !dcd_etcd_int(o, "create_revision", &out->create_rev, errp) ||
        !dcd_etcd_int(o, "mod_revision", &out->mod_rev, errp) ||
        !dcd_etcd_int(o, "lease", &out->lease, errp) ||
        !(out->key = unb64(key, DCD_ETCD_MAX_KEY, errp)) ||
        !(out->value = unb64(value, DCD_ETCD_MAX_VALUE, errp))) {
        dcd_etcd_kv_clear(out);
        return false;
    }
    if (out->mod_rev <= 0 || out->create_rev <= 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: key %s has no"
                    " revision", out->key);
        dcd_etcd_kv_clear(out);
        return false;
    }
    return true;
}

bool dcd_etcd_event_read(JsonObject *ev, bool *deleted, DcdEtcdKv *out,
                         GError **errp)
{
    JsonObject *kv = dcd_etcd_object(ev, "kv");
    const char *type = "PUT", *key = NULL;

    memset(out, 0, sizeof(*out));
    if (!ev || !dcd_jsonin_str(ev, "type", false, &type, errp)) {
        return false;
    }
    /* The type PUT is etcd's default, left out of its JSON. */
    *deleted = g_strcmp0(type, "DELETE") == 0;
    if (!*deleted) {
        if (g_strcmp0(type, "PUT") != 0) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: event of type"
                        " %s", type);
            return false;
        }
        return dcd_etcd_kv_read(kv, out, errp);
    }
    /* A deletion carries the key and the revision that deleted it. */
    if (!kv || !dcd_jsonin_str(kv, "key", true, &key, errp) ||
        !dcd_etcd_int(kv, "mod_revision", &out->mod_rev, errp) ||
        !(out->key = unb64(key, DCD_ETCD_MAX_KEY, errp))) {
        dcd_etcd_kv_clear(out);
        return false;
    }
    if (out->mod_rev <= 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: deletion of %s has"
                    " no revision", out->key);
        dcd_etcd_kv_clear(out);
        return false;
    }
    return true;
}

/* responses[i].response_range of a txn answer; NULL if not there. */
JsonObject *dcd_etcd_txn_range(JsonObject *reply, guint i)
{
    JsonArray *rs = dcd_etcd_array(reply, "responses");

    if (!rs || i >= json_array_get_length(rs)) {
        return NULL;
    }
    return dcd_etcd_object(dcd_jsonin_object_at(rs, i), "response_range");
}

/* The one key a range answer holds: true and *kv, or true and no key. */
bool dcd_etcd_range_one(JsonObject *range, DcdEtcdKv *kv, bool *found,
                        GError **errp)
{
    JsonArray *kvs = dcd_etcd_array(range, "kvs");

    *found = false;
    if (!range) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: a range answer is"
                    " missing");
        return false;
    }
    if (!kvs || json_array_get_length(kvs) == 0) {
        return true;
    }
    if (json_array_get_length(kvs) != 1) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "etcd: a one-key range"
                    " answered more");
        return false;
    }
    if (!dcd_etcd_kv_read(dcd_jsonin_object_at(kvs, 0), kv, errp)) {
        g_prefix_error(errp, "etcd: a one-key range: ");
        return false;
    }
    *found = true;
    return true;
}

bool dcd_etcd_succeeded(JsonObject *reply)
{
    bool ok = false;

    return dcd_jsonin_bool(reply, "succeeded", &ok, NULL) && ok;
}

/* ---- writing requests ------------------------------------------------- */

void dcd_etcd_b64(JsonBuilder *jb, const char *member, const char *text)
{
    g_autofree char *b = g_base64_encode((const guchar *)text, strlen(text));

    json_builder_set_member_name(jb, member);
    json_builder_add_string_value(jb, b);
}

void dcd_etcd_i64(JsonBuilder *jb, const char *member, int64_t v)
{
    g_autofree char *s = g_strdup_printf("%" G_GINT64_FORMAT, v);

    json_builder_set_member_name(jb, member);
    json_builder_add_string_value(jb, s);
}

char *dcd_etcd_prefix_end(const char *prefix)
{
    char *end = g_strdup(prefix);
    size_t n = strlen(end);

    g_return_val_if_fail(n && (guchar)end[n - 1] < 0xff, end);
    end[n - 1]++;
    return end;
}
