/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostsrv.c - host sessions.  A session that has not said HELLO may say
 * nothing else, and gets HELLO_TIMEOUT_MS to say it, so an idle or hostile
 * peer costs one fd for a bounded time.
 */
#include <string.h>
#include <unistd.h>

#include "server/hostsrv.h"

#define HELLO_TIMEOUT_MS 10000

struct DcdHostSrv {
    DcdBroker *b;
    DcdListener *listener;
    GHashTable *sessions;     /* Session * set */
    DcdWireLimits limits;
};

typedef struct Session {
    DcdHostSrv *srv;
    DcdWire *wire;
    DcdHost *host;            /* NULL before HELLO */
    pid_t pid;
    uid_t uid;
    guint hello_timer;
} Session;

static void session_free(Session *s)
{
    if (s->hello_timer) {
        g_source_remove(s->hello_timer);
    }
    dcd_wire_free(s->wire);
    g_free(s);
}

static const char *who(const Session *s)
{
    static char buf[48];

    if (s->host) {
        g_snprintf(buf, sizeof(buf), "host %u", s->host->id);
    } else {
        g_snprintf(buf, sizeof(buf), "pid %d", (int)s->pid);
    }
    return buf;
}

/* ---- broker -> host --------------------------------------------------- */

static void log_reply(DcdWire *w, DcdMsg *reply, const GError *err,
                      gpointer opaque)
{
    Session *s = opaque;

    if (reply && reply->hdr.type == DCD_MSG_ERROR) {
        struct dcd_error *e = DCD_MSG_VIEW(reply, struct dcd_error);

        g_message("%s refused a request: %s: %.*s", who(s),
                  dcd_err_name(e->code), (int)e->text_len, e->text);
    } else if (err && dcd_wire_is_open(w)) {
        g_message("%s: %s", who(s), err->message);
    }
    if (reply) {
        dcd_msg_free(reply);
    }
}

static bool link_send_pool(gpointer link, DcdPool *p)
{
    Session *s = link;
    int fd = dup(p->fd);
    DcdMsg *m;

    if (fd < 0) {
        return false;
    }
    m = dcd_msg_new_pool(0, &p->tag, p->fd_size, dcd_pool_wire_backing(p),
                         p->sealed ? DCD_POOL_SEALED : 0, fd);
    return dcd_wire_request(s->wire, m, log_reply, s) != 0;
}

/* Split extents into messages of at most DCD_MAX_EXTENTS, chained by MORE. */
static bool send_extents(Session *s, GPtrArray *extents, bool offer,
                         uint64_t id, uint16_t flags)
{
    unsigned n = extents->len;
    g_autofree struct dcd_extent *w = g_new0(struct dcd_extent, MAX(n, 1));

    for (unsigned i = 0; i < n; i++) {
        dcd_extent_to_wire(extents->pdata[i], &w[i]);
    }
    /* No reply comes: the host answers with ACCEPT or RELEASED. */
    for (unsigned i = 0; i < n; i += DCD_MAX_EXTENTS) {
        unsigned cnt = MIN(n - i, DCD_MAX_EXTENTS);
        uint16_t f = flags | (i + cnt < n ? DCD_GROUP_MORE : 0);
        DcdMsg *m = offer ? dcd_msg_new_offer(0, id, f, w + i, cnt) :
                            dcd_msg_new_release(0, id, f, w + i, cnt);

        if (!dcd_wire_send(s->wire, m)) {
            return false;
        }
    }
    return true;
}

static bool link_send_offer(gpointer link, uint64_t group, GPtrArray *ext)
{
    return send_extents(link, ext, true, group, 0);
}

static bool link_send_release(gpointer link, uint64_t id, bool forced,
                              GPtrArray *ext)
{
    return send_extents(link, ext, false, id,
                        forced ? DCD_RELEASE_FORCED : 0);
}

typedef struct Withdrawal {
    Session *s;
    uint64_t group;
} Withdrawal;

/*
 * The reply means the host's device maps nothing of the group.  Without
 * one (an ERROR, a time-out, a close) the extents stay revoking.
 */
