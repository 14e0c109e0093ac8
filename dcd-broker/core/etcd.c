/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd.c - etcd's JSON API through libsoup.  Every call is a POST whose
 * answer is read in chunks up to a cap, under a timer that cancels it: a
 * blocking call runs the same steps on a private main context, so its
 * bound is exact and no other source of the broker runs inside it.  TLS
 * is GIO's (glib-networking); with an etcd user, a call may take one
 * round more to get a token, within the same bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libsoup/soup.h>

#include "dcd/json.h"
#include "dcd/types.h"
#include "core/etcd.h"

#define READ_CHUNK 65536
#define AUTH_PATH "/v3/auth/authenticate"
/* What etcd says of itself that goes into a message, at most. */
#define MAX_QUOTE 160

struct DcdEtcd {
    GPtrArray *endpoints;    /* "http://HOST:PORT" or "https://HOST:PORT" */
    guint current;           /* the endpoint that answered last */
    unsigned timeout_ms;
    GMainContext *sync_ctx;  /* blocking calls run here */
    SoupSession *sync_session;
    SoupSession *async_session;  /* bound to the main context */
    GCancellable *async_cancel;  /* every call on the main loop */
    GTlsCertificate *client_cert;  /* sent when etcd asks, or NULL */
    char *user;              /* etcd user, or NULL: no authentication */
    char *password;
    char *token;             /* the user's; NULL: authenticate first, */
                             /* "": etcd has authentication off */
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
    bool pending;            /* soup has a callback of ours to make */
    bool orphan;             /* done, freed by that callback */
    bool cert_asked;         /* etcd asked for a client certificate */
    bool handshake;          /* this round began a TLS connection */
    bool authenticating;     /* this round gets a token */
    bool reauthed;           /* a refused token was replaced once */
    char *token;             /* the token this round carried */
    GTlsCertificateFlags cert_errors;  /* why etcd's was not accepted */
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

static void set_unreachable(Call *k, const GError *why);
static void call_done(Call *k);
static void call_release(Call *k);
static bool abandoned(Call *k);

static gboolean on_timeout(gpointer opaque)
{
    Call *k = opaque;

    k->timed_out = true;
    g_cancellable_cancel(k->cancel);
    if (k->outer && g_cancellable_is_cancelled(k->outer)) {
        /* dcd_etcd_cancel_async(): no word to anyone. */
        k->done = true;
        call_release(k);
        return G_SOURCE_REMOVE;
    }
    /*
     * soup ends the round soon after, as a rule; but over HTTP/2 a
     * connection etcd closes just after the TLS handshake can leave it
     * waiting for good (libsoup 3.2; dcd-broker asks for HTTP/1.1), and
     * the bound holds whatever soup does.
     */
    set_unreachable(k, NULL);
    call_done(k);
    return G_SOURCE_REMOVE;
}

/* A password or token: wiped before the memory goes back. */
static void free_secret(gpointer p)
{
    if (p) {
        explicit_bzero(p, strlen(p));
        g_free(p);
    }
}

static const char *endpoint(const Call *k)
{
    return k->c->endpoints->pdata[k->c->current];
}

/* Never accept a certificate GIO found wrong; remember why, to say so. */
static gboolean on_bad_cert(SoupMessage *msg, GTlsCertificate *cert,
                            GTlsCertificateFlags errors, gpointer opaque)
{
    ((Call *)opaque)->cert_errors = errors;
    return FALSE;
}

/* etcd asks for our certificate: the one given, or go on without. */
static gboolean on_cert_asked(SoupMessage *msg, GTlsClientConnection *conn,
                              gpointer opaque)
{
    Call *k = opaque;

    k->cert_asked = true;
    soup_message_set_tls_client_certificate(msg, k->c->client_cert);
    return TRUE;
}

static void on_network_event(SoupMessage *msg, GSocketClientEvent event,
                             GIOStream *conn, gpointer opaque)
{
    if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING) {
        ((Call *)opaque)->handshake = true;
    }
}

