/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wire.c - one host-protocol connection on a GMainContext.
 *
 * Owns: the socket of one connection, its receive buffer and received
 * fds, its send queue, its outstanding requests and its keepalive.  All
 * callbacks into the user run from sources of the context, never from
 * inside dcd_wire_send() or dcd_wire_request(), so a caller can send
 * from anywhere without being re-entered.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dcd/wire.h"

#define READ_CHUNK 16384
#define CMSG_FDS 8            /* room for more fds than allowed, to detect */
#define CLOSE_FLUSH_MS 2000   /* how long a closing wire tries to send */

static const DcdWireLimits default_limits = {
    .max_queued_bytes = 8 << 20,
    .request_timeout_ms = 10000,
    .idle_timeout_ms = 30000,
};

/* One encoded message waiting to be sent, with its fd until it is. */
typedef struct OutBuf {
    uint8_t *data;
    size_t len;
    size_t off;
    int fd;
} OutBuf;

typedef struct Pending {
    DcdWire *w;
    uint32_t id;
    uint16_t type;
    DcdWireReplyFn cb;
    gpointer opaque;
    GSource *timer;
} Pending;

struct DcdWire {
    int ref;                  /* the user's, plus one per running callback */
    GSocket *sock;
    int fd;
    GMainContext *ctx;
    DcdWireMsgFn on_msg;
    DcdWireClosedFn on_closed;
    gpointer opaque;
    DcdWireLimits lim;

    bool open;
    bool closing;             /* no more input or sends; flushing then close */
    bool freed;               /* the user let go; on_closed is not called */
    GError *close_why;        /* reason for the pending close */

    GSource *in_src;
    GSource *out_src;
    GSource *keepalive_src;
    GSource *close_src;

    GByteArray *rbuf;         /* bytes received, not yet consumed */
    GQueue rfds;              /* fds received, not yet given to a message */
    struct dcd_hdr cur;       /* header of the message being received */
    bool have_hdr;
    int cur_fds[DCD_MAX_FDS];

    GQueue outq;              /* of OutBuf */
    size_t queued;

    GHashTable *pending;      /* id -> Pending */
    uint32_t next_id;
    gint64 last_rx;           /* monotonic time of the last byte in */
    gint64 last_tick;         /* of the keepalive, to see our own stalls */
    bool ping_out;

    pid_t pid;
    uid_t uid;
    gid_t gid;
};

static void wire_ref(DcdWire *w)
{
    w->ref++;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void outbuf_free(OutBuf *ob)
{
    close_fd(&ob->fd);
    g_free(ob->data);
    g_free(ob);
}

static void destroy_source(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

static void wire_unref(DcdWire *w)
{
    if (--w->ref > 0) {
        return;
    }
    g_assert(!w->open);
    g_clear_error(&w->close_why);
    g_byte_array_unref(w->rbuf);
    g_hash_table_unref(w->pending);
    g_object_unref(w->sock);
    g_main_context_unref(w->ctx);
    g_free(w);
}

static void pending_free(gpointer data)
{
    Pending *p = data;

    destroy_source(&p->timer);
    g_free(p);
}

/* ---- closing ------------------------------------------------------- */

static void fail_pending(DcdWire *w, const GError *why)
{
    g_autoptr(GError) err = NULL;
    GHashTableIter it;
    gpointer value;
    GList *list = NULL;

    err = g_error_new(DCD_ERROR, DCD_ERR_UNAVAIL, "connection closed%s%s",
                      why ? ": " : "", why ? why->message : "");
    /* Steal first: a callback may start new requests (they fail fast). */
    g_hash_table_iter_init(&it, w->pending);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        g_hash_table_iter_steal(&it);
        list = g_list_prepend(list, value);
    }
    list = g_list_reverse(list);
    for (GList *l = list; l; l = l->next) {
        Pending *p = l->data;

        p->cb(w, NULL, err, p->opaque);
        pending_free(p);
    }
    g_list_free(list);
}

/* Close now.  why may be NULL (our own clean close). */
static void do_close(DcdWire *w, const GError *why)
{
    if (!w->open) {
        return;
    }
    w->open = false;
    w->closing = true;
    wire_ref(w);
    destroy_source(&w->in_src);
    destroy_source(&w->out_src);
    destroy_source(&w->keepalive_src);
    destroy_source(&w->close_src);
    g_socket_close(w->sock, NULL);

    g_queue_clear_full(&w->outq, (GDestroyNotify)outbuf_free);
    w->queued = 0;
    while (!g_queue_is_empty(&w->rfds)) {
        close(GPOINTER_TO_INT(g_queue_pop_head(&w->rfds)));
    }
    for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
        close_fd(&w->cur_fds[i]);
    }
    w->have_hdr = false;

    fail_pending(w, why);
    if (!w->freed && w->on_closed) {
        w->on_closed(w, why, w->opaque);
    }
    wire_unref(w);
}