static void withdrawn(DcdWire *w, DcdMsg *reply, const GError *err,
                      gpointer opaque)
{
    g_autofree Withdrawal *wd = opaque;

    if (reply && reply->hdr.type == DCD_MSG_WITHDRAW && wd->s->host) {
        dcd_broker_host_withdrawn(wd->s->srv->b, wd->s->host, wd->group);
    }
    log_reply(w, reply, err, wd->s);
}

static bool link_send_withdraw(gpointer link, uint64_t group)
{
    Withdrawal *wd = g_new(Withdrawal, 1);

    wd->s = link;
    wd->group = group;
    if (!dcd_wire_request(wd->s->wire, dcd_msg_new_withdraw(0, group),
                          withdrawn, wd)) {
        g_free(wd);
        return false;
    }
    return true;
}

static const DcdHostLinkOps link_ops = {
    .send_pool = link_send_pool,
    .send_offer = link_send_offer,
    .send_release = link_send_release,
    .send_withdraw = link_send_withdraw,
};

/* ---- host -> broker --------------------------------------------------- */

static void reply_result(Session *s, const DcdMsg *req, bool ok,
                         const GError *err)
{
    if (ok) {
        dcd_wire_ack(s->wire, req);
    } else {
        dcd_wire_error_gerror(s->wire, req, err);
    }
}

static void on_hello(Session *s, DcdMsg *m)
{
    struct dcd_hello *h = DCD_MSG_VIEW(m, struct dcd_hello);
    const struct dcd_hello_limits *limits = dcd_hello_limits(h);
    g_autoptr(GError) err = NULL;
    char name[DCD_NAME_LEN + 1];
    uint16_t version;
    DcdHelloArgs a;

    if (!dcd_hello_pick_version(h, &version, &err)) {
        dcd_wire_error_gerror(s->wire, m, err);
        dcd_wire_close_after_flush(s->wire, NULL);
        return;
    }
    memcpy(name, h->name, DCD_NAME_LEN);
    name[DCD_NAME_LEN] = '\0';
    a = (DcdHelloArgs) {
        .host_id = h->host_id, .name = name, .regions = h->regions,
        .nregions = h->nregions, .pid = s->pid, .uid = s->uid,
        .reconnect = h->flags & DCD_HELLO_RECONNECT,
        .version = version,
        .max_group = limits ? limits->max_group : 0,
    };
    s->host = dcd_broker_host_attach(s->srv->b, &a, &link_ops, s, &err);
    if (!s->host) {
        dcd_wire_error_gerror(s->wire, m, err);
        dcd_wire_close_after_flush(s->wire, NULL);
        g_message("pid %d: HELLO refused: %s", (int)s->pid, err->message);
        return;
    }
    g_source_remove(s->hello_timer);
    s->hello_timer = 0;
    dcd_wire_send(s->wire, dcd_msg_new_hello_reply(m->hdr.id, version,
                                                   s->srv->b->id,
                                                   s->srv->b->epoch));
    g_message("host %u (%s, pid %d) connected%s, %u DC region(s)",
              s->host->id, name, (int)s->pid,
              a.reconnect ? " again" : "", a.nregions);
}

static void ranges_from(const struct dcd_range *in, unsigned n,
                        GArray *out)
{
    for (unsigned i = 0; i < n; i++) {
        DcdDpaRange r = { .dpa = in[i].dpa, .len = in[i].len };

        g_array_append_val(out, r);
    }
}

static void on_add_req(Session *s, DcdMsg *m)
{
    struct dcd_add_req *r = DCD_MSG_VIEW(m, struct dcd_add_req);
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(DcdDpaRange));
    g_autoptr(GError) err = NULL;
    DcdAddArgs a = {
        .host_id = s->host->id, .region = r->region, .policy = r->policy,
        .by_host = true,
    };
    DcdPool *pool;
    bool ok;

    memcpy(a.tag.b, r->tag, sizeof(a.tag.b));
    ranges_from(r->ranges, r->count, ranges);
    a.ranges = (DcdDpaRange *)ranges->data;
    a.nranges = ranges->len;
    pool = dcd_broker_pool(s->srv->b, &a.tag);
    if (r->length && pool && r->length != pool->size) {
        dcd_wire_error(s->wire, m, DCD_ERR_INVAL, "length %" G_GUINT64_FORMAT
                       " is not the size of pool %s (%" G_GUINT64_FORMAT ")",
                       r->length, pool->tag_str, pool->size);
        return;
    }
    /* Two statements: argument order would let err be read unset. */
    ok = dcd_broker_extent_add(s->srv->b, &a, &err) != NULL;
    reply_result(s, m, ok, err);
}