/* The round's message and stream, before another round or the end. */
static void drop_round(Call *k)
{
    if (k->msg) {
        g_signal_handlers_disconnect_by_data(k->msg, k);
    }
    g_clear_object(&k->msg);
    g_clear_object(&k->in);
    g_byte_array_set_size(k->reply, 0);
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
    drop_round(k);
    g_clear_object(&k->session);
    g_byte_array_unref(k->reply);
    g_bytes_unref(k->body);
    g_free(k->path);
    free_secret(k->token);
    if (k->result) {
        json_object_unref(k->result);
    }
    g_clear_error(&k->err);
    g_free(k);
}

/* Done with k: freed now, or by soup's callback if one is to come. */
static void call_release(Call *k)
{
    if (k->pending) {
        k->orphan = true;
    } else {
        call_free(k);
    }
}

/* An answer that is no JSON (a proxy's, a gateway's), quoted safely. */
static char *quote_reply(const Call *k)
{
    GString *q = g_string_new(NULL);

    for (guint i = 0; i < k->reply->len && q->len < MAX_QUOTE; i++) {
        guchar ch = k->reply->data[i];

        if (ch == '\n' || ch == '\r') {
            break;
        }
        g_string_append_c(q, ch >= ' ' && ch < 0x7f ? ch : '?');
    }
    return g_string_free(q, q->len == 0);
}

/* The gRPC status of an error answer: its code and message. */
static void error_of(JsonObject *o, uint64_t *code, const char **msg)
{
    *code = 0;
    *msg = NULL;
    if (o) {
        if (!dcd_jsonin_str(o, "message", false, msg, NULL) || !*msg) {
            dcd_jsonin_str(o, "error", false, msg, NULL);
        }
        dcd_jsonin_u64(o, "code", false, 64, code, NULL);
    }
}

/* Map an error answer (gRPC status in "code") to ours. */
static void set_refusal(Call *k, const char *path, guint status,
                        JsonObject *o)
{
    g_autofree char *quoted = o ? NULL : quote_reply(k);
    const char *msg;
    uint64_t code;
    int ours;

    error_of(o, &code, &msg);
    /*
     * 8 is RESOURCE_EXHAUSTED: "database space exceeded".  4 and 14
     * (DEADLINE_EXCEEDED, UNAVAILABLE: "request timed out", "leader
     * changed") may still be applied; any other refusal was not.  7 and
     * 16 (PERMISSION_DENIED, UNAUTHENTICATED): our user may not.
     */
    k->refused = code != 4 && code != 14;
    ours = code == 8 ? DCD_ERR_NOSPC : code == 14 || code == 4 ?
           DCD_ERR_UNAVAIL : code == 7 || code == 16 ? DCD_ERR_PERM :
           DCD_ERR_IO;
    g_set_error(&k->err, DCD_ERROR, ours, "etcd at %s refused %s: %s"
                " (HTTP %u)%s", endpoint(k), path,
                msg ? msg : quoted ? quoted : "no reason given", status,
                !k->c->user && (code == 7 || (msg && strstr(msg,
                "user name is empty"))) ? "; if etcd has its users on,"
                " give --etcd-user and --etcd-password-file" : "");
}

/*
 * etcd refused the token this round carried (it ran out, or went with a
 * restart of a member that issued a simple token).  These refusals come
 * before etcd applies anything (the auth revision is checked as the
 * request is applied, and a failed check applies none of it), so the
 * request may go again, once, with a new token.
 */
static bool token_refused(Call *k, JsonObject *o)
{
    const char *msg;
    uint64_t code;

    error_of(o, &code, &msg);
    if (!k->c->user || k->reauthed || k->authenticating ||
        !(code == 16 || (code == 3 && msg &&
                         (strstr(msg, "user name is empty") ||
                          strstr(msg, "revision of auth store is old"))))) {
        return false;
    }
    k->reauthed = true;
    /* Another call may have got a new token meanwhile: keep that one. */
    if (g_strcmp0(k->c->token, k->token) == 0) {
        g_clear_pointer(&k->c->token, free_secret);
    }
    g_message("etcd at %s: %s; authenticating again as %s", endpoint(k),
              msg ? msg : "token refused", k->c->user);
    return true;
}