static gboolean close_cb(gpointer opaque)
{
    DcdWire *w = opaque;
    GError *why = g_steal_pointer(&w->close_why);

    do_close(w, why);
    g_clear_error(&why);
    return G_SOURCE_REMOVE;
}

/*
 * Close from a source of our own context, after at most delay_ms.  Used
 * where closing right away would re-enter the caller.  The first reason
 * given wins.
 */
static void schedule_close(DcdWire *w, GError *why, guint delay_ms)
{
    if (!w->open) {
        g_clear_error(&why);
        return;
    }
    w->closing = true;
    destroy_source(&w->in_src);
    destroy_source(&w->keepalive_src);
    if (!w->close_why) {
        w->close_why = why;
    } else {
        g_clear_error(&why);
    }
    if (w->close_src && delay_ms) {
        return;
    }
    destroy_source(&w->close_src);
    w->close_src = delay_ms ? g_timeout_source_new(delay_ms)
                            : g_idle_source_new();
    g_source_set_callback(w->close_src, close_cb, w, NULL);
    g_source_attach(w->close_src, w->ctx);
}

/* ---- sending ------------------------------------------------------- */

/* A reset or broken pipe is the peer going away, not our failure. */
static GError *io_error(const char *what, int err)
{
    if (err == ECONNRESET || err == EPIPE) {
        return g_error_new(DCD_ERROR, DCD_ERR_UNAVAIL,
                           "peer closed the connection (%s: %s)", what,
                           g_strerror(err));
    }
    return g_error_new(DCD_ERROR, DCD_ERR_IO, "%s: %s", what, g_strerror(err));
}

static gboolean writable_cb(GSocket *sock, GIOCondition cond, gpointer opaque);

static void watch_out(DcdWire *w, bool on)
{
    if (on && !w->out_src) {
        w->out_src = g_socket_create_source(w->sock, G_IO_OUT, NULL);
        g_source_set_callback(w->out_src, G_SOURCE_FUNC(writable_cb), w, NULL);
        g_source_attach(w->out_src, w->ctx);
    } else if (!on) {
        destroy_source(&w->out_src);
    }
}

static ssize_t send_one(DcdWire *w, OutBuf *ob)
{
    struct iovec iov = {
        .iov_base = ob->data + ob->off,
        .iov_len = ob->len - ob->off,
    };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    /* The fd rides on the message's first byte. */
    if (ob->off == 0 && ob->fd >= 0) {
        struct cmsghdr *c;

        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &ob->fd, sizeof(int));
    }
    return sendmsg(w->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Write as much as the socket takes.  Errors close later, not here. */
static void flush(DcdWire *w)
{
    while (w->open && !g_queue_is_empty(&w->outq)) {
        OutBuf *ob = g_queue_peek_head(&w->outq);
        ssize_t n = send_one(w, ob);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch_out(w, true);
                return;
            }
            /* A closing wire that cannot send is simply done. */
            schedule_close(w, io_error("send", errno), 0);
            watch_out(w, false);
            return;
        }
        close_fd(&ob->fd);
        ob->off += n;
        w->queued -= n;
        if (ob->off == ob->len) {
            outbuf_free(g_queue_pop_head(&w->outq));
        }
    }
    watch_out(w, false);
    if (w->open && w->closing && w->close_src) {
        /* Everything is out: close now rather than at the deadline. */
        schedule_close(w, NULL, 0);
    }
}

