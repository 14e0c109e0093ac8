/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-wire.c - one connection over a socketpair: requests and replies,
 * fd passing, malformed input, hang-up, queue overflow, timeouts and
 * keepalive, and that no fd leaks on any of those paths.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dcd/wire.h"

/* One end driven by a DcdWire, recording what it sees. */
typedef struct Side {
    DcdWire *w;
    GQueue msgs;
    GError *why;
    bool closed;
    bool ack_requests;     /* reply to every request with an empty ack */
} Side;

typedef struct Reply {
    bool done;
    DcdMsg *msg;
    GError *err;
} Reply;

static void side_msg(DcdWire *w, DcdMsg *m, gpointer opaque)
{
    Side *s = opaque;

    if (s->ack_requests) {
        dcd_wire_ack(w, m);
    }
    g_queue_push_tail(&s->msgs, m);
}

static void side_closed(DcdWire *w, const GError *why, gpointer opaque)
{
    Side *s = opaque;

    g_assert_false(s->closed); /* once only */
    s->closed = true;
    s->why = why ? g_error_copy(why) : NULL;
}

static void side_init(Side *s, int fd)
{
    g_autoptr(GSocket) sock = g_socket_new_from_fd(fd, NULL);

    memset(s, 0, sizeof(*s));
    g_queue_init(&s->msgs);
    g_assert_nonnull(sock);
    s->w = dcd_wire_new(sock, NULL, side_msg, side_closed, s);
}

static void side_fini(Side *s)
{
    dcd_wire_free(s->w);
    g_queue_clear_full(&s->msgs, (GDestroyNotify)dcd_msg_free);
    g_clear_error(&s->why);
}

static void reply_cb(DcdWire *w, DcdMsg *reply, const GError *err,
                     gpointer opaque)
{
    Reply *r = opaque;

    g_assert_false(r->done);
    r->done = true;
    r->msg = reply;
    r->err = err ? g_error_copy(err) : NULL;
}

static void reply_clear(Reply *r)
{
    dcd_msg_free(r->msg);
    g_clear_error(&r->err);
}

static gboolean flag_timeout(gpointer opaque)
{
    *(bool *)opaque = true;
    return G_SOURCE_REMOVE;
}

/* Run the default context until *cond or ms pass; true if *cond. */
static bool run_until(const bool *cond, guint ms)
{
    bool expired = false;
    guint id = g_timeout_add(ms, flag_timeout, &expired);

    while (!*cond && !expired) {
        g_main_context_iteration(NULL, TRUE);
    }
    if (!expired) {
        g_source_remove(id);
    }
    return *cond;
}

static void run_for(guint ms)
{
    bool never = false;

    run_until(&never, ms);
}

static void pair(int sv[2])
{
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
}

static unsigned count_fds(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned n = 0;

    g_assert_nonnull(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    return n;
}

/* Read one whole message from a raw socket end (blocking). */
static DcdMsg *raw_read(int fd)
{
    uint8_t hb[DCD_HDR_SIZE];
    g_autofree uint8_t *pl = NULL;
    struct dcd_hdr h;
    int fds[DCD_MAX_FDS] = { -1 };

    if (recv(fd, hb, sizeof(hb), MSG_WAITALL) != sizeof(hb)) {
        return NULL;
    }
    g_assert_true(dcd_hdr_decode(hb, &h, NULL));
    pl = g_malloc(h.len + 1);
    if (h.len) {
        g_assert_cmpint(recv(fd, pl, h.len, MSG_WAITALL), ==, h.len);
    }
    return dcd_msg_decode(&h, pl, fds, NULL);
}

static void raw_write(int fd, DcdMsg *m)
{
    size_t len;
    g_autofree uint8_t *b = dcd_msg_encode(m, &len);

    g_assert_cmpint(write(fd, b, len), ==, len);
    dcd_msg_free(m);
}

/* Send bytes with an fd attached through sendmsg. */
static void raw_send_fd(int fd, const void *buf, size_t len, int pass)
{
    char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = ctl, .msg_controllen = sizeof(ctl) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass, sizeof(int));
    g_assert_cmpint(sendmsg(fd, &mh, 0), ==, len);
}

static const DcdTag tag_a = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                14, 15, 16 } };