/* A token goes into a header: printable ASCII, bounded. */
static bool token_ok(const char *t)
{
    size_t n = strlen(t);

    if (!n || n > DCD_ETCD_MAX_KEY) {
        return false;
    }
    for (const char *p = t; *p; p++) {
        if (*p <= ' ' || *p > '~') {
            return false;
        }
    }
    return true;
}

/* The answer to /v3/auth/authenticate: true if the request goes on. */
static bool auth_finish(Call *k, guint status, JsonObject *o)
{
    const char *token = NULL, *msg;
    uint64_t code;

    error_of(o, &code, &msg);
    if (status == SOUP_STATUS_OK && o &&
        !json_object_has_member(o, "error") &&
        dcd_jsonin_str(o, "token", false, &token, NULL) && token &&
        token_ok(token)) {
        free_secret(k->c->token);
        k->c->token = g_strdup(token);
        return true;
    }
    /* A user given before etcd turns authentication on: none needed. */
    if (code == 9 && msg && strstr(msg, "authentication is not enabled")) {
        g_warning("etcd at %s: authentication is not enabled; going on"
                  " without a user", endpoint(k));
        free_secret(k->c->token);
        k->c->token = g_strdup("");
        return true;
    }
    g_clear_error(&k->err);
    if (status == SOUP_STATUS_OK && o && !json_object_has_member(o, "error")) {
        g_set_error(&k->err, DCD_ERROR, DCD_ERR_IO, "etcd at %s answered"
                    " authentication as %s with no usable token",
                    endpoint(k), k->c->user);
    } else {
        set_refusal(k, AUTH_PATH, status, o);
        /* "authentication failed, invalid user ID or password" */
        if (code == 3) {
            k->err->code = DCD_ERR_PERM;
        }
        g_prefix_error(&k->err, "authenticating as etcd user %s: ",
                       k->c->user);
    }
    /* The request itself was never sent. */
    k->refused = true;
    return false;
}

/* The answer is read: true if the call goes on with another round. */
static bool call_finish(Call *k)
{
    guint status = soup_message_get_status(k->msg);
    g_autoptr(GError) err = NULL;
    JsonObject *o = NULL;

    if (k->reply->len) {
        o = dcd_jsonin_object((const char *)k->reply->data, k->reply->len,
                              &err);
    }
    if (k->authenticating) {
        bool again = auth_finish(k, status, o);

        g_clear_pointer(&o, json_object_unref);
        return again;
    }
    if (status != SOUP_STATUS_OK ||
        (o && json_object_has_member(o, "error"))) {
        if (token_refused(k, o)) {
            g_clear_pointer(&o, json_object_unref);
            return true;
        }
        set_refusal(k, k->path, status, o);
        g_clear_pointer(&o, json_object_unref);
    } else if (!o) {
        g_set_error(&k->err, DCD_ERROR, DCD_ERR_IO, "etcd's answer to %s is"
                    " not a JSON object: %s", k->path,
                    err ? err->message : "empty");
    }
    k->result = o;
    return false;
}