static gboolean writable_cb(GSocket *sock, GIOCondition cond, gpointer opaque)
{
    DcdWire *w = opaque;

    wire_ref(w);
    flush(w);
    wire_unref(w);
    return G_SOURCE_CONTINUE;
}

static uint32_t fresh_id(DcdWire *w)
{
    do {
        w->next_id++;
    } while (w->next_id == 0 ||
             g_hash_table_contains(w->pending, GUINT_TO_POINTER(w->next_id)));
    return w->next_id;
}

/* Queue m; a closing wire still takes the ERROR that explains why. */
static bool enqueue(DcdWire *w, DcdMsg *m)
{
    OutBuf *ob;
    size_t len = DCD_HDR_SIZE + m->hdr.len;

    if (!w->open) {
        dcd_msg_free(m);
        return false;
    }
    if (w->queued + len > w->lim.max_queued_bytes) {
        schedule_close(w, g_error_new(DCD_ERROR, DCD_ERR_IO,
                                      "send queue overflow (%zu bytes "
                                      "queued, limit %zu)", w->queued,
                                      w->lim.max_queued_bytes), 0);
        dcd_msg_free(m);
        return false;
    }
    if (!(m->hdr.flags & DCD_HDR_REPLY) && m->hdr.type != DCD_MSG_ERROR &&
        m->hdr.id == 0) {
        m->hdr.id = fresh_id(w);
    }
    ob = g_new0(OutBuf, 1);
    ob->data = dcd_msg_encode(m, &ob->len);
    ob->fd = m->hdr.nfds ? dcd_msg_take_fd(m, 0) : -1;
    dcd_msg_free(m);
    g_queue_push_tail(&w->outq, ob);
    w->queued += ob->len;
    flush(w);
    return true;
}

bool dcd_wire_send(DcdWire *w, DcdMsg *m)
{
    if (w->closing) {
        dcd_msg_free(m);
        return false;
    }
    return enqueue(w, m) && !w->closing;
}

bool dcd_wire_ack(DcdWire *w, const DcdMsg *req)
{
    return dcd_wire_send(w, dcd_msg_new_ack(req->hdr.type, req->hdr.id));
}

bool dcd_wire_error(DcdWire *w, const DcdMsg *req, DcdErr code,
                    const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return dcd_wire_send(w, dcd_msg_new_error(req ? req->hdr.id : 0, code,
                                              text));
}

static DcdErr code_of(const GError *err)
{
    if (err->domain == DCD_ERROR && err->code > 0 && err->code < DCD_ERR__MAX) {
        return err->code;
    }
    return DCD_ERR_IO;
}

bool dcd_wire_error_gerror(DcdWire *w, const DcdMsg *req, const GError *err)
{
    return dcd_wire_send(w, dcd_msg_new_error(req ? req->hdr.id : 0,
                                              code_of(err), err->message));
}

static gboolean request_timeout_cb(gpointer opaque)
{
    Pending *p = opaque;
    DcdWire *w = p->w;
    g_autoptr(GError) err = NULL;

    err = g_error_new(DCD_ERROR, DCD_ERR_UNAVAIL,
                      "%s request %u: no reply within %u ms",
                      dcd_msg_type_name(p->type), p->id,
                      w->lim.request_timeout_ms);
    g_hash_table_steal(w->pending, GUINT_TO_POINTER(p->id));
    wire_ref(w);
    p->cb(w, NULL, err, p->opaque);
    pending_free(p);
    wire_unref(w);
    return G_SOURCE_REMOVE;
}