static void test_request_reply(void)
{
    int sv[2];
    Side a, b;
    Reply r1 = { 0 }, r2 = { 0 };
    DcdMsg *req;
    uint32_t id;

    pair(sv);
    side_init(&a, sv[0]);
    side_init(&b, sv[1]);
    b.ack_requests = true;

    id = dcd_wire_request(a.w, dcd_msg_new_add_req(0, &tag_a, 4096,
                                                   DCD_POLICY_FREE, 0, NULL,
                                                   0), reply_cb, &r1);
    g_assert_cmpuint(id, !=, 0);
    g_assert_true(run_until(&r1.done, 2000));
    g_assert_no_error(r1.err);
    g_assert_cmpuint(r1.msg->hdr.type, ==, DCD_MSG_ADD_REQ);
    g_assert_cmpuint(r1.msg->hdr.flags, ==, DCD_HDR_REPLY);
    g_assert_cmpuint(r1.msg->hdr.id, ==, id);
    g_assert_cmpuint(g_queue_get_length(&b.msgs), ==, 1);

    /* An ERROR reply reaches the request's callback too. */
    b.ack_requests = false;
    id = dcd_wire_request(a.w, dcd_msg_new_release_req(0, &tag_a,
                                                       DCD_REMOVAL_TAG, 0, 0,
                                                       NULL, 0),
                          reply_cb, &r2);
    while (g_queue_get_length(&b.msgs) < 2) {
        g_main_context_iteration(NULL, TRUE);
    }
    req = g_queue_peek_tail(&b.msgs);
    g_assert_cmpuint(req->hdr.id, ==, id);
    dcd_wire_error(b.w, req, DCD_ERR_NOENT, "no tag %d", 7);
    g_assert_true(run_until(&r2.done, 2000));
    g_assert_cmpuint(r2.msg->hdr.type, ==, DCD_MSG_ERROR);
    g_assert_cmpuint(DCD_MSG_VIEW(r2.msg, struct dcd_error)->code, ==,
                     DCD_ERR_NOENT);
    g_assert_cmpstr(DCD_MSG_VIEW(r2.msg, struct dcd_error)->text, ==,
                    "no tag 7");
    g_assert_true(dcd_wire_is_open(a.w));
    g_assert_false(a.closed || b.closed);

    /* Peer credentials are ours. */
    {
        pid_t pid;
        uid_t uid;
        gid_t gid;

        dcd_wire_peer(a.w, &pid, &uid, &gid);
        g_assert_cmpint(pid, ==, getpid());
        g_assert_cmpint(uid, ==, getuid());
        g_assert_cmpint(gid, ==, getgid());
    }
    reply_clear(&r1);
    reply_clear(&r2);
    side_fini(&a);
    side_fini(&b);
}

static void test_fd_passing(void)
{
    int sv[2];
    Side a, b;
    int mfd = memfd_create("pool", MFD_CLOEXEC);
    DcdMsg *m;
    char buf[6] = { 0 };
    int got;
    void *map;

    g_assert_cmpint(mfd, >=, 0);
    g_assert_cmpint(ftruncate(mfd, 4096), ==, 0);
    g_assert_cmpint(pwrite(mfd, "hello", 5, 0), ==, 5);
    pair(sv);
    side_init(&a, sv[0]);
    side_init(&b, sv[1]);

    /* Several messages back to back: only the POOL owns the fd. */
    g_assert_true(dcd_wire_send(a.w, dcd_msg_new(DCD_MSG_PING, 0, 0, 0)));
    g_assert_true(dcd_wire_send(a.w, dcd_msg_new_pool(0, &tag_a, 4096,
                                                      DCD_BACKING_MEMFD, 0,
                                                      mfd)));
    g_assert_true(dcd_wire_send(a.w, dcd_msg_new_hold(0, 0, NULL, 0)));
    while (g_queue_get_length(&b.msgs) < 2 && !b.closed) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_false(b.closed);
    m = g_queue_pop_head(&b.msgs);
    g_assert_cmpuint(m->hdr.type, ==, DCD_MSG_POOL);
    g_assert_cmpuint(m->hdr.nfds, ==, 1);
    got = dcd_msg_take_fd(m, 0);
    dcd_msg_free(m);
    g_assert_cmpint(got, >=, 0);
    g_assert_cmpint(pread(got, buf, 5, 0), ==, 5);
    g_assert_cmpstr(buf, ==, "hello");
    /* Shared memory: a write through the received fd shows in ours. */
    map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, got, 0);
    g_assert_true(map != MAP_FAILED);
    memcpy(map, "world", 5);
    munmap(map, 4096);
    close(got);
    m = g_queue_pop_head(&b.msgs);
    g_assert_cmpuint(m->hdr.type, ==, DCD_MSG_HOLD);
    g_assert_cmpuint(m->hdr.nfds, ==, 0);
    dcd_msg_free(m);
    side_fini(&a);
    side_fini(&b);
}