/* A watch ends: its fn hears why, once. */
static void watch_end(Call *k, GError *why)
{
    g_autoptr(GError) err = why;

    if (!err) {
        err = g_error_new(DCD_ERROR, DCD_ERR_UNAVAIL, "etcd ended the watch");
    }
    k->done = true;
    k->c->errors++;
    k->watch(NULL, err, k->opaque);
    call_release(k);
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

/* A stream etcd took: messages as they come, for as long as it lasts. */
static void on_stream(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Call *k = opaque;
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish(
        G_INPUT_STREAM(src), res, &err);

    if (abandoned(k)) {
        return;
    }
    if (!chunk || g_bytes_get_size(chunk) == 0 ||
        k->reply->len + g_bytes_get_size(chunk) > DCD_ETCD_MAX_REPLY) {
        watch_end(k, chunk && g_bytes_get_size(chunk) ?
                  g_error_new(DCD_ERROR, DCD_ERR_IO, "a message of etcd's"
                              " watch is over %u bytes", DCD_ETCD_MAX_REPLY) :
                  g_steal_pointer(&err));
        return;
    }
    g_byte_array_append(k->reply, g_bytes_get_data(chunk, NULL),
                        g_bytes_get_size(chunk));
    if (watch_messages(k)) {
        k->pending = true;
        g_input_stream_read_bytes_async(k->in, READ_CHUNK, G_PRIORITY_DEFAULT,
                                        k->outer, on_stream, k);
    }
}

static void call_done(Call *k)
{
    if (k->done) {
        return;
    }
    if (k->watch) {
        /* It never started: the same end as a watch cut off later. */
        watch_end(k, g_steal_pointer(&k->err));
        return;
    }
    k->done = true;
    k->c->calls++;
    k->c->errors += k->err != NULL;
    if (k->fn) {
        k->fn(k->result, k->err, k->opaque);
        call_release(k);
    }
}

/* Why etcd's certificate was not accepted, in words. */
static void describe_cert_errors(GString *s, GTlsCertificateFlags f)
{
    static const struct {
        GTlsCertificateFlags flag;
        const char *why;
    } words[] = {
        { G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by a trusted CA"
          " (--etcd-cacert names the CA, else the system's are used)" },
        { G_TLS_CERTIFICATE_BAD_IDENTITY, "issued for another name than"
          " the endpoint's host (see its subjectAltName)" },
        { G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet" },
        { G_TLS_CERTIFICATE_EXPIRED, "expired" },
        { G_TLS_CERTIFICATE_REVOKED, "revoked" },
        { G_TLS_CERTIFICATE_INSECURE, "signed with an insecure"
          " algorithm" },
        { G_TLS_CERTIFICATE_GENERIC_ERROR, "not valid" },
    };
    bool first = true;

    for (guint i = 0; i < G_N_ELEMENTS(words); i++) {
        if (f & words[i].flag) {
            g_string_append_printf(s, "%s%s", first ? "" : "; ",
                                   words[i].why);
            first = false;
        }
    }
    if (first) {
        g_string_append(s, "refused");
    }
}

static void set_unreachable(Call *k, const GError *why)
{
    g_autoptr(GString) what = g_string_new(NULL);

    g_clear_error(&k->err);
    if (k->cert_errors) {
        g_string_append(what, "TLS: etcd's certificate is ");
        describe_cert_errors(what, k->cert_errors);
    } else if (k->timed_out) {
        g_string_append_printf(what, "did not answer %s within %u ms",
                               k->path, k->c->timeout_ms);
    } else {
        g_string_append(what, why ? why->message : "no answer");
    }
    /* What etcd says when it refuses our certificate, or our lack of one. */
    if (k->cert_asked && !k->c->client_cert) {
        g_string_append(what, " (etcd asked for a client certificate and"
                        " none was given: --etcd-cert and --etcd-key)");
    } else if (k->handshake && k->c->client_cert && why &&
               !k->cert_errors) {
        /* Cut off on a new connection: etcd refusing our certificate. */
        g_string_append(what, " (does etcd trust the CA of --etcd-cert?)");
    }
    g_set_error(&k->err, DCD_ERROR, DCD_ERR_UNAVAIL, "etcd at %s: %s",
                endpoint(k), what->str);
    /* The next call tries the next endpoint (a member that went silent). */
    if (k->timed_out && k->c->endpoints->len > 1) {
        k->c->current = (k->c->current + 1) % k->c->endpoints->len;
    }
}

/*
 * soup's callback: the call was ended meanwhile (its timer, or
 * dcd_etcd_cancel_async(), and c may be gone); end without a word.
 */
static bool abandoned(Call *k)
{
    k->pending = false;
    if (k->orphan || (k->outer && g_cancellable_is_cancelled(k->outer))) {
        call_free(k);
        return true;
    }
    /* Ended by its timer: whoever waits on it frees it. */
    return k->done;
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
    if (!chunk) {
        set_unreachable(k, err);
        call_done(k);
        return;
    }
    if (g_bytes_get_size(chunk) == 0) {
        if (call_finish(k)) {
            /* The token, got or renewed: now (again) the request. */
            drop_round(k);
            call_start(k);
            return;
        }
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
    k->pending = true;
    g_input_stream_read_bytes_async(k->in, READ_CHUNK, G_PRIORITY_DEFAULT,
                                    k->cancel, on_read, k);
}

/*
 * The request cannot have reached etcd: another endpoint may take it.
 * Anything else (a connection cut after the request went out, a member
 * killed mid-answer) may have applied it there, and a txn sent again
 * elsewhere would then fail its compares on its own first landing.
 */
static bool undelivered(const GError *err)
{
    return err && (g_error_matches(err, G_IO_ERROR,
                                   G_IO_ERROR_CONNECTION_REFUSED) ||
                   g_error_matches(err, G_IO_ERROR,
                                   G_IO_ERROR_HOST_UNREACHABLE) ||
                   g_error_matches(err, G_IO_ERROR,
                                   G_IO_ERROR_NETWORK_UNREACHABLE) ||
                   err->domain == G_RESOLVER_ERROR ||
                   err->domain == G_TLS_ERROR);
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
            undelivered(err) && ++k->tries < k->c->endpoints->len) {
            k->c->current = (k->c->current + 1) % k->c->endpoints->len;
            drop_round(k);
            call_start(k);
            return;
        }
        set_unreachable(k, err);
        /* Its outcome unknown (the caller is told so): the next call
         * goes to the next endpoint. */
        if (!k->timed_out && !undelivered(err) &&
            k->c->endpoints->len > 1) {
            k->c->current = (k->c->current + 1) % k->c->endpoints->len;
        }
        call_done(k);
        return;
    }
    /*
     * A watch etcd took runs as long as etcd keeps it: the timer bounded
     * only its start.  Its reads end with the broker's
     * (dcd_etcd_cancel_async()).
     */
    if (k->watch && !k->authenticating &&
        soup_message_get_status(k->msg) == SOUP_STATUS_OK) {
        g_source_destroy(k->timer);
        g_clear_pointer(&k->timer, g_source_unref);
        k->pending = true;
        g_input_stream_read_bytes_async(k->in, READ_CHUNK, G_PRIORITY_DEFAULT,
                                        k->outer, on_stream, k);
        return;
    }
    k->pending = true;
    g_input_stream_read_bytes_async(k->in, READ_CHUNK, G_PRIORITY_DEFAULT,
                                    k->cancel, on_read, k);
}

static GBytes *auth_body(const DcdEtcd *c)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    char *text;

    json_builder_begin_object(jb);
    dcd_json_str(jb, "name", c->user);
    dcd_json_str(jb, "password", c->password);
    json_builder_end_object(jb);
    root = json_builder_get_root(jb);
    text = json_to_string(root, FALSE);
    /* The password is in it: wiped when the bytes go. */
    return g_bytes_new_with_free_func(text, strlen(text), free_secret, text);
}