uint32_t dcd_wire_request(DcdWire *w, DcdMsg *m, DcdWireReplyFn cb,
                          gpointer cb_opaque)
{
    Pending *p;

    if (!w->open || w->closing) {
        dcd_msg_free(m);
        return 0;
    }
    p = g_new0(Pending, 1);
    p->w = w;
    p->id = fresh_id(w);
    p->type = m->hdr.type;
    p->cb = cb;
    p->opaque = cb_opaque;
    m->hdr.id = p->id;
    m->hdr.flags &= ~DCD_HDR_REPLY;
    g_hash_table_insert(w->pending, GUINT_TO_POINTER(p->id), p);
    if (!enqueue(w, m)) {
        g_hash_table_steal(w->pending, GUINT_TO_POINTER(p->id));
        pending_free(p);
        return 0;
    }
    if (w->lim.request_timeout_ms) {
        p->timer = g_timeout_source_new(w->lim.request_timeout_ms);
        g_source_set_callback(p->timer, request_timeout_cb, p, NULL);
        g_source_attach(p->timer, w->ctx);
    }
    return p->id;
}

void dcd_wire_close_after_flush(DcdWire *w, const GError *why)
{
    if (!w->open) {
        return;
    }
    schedule_close(w, why ? g_error_copy(why) : NULL,
                   g_queue_is_empty(&w->outq) ? 0 : CLOSE_FLUSH_MS);
}

/* ---- receiving ----------------------------------------------------- */

/* Malformed input: tell the peer why, then close. */
static void proto_error(DcdWire *w, GError *err)
{
    if (!w->open || w->closing) {
        g_error_free(err);
        return;
    }
    enqueue(w, dcd_msg_new_error(0, code_of(err), err->message));
    schedule_close(w, err, g_queue_is_empty(&w->outq) ? 0 : CLOSE_FLUSH_MS);
}

static void reply_cb_noop(DcdWire *w, DcdMsg *reply, const GError *err,
                          gpointer opaque)
{
    w->ping_out = false;
    dcd_msg_free(reply);
}

static void dispatch_reply(DcdWire *w, DcdMsg *m)
{
    Pending *p = g_hash_table_lookup(w->pending, GUINT_TO_POINTER(m->hdr.id));

    if (!p) {
        /* Late (after its timeout) or unknown: nobody waits for it. */
        g_debug("wire: dropping %s reply %u with no request",
                dcd_msg_type_name(m->hdr.type), m->hdr.id);
        dcd_msg_free(m);
        return;
    }
    g_hash_table_steal(w->pending, GUINT_TO_POINTER(m->hdr.id));
    p->cb(w, m, NULL, p->opaque);
    pending_free(p);
}

static void dispatch(DcdWire *w, DcdMsg *m)
{
    if (m->hdr.flags & DCD_HDR_REPLY) {
        dispatch_reply(w, m);
    } else if (m->hdr.type == DCD_MSG_ERROR) {
        struct dcd_error *e = DCD_MSG_VIEW(m, struct dcd_error);
        GError *why = g_error_new(DCD_ERROR, e->code, "peer: %s", e->text);

        dcd_msg_free(m);
        schedule_close(w, why, 0);
    } else if (m->hdr.type == DCD_MSG_PING) {
        dcd_wire_ack(w, m);
        dcd_msg_free(m);
    } else {
        w->on_msg(w, m, w->opaque);
    }
}

/* Give the header's fds to the message being received. */
static bool take_fds(DcdWire *w, GError **errp)
{
    if (g_queue_get_length(&w->rfds) < w->cur.nfds) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_PROTO,
                    "%s: wrong fd count: header says %u, %u arrived",
                    dcd_msg_type_name(w->cur.type), w->cur.nfds,
                    g_queue_get_length(&w->rfds));
        return false;
    }
    for (unsigned i = 0; i < w->cur.nfds; i++) {
        w->cur_fds[i] = GPOINTER_TO_INT(g_queue_pop_head(&w->rfds));
    }
    return true;
}