/* The wire's peer writes garbage: ERROR, then close. */
static void test_garbage(void)
{
    int sv[2];
    Side b;
    g_autoptr(DcdMsg) err = NULL;
    char junk[64];
    char c;

    memset(junk, 0x5a, sizeof(junk));
    pair(sv);
    side_init(&b, sv[1]);
    g_assert_cmpint(write(sv[0], junk, sizeof(junk)), ==, sizeof(junk));
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_PROTO);
    g_assert_nonnull(strstr(b.why->message, "bad magic"));
    err = raw_read(sv[0]);
    g_assert_nonnull(err);
    g_assert_cmpuint(err->hdr.type, ==, DCD_MSG_ERROR);
    g_assert_cmpuint(err->hdr.id, ==, 0);
    g_assert_cmpuint(DCD_MSG_VIEW(err, struct dcd_error)->code, ==,
                     DCD_ERR_PROTO);
    g_assert_nonnull(strstr(DCD_MSG_VIEW(err, struct dcd_error)->text,
                            "bad magic"));
    g_assert_cmpint(read(sv[0], &c, 1), ==, 0); /* then closed */
    g_assert_false(dcd_wire_send(b.w, dcd_msg_new(DCD_MSG_PING, 0, 0, 0)));
    side_fini(&b);
    close(sv[0]);
}

/* A valid header with a bad payload: the precise reason goes back. */
static void test_bad_payload(void)
{
    int sv[2];
    Side b;
    g_autoptr(DcdMsg) err = NULL;
    DcdMsg *m = dcd_msg_new_offer(1, 1, 0, NULL, 0);

    pair(sv);
    side_init(&b, sv[1]);
    raw_write(sv[0], m);
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_PROTO);
    err = raw_read(sv[0]);
    g_assert_cmpstr(DCD_MSG_VIEW(err, struct dcd_error)->text, ==,
                    "OFFER: count 0");
    side_fini(&b);
    close(sv[0]);
}

static void test_wrong_fd_count(void)
{
    int sv[2];
    Side b;
    DcdMsg *m;
    size_t len;
    g_autofree uint8_t *bytes = NULL;
    int mfd;

    /* An fd riding on a message that owns none. */
    pair(sv);
    side_init(&b, sv[1]);
    m = dcd_msg_new(DCD_MSG_PING, 0, 5, 0);
    bytes = dcd_msg_encode(m, &len);
    dcd_msg_free(m);
    mfd = memfd_create("x", MFD_CLOEXEC);
    raw_send_fd(sv[0], bytes, len, mfd);
    close(mfd);
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_PROTO);
    g_assert_nonnull(strstr(b.why->message, "wrong fd count"));
    side_fini(&b);
    close(sv[0]);

    /* A POOL whose fd never came. */
    pair(sv);
    side_init(&b, sv[1]);
    m = dcd_msg_new_pool(3, &tag_a, 4096, DCD_BACKING_MEMFD, 0, -1);
    raw_write(sv[0], m);
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_PROTO);
    g_assert_nonnull(strstr(b.why->message,
                            "POOL: wrong fd count: header says 1, 0 arrived"));
    side_fini(&b);
    close(sv[0]);
}

static void test_hangup(void)
{
    int sv[2];
    Side b;
    Reply r = { 0 };
    uint8_t half[10] = { 'D', 'C', 'D', 'B' };

    /* First a clean hang-up in the middle of a message. */
    pair(sv);
    side_init(&b, sv[1]);
    g_assert_cmpint(write(sv[0], half, sizeof(half)), ==, sizeof(half));
    close(sv[0]);
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_assert_nonnull(strstr(b.why->message, "in the middle of a message"));
    side_fini(&b);

    /* Then one with a request outstanding (unread data: a reset). */
    pair(sv);
    side_init(&b, sv[1]);
    g_assert_cmpuint(dcd_wire_request(b.w, dcd_msg_new(DCD_MSG_PING, 0, 0, 0),
                                      reply_cb, &r), !=, 0);
    g_assert_cmpint(write(sv[0], half, sizeof(half)), ==, sizeof(half));
    close(sv[0]);
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_assert_nonnull(strstr(b.why->message, "peer closed the connection"));
    /* The outstanding request failed, before on_closed. */
    g_assert_true(r.done);
    g_assert_null(r.msg);
    g_assert_error(r.err, DCD_ERROR, DCD_ERR_UNAVAIL);
    reply_clear(&r);
    side_fini(&b);
}