static void call_start(Call *k)
{
    DcdEtcd *c = k->c;
    g_autoptr(GBytes) auth = NULL;
    g_autofree char *uri = NULL;

    /* An etcd user needs a token first: one round more, same bound. */
    k->authenticating = c->user && !c->token;
    if (k->authenticating) {
        auth = auth_body(c);
    }
    uri = g_strconcat(endpoint(k), k->authenticating ? AUTH_PATH : k->path,
                      NULL);
    k->cert_errors = 0;
    k->cert_asked = false;
    k->handshake = false;
    k->msg = soup_message_new(SOUP_METHOD_POST, uri);
    /* etcd answers; it does not send us elsewhere. */
    soup_message_add_flags(k->msg, SOUP_MESSAGE_NO_REDIRECT);
    soup_message_set_request_body_from_bytes(k->msg, "application/json",
                                             auth ? auth : k->body);
    if (c->client_cert) {
        soup_message_set_tls_client_certificate(k->msg, c->client_cert);
    }
    g_signal_connect(k->msg, "accept-certificate", G_CALLBACK(on_bad_cert),
                     k);
    g_signal_connect(k->msg, "request-certificate",
                     G_CALLBACK(on_cert_asked), k);
    g_signal_connect(k->msg, "network-event", G_CALLBACK(on_network_event),
                     k);
    free_secret(k->token);
    k->token = g_strdup(c->token);
    if (!k->authenticating && c->token && *c->token) {
        soup_message_headers_replace(soup_message_get_request_headers(k->msg),
                                     "Authorization", c->token);
    }
    k->pending = true;
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
    call_release(k);
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

/* ---- setting up ------------------------------------------------------- */

static bool parse_endpoints(DcdEtcd *c, const char *url, bool *tls,
                            GError **errp)
{
    g_auto(GStrv) parts = NULL;
    const char *scheme;

    *tls = g_str_has_prefix(url, "etcds://");
    if (!*tls && !g_str_has_prefix(url, "etcd://")) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "cluster store '%s':"
                    " expected etcd://HOST:PORT[,HOST:PORT...], or etcds://"
                    " for TLS", url);
        return false;
    }
    scheme = *tls ? "https://" : "http://";
    parts = g_strsplit(strstr(url, "://") + 3, ",", -1);
    for (char **p = parts; *p; p++) {
        g_autofree char *http = g_strconcat(scheme, *p, NULL);
        g_autoptr(GUri) u = g_uri_parse(http, G_URI_FLAGS_NONE, NULL);

        if (!u || !g_uri_get_host(u) || !*g_uri_get_host(u) ||
            g_uri_get_port(u) <= 0 || strchr(*p, '/') || strchr(*p, '@')) {
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

/*
 * The password: the whole file but a final newline.  Like ssh with its
 * keys, a file others may read or write is refused, not just warned of.
 */
static char *read_password(const char *path, GError **errp)
{
    g_autofree char *buf = NULL;
    struct stat st;
    ssize_t n;
    int saved;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0 || fstat(fd, &st) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-password-file"
                    " %s: %s", path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) ||
        st.st_size > DCD_ETCD_MAX_PASSWORD) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-password-file"
                    " %s: %s", path, !S_ISREG(st.st_mode) ?
                    "not a regular file" : (st.st_mode & 077) ?
                    "group or others may access it (chmod 600)" :
                    "too large for a password");
        close(fd);
        return NULL;
    }
    buf = g_malloc0(DCD_ETCD_MAX_PASSWORD + 1);
    n = read(fd, buf, DCD_ETCD_MAX_PASSWORD);
    saved = errno;
    close(fd);
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r') {
            buf[--n] = '\0';
        }
    }
    if (n <= 0 || memchr(buf, 0, n) || !g_utf8_validate(buf, n, NULL)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-password-file"
                    " %s: %s", path, n < 0 ? g_strerror(saved) :
                    "empty, or not UTF-8 text");
        explicit_bzero(buf, DCD_ETCD_MAX_PASSWORD + 1);
        return NULL;
    }
    return g_steal_pointer(&buf);
}