static void on_release_req(Session *s, DcdMsg *m)
{
    struct dcd_release_req *r = DCD_MSG_VIEW(m, struct dcd_release_req);
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(DcdDpaRange));
    g_autoptr(GPtrArray) done = NULL;
    g_autoptr(GError) err = NULL;
    DcdReleaseArgs a = {
        .host_id = s->host->id, .removal = r->removal, .region = r->region,
        .forced = r->flags & DCD_RELEASE_FORCED,
    };

    memcpy(a.tag.b, r->tag, sizeof(a.tag.b));
    ranges_from(r->ranges, r->count, ranges);
    a.ranges = (DcdDpaRange *)ranges->data;
    a.nranges = ranges->len;
    done = dcd_broker_extent_release(s->srv->b, &a, &err);
    reply_result(s, m, done != NULL, err);
}

static void on_request(Session *s, DcdMsg *m)
{
    DcdBroker *b = s->srv->b;
    g_autoptr(GError) err = NULL;
    bool ok = true;

    switch (m->hdr.type) {
    case DCD_MSG_ACCEPT: {
        struct dcd_accept *a = DCD_MSG_VIEW(m, struct dcd_accept);

        ok = dcd_broker_host_accept(b, s->host, a->group, a->ranges,
                                    a->count, &err);
        break;
    }
    case DCD_MSG_RELEASED: {
        struct dcd_released *r = DCD_MSG_VIEW(m, struct dcd_released);

        ok = dcd_broker_host_released(b, s->host, r->ranges, r->count, &err);
        break;
    }
    case DCD_MSG_POOL: {
        struct dcd_pool *p = DCD_MSG_VIEW(m, struct dcd_pool);
        DcdTag tag;
        int fd = dcd_msg_take_fd(m, 0);

        memcpy(tag.b, p->tag, sizeof(tag.b));
        ok = dcd_broker_host_pool(b, s->host, &tag, p->size, p->backing, fd,
                                  &err);
        if (!ok) {
            close(fd);
        }
        break;
    }
    case DCD_MSG_HOLD: {
        struct dcd_hold *h = DCD_MSG_VIEW(m, struct dcd_hold);

        if (!s->host->reconnecting) {
            dcd_wire_error(s->wire, m, DCD_ERR_STATE, "HOLD without a"
                           " reconnecting HELLO");
            return;
        }
        dcd_broker_host_hold(b, s->host, h->extents, h->count,
                             !(h->flags & DCD_GROUP_MORE));
        break;
    }
    case DCD_MSG_ADD_REQ:
        on_add_req(s, m);
        return;
    case DCD_MSG_RELEASE_REQ:
        on_release_req(s, m);
        return;
    default:
        dcd_wire_error(s->wire, m, DCD_ERR_PROTO, "%s is not a request a"
                       " host sends", dcd_msg_type_name(m->hdr.type));
        dcd_wire_close_after_flush(s->wire, NULL);
        return;
    }
    reply_result(s, m, ok, err);
}

static void on_msg(DcdWire *w, DcdMsg *m, gpointer opaque)
{
    Session *s = opaque;

    if (m->hdr.type == DCD_MSG_ERROR) {
        /* Unsolicited: the peer says why it is about to hang up. */
        struct dcd_error *e = DCD_MSG_VIEW(m, struct dcd_error);

        g_message("%s says: %s: %.*s", who(s), dcd_err_name(e->code),
                  (int)e->text_len, e->text);
    } else if (!s->host) {
        if (m->hdr.type == DCD_MSG_HELLO) {
            on_hello(s, m);
        } else {
            dcd_wire_error(w, m, DCD_ERR_PROTO, "say HELLO first");
            dcd_wire_close_after_flush(w, NULL);
        }
    } else if (m->hdr.type == DCD_MSG_HELLO) {
        dcd_wire_error(w, m, DCD_ERR_STATE, "HELLO was already said");
    } else {
        on_request(s, m);
    }
    dcd_msg_free(m);
}