static void test_overflow(void)
{
    int sv[2];
    Side b;
    DcdWireLimits lim = { .max_queued_bytes = 64 << 10 };
    struct dcd_range rng[512] = { { 0 } };
    unsigned sent = 0;
    int mfd = memfd_create("x", MFD_CLOEXEC);

    pair(sv);
    side_init(&b, sv[1]);
    dcd_wire_set_limits(b.w, &lim);
    for (unsigned i = 0; i < G_N_ELEMENTS(rng); i++) {
        rng[i].len = 4096;
    }
    /* Nobody reads sv[0]: the kernel buffer, then our queue fills. */
    while (sent < 10000 &&
           dcd_wire_send(b.w, dcd_msg_new_released(0, rng, 512))) {
        sent++;
    }
    g_assert_cmpuint(sent, <, 10000);
    g_assert_false(dcd_wire_is_open(b.w));
    /* An fd queued behind the overflow must be closed, not leaked. */
    g_assert_false(dcd_wire_send(b.w, dcd_msg_new_pool(0, &tag_a, 1,
                                                       DCD_BACKING_MEMFD, 0,
                                                       mfd)));
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_IO);
    g_assert_nonnull(strstr(b.why->message, "send queue overflow"));
    g_assert_cmpuint(dcd_wire_queued(b.w), ==, 0);
    side_fini(&b);
    close(sv[0]);
}

static void test_request_timeout(void)
{
    int sv[2];
    Side b;
    Reply r = { 0 };
    DcdWireLimits lim = { .request_timeout_ms = 50 };
    g_autoptr(DcdMsg) req = NULL;
    gint64 t0 = g_get_monotonic_time();

    pair(sv);
    side_init(&b, sv[1]);
    dcd_wire_set_limits(b.w, &lim);
    g_assert_cmpuint(dcd_wire_request(b.w, dcd_msg_new_hold(0, 0, NULL, 0),
                                      reply_cb, &r), !=, 0);
    g_assert_true(run_until(&r.done, 2000));
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 50000);
    g_assert_null(r.msg);
    g_assert_error(r.err, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_assert_nonnull(strstr(r.err->message, "no reply within 50 ms"));
    /* The connection stays; a late reply is dropped quietly. */
    req = raw_read(sv[0]);
    raw_write(sv[0], dcd_msg_new_ack(DCD_MSG_HOLD, req->hdr.id));
    run_for(50);
    g_assert_false(b.closed);
    g_assert_true(dcd_wire_is_open(b.w));
    reply_clear(&r);
    side_fini(&b);
    close(sv[0]);
}

static void test_keepalive(void)
{
    int sv[2];
    Side a, b;
    DcdWireLimits lim = { .idle_timeout_ms = 150 };
    g_autoptr(DcdMsg) ping = NULL;
    gint64 t0;

    /* Two wires keep each other alive with PINGs well past the limit. */
    pair(sv);
    side_init(&a, sv[0]);
    side_init(&b, sv[1]);
    dcd_wire_set_limits(a.w, &lim);
    dcd_wire_set_limits(b.w, &lim);
    run_for(600);
    g_assert_false(a.closed);
    g_assert_false(b.closed);
    g_assert_cmpuint(g_queue_get_length(&a.msgs), ==, 0); /* handled inside */
    side_fini(&a);
    side_fini(&b);

    /* A silent peer: a PING is sent, then the wire gives up. */
    pair(sv);
    side_init(&b, sv[1]);
    dcd_wire_set_limits(b.w, &lim);
    t0 = g_get_monotonic_time();
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 150000);
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_assert_nonnull(strstr(b.why->message, "silent"));
    ping = raw_read(sv[0]);
    g_assert_nonnull(ping);
    g_assert_cmpuint(ping->hdr.type, ==, DCD_MSG_PING);
    side_fini(&b);
    close(sv[0]);
}

/*
 * This process stalls (stopped, or one callback running long) for longer
 * than the idle limit while its peer is alive but quiet: on waking it
 * must ping, not drop the peer for a silence it could not have heard.
 * The stall is a sleep in the test, so the order is fixed.
 */