/* The TLS files, read now so a bad one is named at start. */
static bool setup_tls(DcdEtcd *c, const DcdEtcdSecurity *sec,
                      GTlsDatabase **db, GError **errp)
{
    g_autoptr(GError) err = NULL;

    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOTSUP, "etcds:// needs TLS,"
                    " and GIO has no TLS backend (install glib-networking)");
        return false;
    }
    if (sec && sec->cacert) {
        GList *certs = g_tls_certificate_list_new_from_file(sec->cacert,
                                                            &err);

        /* A file with no certificate in it would trust nothing, silently. */
        if (!certs && !err) {
            g_set_error(&err, DCD_ERROR, DCD_ERR_INVAL, "no certificate in"
                        " it");
        }
        g_list_free_full(certs, g_object_unref);
        if (!err) {
            /* GIO takes an absolute path only. */
            g_autofree char *abs = g_canonicalize_filename(sec->cacert, NULL);

            *db = g_tls_file_database_new(abs, &err);
        }
        if (err) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-cacert %s:"
                        " %s", sec->cacert, err->message);
            return false;
        }
    }
    if (sec && sec->cert) {
        c->client_cert = g_tls_certificate_new_from_files(sec->cert, sec->key,
                                                          &err);
        if (!c->client_cert) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-cert %s,"
                        " --etcd-key %s: %s", sec->cert, sec->key,
                        err->message);
            return false;
        }
    }
    return true;
}