static void on_closed(DcdWire *w, const GError *why, gpointer opaque)
{
    Session *s = opaque;

    if (s->host) {
        g_message("host %u disconnected%s%s", s->host->id,
                  why ? ": " : "", why ? why->message : "");
        dcd_broker_host_detach(s->srv->b, s->host);
        s->host = NULL;
    }
    g_hash_table_remove(s->srv->sessions, s);
}

static gboolean hello_timeout(gpointer opaque)
{
    Session *s = opaque;

    s->hello_timer = 0;
    g_message("pid %d: no HELLO in %d ms; closing", (int)s->pid,
              HELLO_TIMEOUT_MS);
    dcd_wire_close(s->wire);
    return G_SOURCE_REMOVE;
}

void dcd_hostsrv_adopt(DcdHostSrv *srv, GSocket *sock, pid_t pid, uid_t uid)
{
    Session *s = g_new0(Session, 1);

    s->srv = srv;
    s->pid = pid;
    s->uid = uid;
    s->wire = dcd_wire_new(sock, NULL, on_msg, on_closed, s);
    dcd_wire_set_limits(s->wire, &srv->limits);
    s->hello_timer = g_timeout_add(HELLO_TIMEOUT_MS, hello_timeout, s);
    g_hash_table_add(srv->sessions, s);
}

static void on_accept(GSocket *sock, pid_t pid, uid_t uid, gpointer opaque)
{
    dcd_hostsrv_adopt(opaque, sock, pid, uid);
    g_object_unref(sock);
}

/* Tell a refused peer why, so its user sees more than a hang-up. */
static void on_refuse(GSocket *sock, const GError *why, gpointer opaque)
{
    g_autoptr(DcdMsg) m = dcd_msg_new_error(0, DCD_ERR_PERM, why->message);
    g_autofree uint8_t *buf = NULL;
    size_t len;

    buf = dcd_msg_encode(m, &len);
    g_socket_set_blocking(sock, FALSE);
    g_socket_send(sock, (const char *)buf, len, NULL, NULL);
}

DcdHostSrv *dcd_hostsrv_new(DcdBroker *b, const char *path,
                            const DcdPeerPolicy *pol,
                            const DcdWireLimits *limits, GError **errp)
{
    DcdHostSrv *s = g_new0(DcdHostSrv, 1);

    s->b = b;
    if (limits) {
        s->limits = *limits;
    }
    s->sessions = g_hash_table_new_full(NULL, NULL,
                                        (GDestroyNotify)session_free, NULL);
    s->listener = path ? dcd_listener_new(path, pol, on_accept, on_refuse, s,
                                          errp) : NULL;
    if (path && !s->listener) {
        dcd_hostsrv_free(s);
        return NULL;
    }
    return s;
}

void dcd_hostsrv_free(DcdHostSrv *s)
{
    GHashTableIter it;
    gpointer k;

    if (!s) {
        return;
    }
    dcd_listener_free(s->listener);
    /* Detach hosts first; freeing the wires then reports nothing more. */
    g_hash_table_iter_init(&it, s->sessions);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        Session *sess = k;

        if (sess->host) {
            dcd_broker_host_detach(s->b, sess->host);
            sess->host = NULL;
        }
    }
    g_hash_table_unref(s->sessions);
    g_free(s);
}

bool dcd_hostsrv_listen_fd(DcdHostSrv *s, int fd, const DcdPeerPolicy *pol,
                           GError **errp)
{
    g_return_val_if_fail(!s->listener, false);
    s->listener = dcd_listener_adopt(fd, pol, on_accept, on_refuse, s, errp);
    return s->listener != NULL;
}

unsigned dcd_hostsrv_sessions(const DcdHostSrv *s)
{
    return g_hash_table_size(s->sessions);
}