static void test_keepalive_stall(void)
{
    int sv[2];
    Side a, b;
    DcdWireLimits lim = { .idle_timeout_ms = 300 };

    pair(sv);
    side_init(&a, sv[0]);
    side_init(&b, sv[1]);
    dcd_wire_set_limits(a.w, &lim);
    dcd_wire_set_limits(b.w, &lim);
    run_for(50);
    g_usleep(1000 * 1000);
    run_for(900);
    g_assert_false(a.closed);
    g_assert_false(b.closed);
    side_fini(&a);
    side_fini(&b);
}

/*
 * The peer kept sending while this process stalled: its bytes wait in
 * the socket when the keepalive runs, so it is not silent.
 */
static void test_keepalive_stall_bytes(void)
{
    int sv[2];
    Side b;
    DcdWireLimits lim = { .idle_timeout_ms = 300 };

    pair(sv);
    side_init(&b, sv[1]);
    dcd_wire_set_limits(b.w, &lim);
    run_for(50);
    for (unsigned i = 0; i < 4; i++) {
        g_usleep(250 * 1000);
        raw_write(sv[0], dcd_msg_new_hold(i + 1, 0, NULL, 0));
    }
    /* One turn of the loop: whatever runs first must not close. */
    g_main_context_iteration(NULL, FALSE);
    g_assert_false(b.closed);
    run_for(20);
    g_assert_no_error(b.why);
    g_assert_false(b.closed);
    g_assert_cmpuint(g_queue_get_length(&b.msgs), ==, 4);
    side_fini(&b);
    close(sv[0]);
}

/* Our own PING request from a raw peer is answered. */
static void test_ping_answered(void)
{
    int sv[2];
    Side b;
    g_autoptr(DcdMsg) rep = NULL;

    pair(sv);
    side_init(&b, sv[1]);
    raw_write(sv[0], dcd_msg_new(DCD_MSG_PING, 0, 77, 0));
    run_for(50);
    rep = raw_read(sv[0]);
    g_assert_cmpuint(rep->hdr.type, ==, DCD_MSG_PING);
    g_assert_cmpuint(rep->hdr.flags, ==, DCD_HDR_REPLY);
    g_assert_cmpuint(rep->hdr.id, ==, 77);
    side_fini(&b);
    close(sv[0]);
}

/* An unsolicited ERROR from the peer closes with its reason. */
static void test_peer_error(void)
{
    int sv[2];
    Side b;

    pair(sv);
    side_init(&b, sv[1]);
    raw_write(sv[0], dcd_msg_new_error(0, DCD_ERR_PERM, "not allowed"));
    g_assert_true(run_until(&b.closed, 2000));
    g_assert_error(b.why, DCD_ERROR, DCD_ERR_PERM);
    g_assert_nonnull(strstr(b.why->message, "not allowed"));
    side_fini(&b);
    close(sv[0]);
}

/* Freeing from inside on_closed is allowed. */
static void free_in_closed(DcdWire *w, const GError *why, gpointer opaque)
{
    *(bool *)opaque = true;
    dcd_wire_free(w);
}

static void test_free_in_closed(void)
{
    int sv[2];
    bool closed = false;
    g_autoptr(GSocket) sock = NULL;

    pair(sv);
    sock = g_socket_new_from_fd(sv[1], NULL);
    dcd_wire_new(sock, NULL, NULL, free_in_closed, &closed);
    close(sv[0]);
    g_assert_true(run_until(&closed, 2000));
}

/* Every test must leave the fd table as it found it. */
static void leak_checked(gconstpointer data)
{
    GTestFunc fn = (GTestFunc)data;
    unsigned before = count_fds();

    fn();
    run_for(10); /* let dropped sources go */
    g_assert_cmpuint(count_fds(), ==, before);
}

#define ADD(path, fn) \
    g_test_add_data_func("/wire/" path, (gconstpointer)(fn), leak_checked)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* GLib opens its wakeup fds on first use: get that done before. */
    test_ping_answered();
    run_for(10);
    ADD("request-reply", test_request_reply);
    ADD("fd-passing", test_fd_passing);
    ADD("garbage", test_garbage);
    ADD("bad-payload", test_bad_payload);
    ADD("wrong-fd-count", test_wrong_fd_count);
    ADD("hangup", test_hangup);
    ADD("overflow", test_overflow);
    ADD("request-timeout", test_request_timeout);
    ADD("keepalive", test_keepalive);
    ADD("keepalive-stall", test_keepalive_stall);
    ADD("keepalive-stall-bytes", test_keepalive_stall_bytes);
    ADD("ping-answered", test_ping_answered);
    ADD("peer-error", test_peer_error);
    ADD("free-in-closed", test_free_in_closed);
    return g_test_run();
}