static bool setup_security(DcdEtcd *c, bool tls, const DcdEtcdSecurity *sec,
                           GTlsDatabase **db, GError **errp)
{
    if (sec && !tls && (sec->cacert || sec->cert || sec->key)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-cacert,"
                    " --etcd-cert and --etcd-key are for TLS: name the"
                    " endpoints etcds://HOST:PORT[,...]");
        return false;
    }
    if (sec && !sec->cert != !sec->key) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-cert and"
                    " --etcd-key go together");
        return false;
    }
    if (sec && !sec->user != !sec->password_file) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-user and"
                    " --etcd-password-file go together");
        return false;
    }
    if (sec && sec->user && (!*sec->user ||
                             !g_utf8_validate(sec->user, -1, NULL))) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--etcd-user: a name"
                    " is needed");
        return false;
    }
    if (tls && !setup_tls(c, sec, db, errp)) {
        return false;
    }
    if (sec && sec->user) {
        c->password = read_password(sec->password_file, errp);
        if (!c->password) {
            return false;
        }
        c->user = g_strdup(sec->user);
        if (!tls) {
            g_warning("the etcd password and token go unencrypted over"
                      " etcd://; etcds:// would protect them");
        }
    }
    return true;
}

static void free_client(DcdEtcd *c)
{
    g_clear_object(&c->client_cert);
    g_free(c->user);
    free_secret(c->password);
    free_secret(c->token);
    g_ptr_array_unref(c->endpoints);
    g_free(c);
}

DcdEtcd *dcd_etcd_new(const char *url, unsigned timeout_ms,
                      const DcdEtcdSecurity *sec, GError **errp)
{
    DcdEtcd *c = g_new0(DcdEtcd, 1);
    g_autoptr(GTlsDatabase) db = NULL;
    bool tls = false;

    c->endpoints = g_ptr_array_new_with_free_func(g_free);
    c->timeout_ms = timeout_ms;
    if (!parse_endpoints(c, url, &tls, errp) ||
        !setup_security(c, tls, sec, &db, errp)) {
        free_client(c);
        return NULL;
    }
    /*
     * Our timer bounds each call; soup's own (in seconds) stays off.  The
     * CAs given replace the system's; without them the system's serve.
     */
    c->async_session = soup_session_new_with_options("timeout", 0,
                                                     "idle-timeout", 0, NULL);
    c->sync_ctx = g_main_context_new();
    g_main_context_push_thread_default(c->sync_ctx);
    c->sync_session = soup_session_new_with_options("timeout", 0,
                                                    "idle-timeout", 0, NULL);
    g_main_context_pop_thread_default(c->sync_ctx);
    if (db) {
        soup_session_set_tls_database(c->async_session, db);
        soup_session_set_tls_database(c->sync_session, db);
    }
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
    free_client(c);
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