/* Turn complete messages in rbuf into dispatched ones. */
static void parse(DcdWire *w)
{
    GError *err = NULL;
    size_t off = 0;

    while (w->open && !w->closing) {
        const uint8_t *p = w->rbuf->data + off;
        size_t avail = w->rbuf->len - off;
        DcdMsg *m;

        if (!w->have_hdr) {
            if (avail < DCD_HDR_SIZE) {
                break;
            }
            if (!dcd_hdr_decode(p, &w->cur, &err) || !take_fds(w, &err)) {
                proto_error(w, err);
                return;
            }
            w->have_hdr = true;
            off += DCD_HDR_SIZE;
            continue;
        }
        if (avail < w->cur.len) {
            break;
        }
        m = dcd_msg_decode(&w->cur, p, w->cur_fds, &err);
        off += w->cur.len;
        w->have_hdr = false;
        if (!m) {
            for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
                close_fd(&w->cur_fds[i]);
            }
            proto_error(w, err);
            return;
        }
        dispatch(w, m);
    }
    g_byte_array_remove_range(w->rbuf, 0, off);

    /*
     * fds arrive with their message's first byte: any still unclaimed
     * once the next header is complete (or with no bytes pending) have
     * no message to own them.
     */
    if (w->open && !w->closing && !g_queue_is_empty(&w->rfds) &&
        (w->have_hdr || w->rbuf->len == 0)) {
        proto_error(w, g_error_new(DCD_ERROR, DCD_ERR_PROTO,
                                   "wrong fd count: %u fds with no message",
                                   g_queue_get_length(&w->rfds)));
    }
}

static void collect_fds(DcdWire *w, struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        int n;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (int i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            g_queue_push_tail(&w->rfds, GINT_TO_POINTER(fd));
        }
    }
}

/* One recvmsg().  False when the wire is closing because of it. */
static bool read_some(DcdWire *w)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * CMSG_FDS)];
    } ctl;
    size_t old = w->rbuf->len;
    struct iovec iov;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf) };
    ssize_t n;

    g_byte_array_set_size(w->rbuf, old + READ_CHUNK);
    iov.iov_base = w->rbuf->data + old;
    iov.iov_len = READ_CHUNK;
    do {
        n = recvmsg(w->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    g_byte_array_set_size(w->rbuf, old + MAX(n, 0));

    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return true;
        }
        schedule_close(w, io_error("receive", errno), 0);
        return false;
    }
    collect_fds(w, &mh);
    if (mh.msg_flags & MSG_CTRUNC) {
        proto_error(w, g_error_new(DCD_ERROR, DCD_ERR_PROTO,
                                   "wrong fd count: more fds than the "
                                   "protocol allows"));
        return false;
    }
    if (n == 0) {
        bool mid = w->have_hdr || w->rbuf->len;

        schedule_close(w, g_error_new(DCD_ERROR, DCD_ERR_UNAVAIL,
                                      "peer closed the connection%s",
                                      mid ? " in the middle of a message"
                                          : ""), 0);
        return false;
    }
    w->last_rx = g_get_monotonic_time();
    return true;
}

static gboolean readable_cb(GSocket *sock, GIOCondition cond, gpointer opaque)
{
    DcdWire *w = opaque;

    wire_ref(w);
    if (read_some(w)) {
        parse(w);
    }
    wire_unref(w);
    return G_SOURCE_CONTINUE;
}

/* ---- keepalive ----------------------------------------------------- */

static guint keepalive_interval(const DcdWire *w)
{
    return MAX(w->lim.idle_timeout_ms / 6, 1);
}

static gboolean keepalive_cb(gpointer opaque)
{
    DcdWire *w = opaque;
    guint idle = w->lim.idle_timeout_ms;
    gint64 now = g_get_monotonic_time();
    gint64 tick = (gint64)keepalive_interval(w) * 1000;
    gint64 late = now - w->last_tick - tick;
    gint64 quiet_ms;

    /*
     * A tick this late means we did not run (stopped, or a long callback
     * held the loop): the peer could not be heard and we could not ping
     * it meanwhile, so that time is not the peer's silence.
     */
    if (late > tick) {
        w->last_rx = MIN(now, w->last_rx + late);
    }
    w->last_tick = now;
    quiet_ms = (now - w->last_rx) / 1000;
    if (quiet_ms >= idle) {
        /*
         * Bytes that came while we did not run may still wait in the
         * socket: read them first; a peer that sent them is not silent.
         */
        wire_ref(w);
        if (read_some(w)) {
            parse(w);
        }
        quiet_ms = (g_get_monotonic_time() - w->last_rx) / 1000;
        if (w->open && !w->closing && quiet_ms >= idle) {
            schedule_close(w, g_error_new(DCD_ERROR, DCD_ERR_UNAVAIL,
                                          "peer silent for %u ms", idle), 0);
        }
        wire_unref(w);
        return G_SOURCE_CONTINUE;
    }
    if (quiet_ms >= idle / 3 && !w->ping_out) {
        /* Any byte back resets the clock; the reply itself is not used. */
        if (dcd_wire_request(w, dcd_msg_new(DCD_MSG_PING, 0, 0, 0),
                             reply_cb_noop, NULL)) {
            w->ping_out = true;
        }
    }
    return G_SOURCE_CONTINUE;
}

static void start_keepalive(DcdWire *w)
{
    destroy_source(&w->keepalive_src);
    if (!w->open || w->closing || !w->lim.idle_timeout_ms) {
        return;
    }
    w->last_tick = g_get_monotonic_time();
    w->keepalive_src = g_timeout_source_new(keepalive_interval(w));
    g_source_set_callback(w->keepalive_src, keepalive_cb, w, NULL);
    g_source_attach(w->keepalive_src, w->ctx);
}

/* ---- life cycle ---------------------------------------------------- */

static void read_peer(DcdWire *w)
{
    g_autoptr(GCredentials) cred = g_socket_get_credentials(w->sock, NULL);
    const struct ucred *uc;

    w->pid = -1;
    w->uid = -1;
    w->gid = -1;
    if (!cred) {
        return;
    }
    uc = g_credentials_get_native(cred, G_CREDENTIALS_TYPE_LINUX_UCRED);
    if (uc) {
        w->pid = uc->pid;
        w->uid = uc->uid;
        w->gid = uc->gid;
    }
}

DcdWire *dcd_wire_new(GSocket *sock, GMainContext *ctx,
                      DcdWireMsgFn on_msg, DcdWireClosedFn on_closed,
                      gpointer opaque)
{
    DcdWire *w = g_new0(DcdWire, 1);

    w->ref = 1;
    w->sock = g_object_ref(sock);
    w->fd = g_socket_get_fd(sock);
    w->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref_thread_default();
    w->on_msg = on_msg;
    w->on_closed = on_closed;
    w->opaque = opaque;
    w->lim = default_limits;
    w->open = true;
    w->rbuf = g_byte_array_new();
    g_queue_init(&w->rfds);
    g_queue_init(&w->outq);
    for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
        w->cur_fds[i] = -1;
    }
    w->pending = g_hash_table_new(NULL, NULL);
    w->last_rx = g_get_monotonic_time();
    g_socket_set_blocking(sock, FALSE);
    read_peer(w);

    w->in_src = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                       NULL);
    g_source_set_callback(w->in_src, G_SOURCE_FUNC(readable_cb), w, NULL);
    g_source_attach(w->in_src, w->ctx);
    start_keepalive(w);
    return w;
}

void dcd_wire_set_limits(DcdWire *w, const DcdWireLimits *l)
{
    w->lim = *l;
    if (!w->lim.max_queued_bytes) {
        w->lim.max_queued_bytes = default_limits.max_queued_bytes;
    }
    start_keepalive(w);
}

void dcd_wire_close(DcdWire *w)
{
    do_close(w, NULL);
}

bool dcd_wire_is_open(const DcdWire *w)
{
    return w->open && !w->closing;
}

void dcd_wire_free(DcdWire *w)
{
    if (!w) {
        return;
    }
    w->freed = true;
    do_close(w, NULL);
    wire_unref(w);
}

GSocket *dcd_wire_socket(const DcdWire *w)
{
    return w->sock;
}

void dcd_wire_peer(const DcdWire *w, pid_t *pid, uid_t *uid, gid_t *gid)
{
    if (pid) {
        *pid = w->pid;
    }
    if (uid) {
        *uid = w->uid;
    }
    if (gid) {
        *gid = w->gid;
    }
}

size_t dcd_wire_queued(const DcdWire *w)
{
    return w->queued;
}
