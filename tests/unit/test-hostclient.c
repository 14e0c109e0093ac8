/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-hostclient.c - the host side against a scripted broker in the same
 * process: pools, offers with bad extents, the logical view in shared_seq
 * order, releases (plain and forced), requests, and reconnect with the
 * pool hand-back and HOLD.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "dcd-client/hostclient.h"
#include "dcd/wire.h"

#define MiB (1ull << 20)

/* A scripted broker: accepts one host at a time and records messages. */
typedef struct Fake {
    GSocketService *svc;
    char *dir;
    char *path;
    GSocketConnection *conn;
    DcdWire *w;
    GQueue msgs;            /* requests from the host, replies not included */
    unsigned hellos;
    DcdErr add_reply;       /* answer to ADD_REQ */
    bool die_on_accept;     /* hang up on ACCEPT without an answer */
} Fake;

typedef struct HostEv {
    unsigned connected;
    unsigned reconnected;
    unsigned disconnected;
    unsigned accepted;
    unsigned rejected;
    unsigned released;
    unsigned forced;
    bool done;
    GError *done_err;
} HostEv;

static const DcdTag tag_a = { { 0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                13, 14, 15 } };
static const DcdTag tag_b = { { 0xbb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                13, 14, 15 } };

static gboolean flag_timeout(gpointer opaque)
{
    *(bool *)opaque = true;
    return G_SOURCE_REMOVE;
}

static void run_for(guint ms)
{
    bool expired = false;

    g_timeout_add(ms, flag_timeout, &expired);
    while (!expired) {
        g_main_context_iteration(NULL, TRUE);
    }
}

#define RUN_UNTIL(cond) \
    do { \
        gint64 end_ = g_get_monotonic_time() + 3 * G_USEC_PER_SEC; \
        while (!(cond) && g_get_monotonic_time() < end_) { \
            g_main_context_iteration(NULL, FALSE); \
            g_usleep(1000); \
        } \
        g_assert_true(cond); \
    } while (0)

static void fake_drop(Fake *f);

static gboolean drop_idle(gpointer opaque)
{
    fake_drop(opaque);
    return G_SOURCE_REMOVE;
}

static void fake_msg(DcdWire *w, DcdMsg *m, gpointer opaque)
{
    Fake *f = opaque;

    switch (m->hdr.type) {
    case DCD_MSG_ACCEPT:
        if (f->die_on_accept) {
            /* a broker killed after saving the ACCEPT, before answering */
            g_idle_add(drop_idle, f);
        } else {
            dcd_wire_ack(w, m);
        }
        break;
    case DCD_MSG_HELLO: {
        uint8_t bid[16] = { 9 };

        f->hellos++;
        dcd_wire_send(w, dcd_msg_new_hello_reply(m->hdr.id, DCD_PROTO_VERSION,
                                                  bid, 1));
        break;
    }
    case DCD_MSG_ADD_REQ:
        if (f->add_reply) {
            dcd_wire_error(w, m, f->add_reply, "no room for that");
        } else {
            dcd_wire_ack(w, m);
        }
        break;
    default:
        dcd_wire_ack(w, m);
        break;
    }
    g_queue_push_tail(&f->msgs, m);
}

static void fake_closed(DcdWire *w, const GError *why, gpointer opaque)
{
    Fake *f = opaque;

    dcd_wire_free(w);
    f->w = NULL;
    g_clear_object(&f->conn);
}

static gboolean fake_incoming(GSocketService *svc, GSocketConnection *conn,
                              GObject *src, gpointer opaque)
{
    Fake *f = opaque;

    g_assert_null(f->w);
    f->conn = g_object_ref(conn);
    f->w = dcd_wire_new(g_socket_connection_get_socket(conn), NULL,
                        fake_msg, fake_closed, f);
    return TRUE;
}

static void fake_init(Fake *f)
{
    g_autoptr(GSocketAddress) addr = NULL;

    memset(f, 0, sizeof(*f));
    g_queue_init(&f->msgs);
    f->dir = g_dir_make_tmp("hostclient-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "host.sock", NULL);
    addr = g_unix_socket_address_new(f->path);
    f->svc = g_socket_service_new();
    g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(f->svc),
                                                addr, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_DEFAULT,
                                                NULL, NULL, NULL));
    g_signal_connect(f->svc, "incoming", G_CALLBACK(fake_incoming), f);
    g_socket_service_start(f->svc);
}

static void fake_drop(Fake *f)
{
    if (f->w) {
        dcd_wire_free(f->w);
        f->w = NULL;
    }
    g_clear_object(&f->conn);
}

static void fake_fini(Fake *f)
{
    fake_drop(f);
    g_socket_service_stop(f->svc);
    g_socket_listener_close(G_SOCKET_LISTENER(f->svc));
    g_object_unref(f->svc);
    g_queue_clear_full(&f->msgs, (GDestroyNotify)dcd_msg_free);
    unlink(f->path);
    rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
}

/* Next recorded message of type (others are dropped). */
static DcdMsg *fake_next(Fake *f, DcdMsgType type)
{
    gint64 end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < end) {
        DcdMsg *m = g_queue_pop_head(&f->msgs);

        if (m && m->hdr.type == type) {
            return m;
        }
        dcd_msg_free(m);
        if (!m) {
            g_main_context_iteration(NULL, FALSE);
            g_usleep(1000);
        }
    }
    g_error("no %s message arrived", dcd_msg_type_name(type));
    return NULL;
}

static int sealed_pool(uint64_t size)
{
    int fd = memfd_create("pool", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    g_assert_cmpint(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), ==,
                    0);
    return fd;
}

static void send_pool(Fake *f, const DcdTag *tag, int fd, uint64_t size)
{
    dcd_wire_send(f->w, dcd_msg_new_pool(0, tag, size, DCD_BACKING_MEMFD,
                                         DCD_POOL_SEALED,
                                         fcntl(fd, F_DUPFD_CLOEXEC, 0)));
}

static struct dcd_extent ext(const DcdTag *tag, uint64_t dpa, uint64_t len,
                             uint16_t seq, uint64_t pool_offset)
{
    struct dcd_extent e = { .dpa = dpa, .len = len, .shared_seq = seq,
                            .pool_offset = pool_offset };

    memcpy(e.tag, tag->b, 16);
    return e;
}

/* ---- host events ---- */

static void h_connected(DcdHostClient *h, bool re, gpointer opaque)
{
    HostEv *e = opaque;

    e->connected++;
    e->reconnected += re;
}

static void h_disconnected(DcdHostClient *h, const GError *why, gpointer opaque)
{
    ((HostEv *)opaque)->disconnected++;
}

static void h_accepted(DcdHostClient *h, const DcdHostClientExtent *x, gpointer opaque)
{
    ((HostEv *)opaque)->accepted++;
}

static void h_rejected(DcdHostClient *h, const struct dcd_extent *e,
                       const char *why, gpointer opaque)
{
    g_test_message("rejected 0x%" G_GINT64_MODIFIER "x: %s", e->dpa, why);
    ((HostEv *)opaque)->rejected++;
}

static void h_released(DcdHostClient *h, const DcdHostClientExtent *x, bool forced,
                       gpointer opaque)
{
    HostEv *e = opaque;

    e->released++;
    e->forced += forced;
}

static void h_done(DcdHostClient *h, const GError *err, gpointer opaque)
{
    HostEv *e = opaque;

    e->done = true;
    e->done_err = err ? g_error_copy(err) : NULL;
}

static const DcdHostClientEvents host_events = {
    .connected = h_connected,
    .disconnected = h_disconnected,
    .accepted = h_accepted,
    .rejected = h_rejected,
    .released = h_released,
};

static const struct dcd_region regions[2] = {
    { .base = 0, .len = 64 * MiB, .block_size = 2 * MiB,
      .flags = DCD_REGION_SHARABLE },
    { .base = 1024 * MiB, .len = 64 * MiB, .block_size = 4096 },
};

static DcdHostClient *new_host(Fake *f, HostEv *ev, DcdHostClientPolicy policy,
                         bool reconnect)
{
    DcdHostClientConfig cfg = {
        .socket_path = f->path, .host_id = 4, .name = "test-host",
        .regions = regions, .nregions = 2, .policy = policy,
        .reject_tags = &tag_b, .n_reject_tags = 1, .reconnect = reconnect,
    };
    DcdHostClient *h = dcd_hostclient_new(&cfg, &host_events, ev);

    dcd_hostclient_start(h);
    RUN_UNTIL(ev->connected == 1 && f->w);
    return h;
}

static unsigned count_fds(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned n = 0;

    while (g_dir_read_name(d)) {
        n++;
    }
    return n;
}

static void test_offer_and_layout(void)
{
    Fake f;
    HostEv ev = { 0 };
    DcdHostClient *h;
    int pool = sealed_pool(8 * MiB);
    g_autoptr(DcdMsg) hello = NULL, acc = NULL, rel = NULL;
    const struct dcd_hello *hv;
    const struct dcd_accept *a;
    struct dcd_extent part1[1], part2[6];
    char buf[5] = { 0 };
    g_autoptr(GError) err = NULL;

    fake_init(&f);
    h = new_host(&f, &ev, DCD_HOST_ACCEPT_ALL, false);
    hello = fake_next(&f, DCD_MSG_HELLO);
    hv = DCD_MSG_VIEW(hello, struct dcd_hello);
    g_assert_cmpuint(hv->host_id, ==, 4);
    g_assert_cmpuint(hv->nregions, ==, 2);
    g_assert_cmpstr(hv->name, ==, "test-host");
    g_assert_cmpuint(hv->flags, ==, 0);

    send_pool(&f, &tag_a, pool, 8 * MiB);
    /* seq 1 first, at the lower DPA: layout must follow seq, not DPA. */
    part1[0] = ext(&tag_a, 0, 4 * MiB, 1, 4 * MiB);
    part2[0] = ext(&tag_a, 8 * MiB, 4 * MiB, 0, 0);
    part2[1] = ext(&tag_a, 1 * MiB, 2 * MiB, 2, 0);          /* unaligned */
    part2[2] = ext(&tag_a, 100 * MiB, 2 * MiB, 3, 0);        /* no region */
    part2[3] = ext(&tag_b, 16 * MiB, 2 * MiB, 0, 0);         /* no pool */
    part2[4] = ext(&tag_a, 2 * MiB, 2 * MiB, 4, 0);          /* overlap */
    part2[5] = ext(&tag_a, 20 * MiB, 4 * MiB, 5, 6 * MiB);   /* past pool */
    dcd_wire_send(f.w, dcd_msg_new_offer(0, 1, DCD_GROUP_MORE, part1, 1));
    dcd_wire_send(f.w, dcd_msg_new_offer(0, 1, 0, part2, 6));

    acc = fake_next(&f, DCD_MSG_ACCEPT);
    a = DCD_MSG_VIEW(acc, struct dcd_accept);
    g_assert_cmpuint(a->group, ==, 1);
    g_assert_cmpuint(a->count, ==, 2);
    g_assert_cmpuint(a->ranges[0].dpa, ==, 0);
    g_assert_cmpuint(a->ranges[1].dpa, ==, 8 * MiB);
    g_assert_cmpuint(ev.rejected, ==, 5);
    RUN_UNTIL(dcd_hostclient_count_extents(h, &tag_a) == 2);
    g_assert_cmpuint(ev.accepted, ==, 2);
    g_assert_cmpuint(dcd_hostclient_tag_size(h, &tag_a), ==, 8 * MiB);

    /* Logical 4M-2 straddles seq 0 and seq 1: pool bytes 4M-2..4M+2. */
    g_assert_true(dcd_hostclient_write(h, &tag_a, 4 * MiB - 2, "abcd", 4, NULL));
    g_assert_cmpint(pread(pool, buf, 4, 4 * MiB - 2), ==, 4);
    g_assert_cmpstr(buf, ==, "abcd");
    g_assert_cmpint(pwrite(pool, "WXYZ", 4, 6 * MiB), ==, 4);
    g_assert_true(dcd_hostclient_read(h, &tag_a, 6 * MiB, buf, 4, NULL));
    g_assert_cmpstr(buf, ==, "WXYZ");
    g_assert_false(dcd_hostclient_read(h, &tag_a, 8 * MiB - 2, buf, 4, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    /* The pool is sealed: the host cannot resize it. */
    g_assert_cmpint(ftruncate(dcd_hostclient_pool_fd(h, &tag_a), MiB), <, 0);

    /* ADD_REQ: the broker's refusal comes back as its error. */
    f.add_reply = DCD_ERR_NOSPC;
    g_assert_true(dcd_hostclient_add_request(h, &tag_b, 0, DCD_POLICY_FREE, 0,
                                       NULL, 0, h_done, &ev, NULL));
    RUN_UNTIL(ev.done);
    g_assert_error(ev.done_err, DCD_ERROR, DCD_ERR_NOSPC);
    g_clear_error(&ev.done_err);

    /* A plain release is answered with RELEASED for exactly that range. */
    dcd_wire_send(f.w, dcd_msg_new_release(0, 1, 0, part1, 1));
    rel = fake_next(&f, DCD_MSG_RELEASED);
    g_assert_cmpuint(DCD_MSG_VIEW(rel, struct dcd_released)->count, ==, 1);
    g_assert_cmpuint(DCD_MSG_VIEW(rel, struct dcd_released)->ranges[0].len,
                     ==, 4 * MiB);
    g_assert_cmpuint(dcd_hostclient_count_extents(h, &tag_a), ==, 1);
    g_assert_cmpuint(dcd_hostclient_tag_size(h, &tag_a), ==, 4 * MiB);

    /* A forced one is dropped at once and, in version 2, confirmed. */
    dcd_wire_send(f.w, dcd_msg_new_release(0, 2, DCD_RELEASE_FORCED,
                                           part2, 1));
    RUN_UNTIL(ev.forced == 1);
    g_assert_cmpuint(dcd_hostclient_holds_tag(h, &tag_a), ==, 0);
    g_clear_pointer(&rel, dcd_msg_free);
    rel = fake_next(&f, DCD_MSG_RELEASED);
    g_assert_cmpuint(DCD_MSG_VIEW(rel, struct dcd_released)->count, ==, 1);
    g_assert_cmpuint(DCD_MSG_VIEW(rel, struct dcd_released)->ranges[0].dpa,
                     ==, part2[0].dpa);

    dcd_hostclient_free(h);
    fake_fini(&f);
    close(pool);
}

static void test_policies(void)
{
    Fake f;
    HostEv ev = { 0 };
    DcdHostClient *h;
    int pa = sealed_pool(4 * MiB), pb = sealed_pool(4 * MiB);
    g_autoptr(DcdMsg) acc1 = NULL, acc2 = NULL;
    struct dcd_extent ea = ext(&tag_a, 0, 4 * MiB, 0, 0);
    struct dcd_extent eb = ext(&tag_b, 4 * MiB, 4 * MiB, 0, 0);
    const GPtrArray *groups;

    /* Reject-tags: tag_b is refused, tag_a taken. */
    fake_init(&f);
    h = new_host(&f, &ev, DCD_HOST_REJECT_TAGS, false);
    send_pool(&f, &tag_a, pa, 4 * MiB);
    send_pool(&f, &tag_b, pb, 4 * MiB);
    dcd_wire_send(f.w, dcd_msg_new_offer(0, 7, DCD_GROUP_MORE, &eb, 1));
    dcd_wire_send(f.w, dcd_msg_new_offer(0, 7, 0, &ea, 1));
    acc1 = fake_next(&f, DCD_MSG_ACCEPT);
    g_assert_cmpuint(DCD_MSG_VIEW(acc1, struct dcd_accept)->count, ==, 1);
    g_assert_cmpuint(DCD_MSG_VIEW(acc1, struct dcd_accept)->ranges[0].dpa,
                     ==, 0);
    dcd_hostclient_free(h);
    fake_fini(&f);

    /* Manual: nothing is answered until told; reject sends count 0. */
    memset(&ev, 0, sizeof(ev));
    fake_init(&f);
    h = new_host(&f, &ev, DCD_HOST_MANUAL, false);
    send_pool(&f, &tag_a, pa, 4 * MiB);
    dcd_wire_send(f.w, dcd_msg_new_offer(0, 9, 0, &ea, 1));
    groups = dcd_hostclient_groups(h);
    RUN_UNTIL(groups->len == 1);
    run_for(50);
    for (GList *l = f.msgs.head; l; l = l->next) {
        g_assert_cmpuint(((DcdMsg *)l->data)->hdr.type, !=, DCD_MSG_ACCEPT);
    }
    g_assert_false(dcd_hostclient_reject(h, 10, NULL));
    g_assert_true(dcd_hostclient_reject(h, 9, NULL));
    acc2 = fake_next(&f, DCD_MSG_ACCEPT);
    g_assert_cmpuint(DCD_MSG_VIEW(acc2, struct dcd_accept)->group, ==, 9);
    g_assert_cmpuint(DCD_MSG_VIEW(acc2, struct dcd_accept)->count, ==, 0);
    g_assert_cmpuint(groups->len, ==, 0);
    dcd_hostclient_free(h);
    fake_fini(&f);
    close(pa);
    close(pb);
}

static void test_reconnect(void)
{
    Fake f;
    HostEv ev = { 0 };
    DcdHostClient *h;
    int pool = sealed_pool(4 * MiB);
    struct dcd_extent e = ext(&tag_a, 2 * MiB, 4 * MiB, 0, 0);
    g_autoptr(DcdMsg) hello = NULL, pm = NULL, hold = NULL;
    struct stat a, b;
    char buf[4] = { 0 };

    fake_init(&f);
    h = new_host(&f, &ev, DCD_HOST_ACCEPT_ALL, true);
    send_pool(&f, &tag_a, pool, 4 * MiB);
    dcd_wire_send(f.w, dcd_msg_new_offer(0, 1, 0, &e, 1));
    RUN_UNTIL(dcd_hostclient_count_extents(h, &tag_a) == 1);

    /* The broker goes away; the host keeps its mapping. */
    fake_drop(&f);
    g_queue_clear_full(&f.msgs, (GDestroyNotify)dcd_msg_free);
    RUN_UNTIL(ev.disconnected == 1);
    g_assert_true(dcd_hostclient_write(h, &tag_a, 0, "xyz", 3, NULL));

    /* It comes back: HELLO(reconnect), then the pool fd, then HOLD. */
    RUN_UNTIL(ev.reconnected == 1);
    hello = fake_next(&f, DCD_MSG_HELLO);
    g_assert_cmpuint(DCD_MSG_VIEW(hello, struct dcd_hello)->flags, ==,
                     DCD_HELLO_RECONNECT);
    pm = fake_next(&f, DCD_MSG_POOL);
    g_assert_cmpuint(pm->hdr.nfds, ==, 1);
    g_assert_cmpint(fstat(pm->fds[0], &a), ==, 0);
    g_assert_cmpint(fstat(pool, &b), ==, 0);
    g_assert_cmpuint(a.st_ino, ==, b.st_ino);
    g_assert_cmpint(pread(pm->fds[0], buf, 3, 0), ==, 3);
    g_assert_cmpstr(buf, ==, "xyz");
    hold = fake_next(&f, DCD_MSG_HOLD);
    g_assert_cmpuint(DCD_MSG_VIEW(hold, struct dcd_hold)->count, ==, 1);
    g_assert_cmpuint(DCD_MSG_VIEW(hold, struct dcd_hold)->extents[0].dpa, ==,
                     2 * MiB);
    g_assert_cmpuint(DCD_MSG_VIEW(hold, struct dcd_hold)->flags, ==, 0);
    g_assert_cmpuint(dcd_hostclient_count_extents(h, &tag_a), ==, 1);

    dcd_hostclient_free(h);
    fake_fini(&f);
    close(pool);
}

/*
 * The broker dies between reading an ACCEPT and answering it: the host
 * keeps the extent (the broker may have saved it and told its client)
 * and lists it in its HOLD; an ERROR answer would have dropped it.
 */
static void test_accept_unanswered(void)
{
    Fake f;
    HostEv ev = { 0 };
    DcdHostClient *h;
    int pool = sealed_pool(4 * MiB);
    struct dcd_extent e = ext(&tag_a, 2 * MiB, 4 * MiB, 0, 0);
    g_autoptr(DcdMsg) hold = NULL;

    fake_init(&f);
    f.die_on_accept = true;
    h = new_host(&f, &ev, DCD_HOST_ACCEPT_ALL, true);
    send_pool(&f, &tag_a, pool, 4 * MiB);
    dcd_wire_send(f.w, dcd_msg_new_offer(0, 1, 0, &e, 1));
    RUN_UNTIL(ev.disconnected == 1);
    g_assert_cmpuint(dcd_hostclient_count_extents(h, &tag_a), ==, 1);
    g_assert_cmpuint(ev.rejected, ==, 0);
    g_assert_true(dcd_hostclient_write(h, &tag_a, 0, "abc", 3, NULL));
    f.die_on_accept = false;
    g_queue_clear_full(&f.msgs, (GDestroyNotify)dcd_msg_free);
    RUN_UNTIL(ev.reconnected == 1);
    hold = fake_next(&f, DCD_MSG_HOLD);
    g_assert_cmpuint(DCD_MSG_VIEW(hold, struct dcd_hold)->count, ==, 1);
    g_assert_cmpuint(DCD_MSG_VIEW(hold, struct dcd_hold)->extents[0].dpa, ==,
                     2 * MiB);
    dcd_hostclient_free(h);
    fake_fini(&f);
    close(pool);
}

/*
 * An offer the broker's death cut off goes with its session, and so does
 * a pool given only for it: a stale fd must not be handed back.
 */
static void test_cut_offer_forgets_pool(void)
{
    Fake f;
    HostEv ev = { 0 };
    DcdHostClient *h;
    int pool = sealed_pool(4 * MiB);
    struct dcd_extent e = ext(&tag_a, 2 * MiB, 4 * MiB, 0, 0);
    g_autoptr(DcdMsg) hello = NULL;

    fake_init(&f);
    h = new_host(&f, &ev, DCD_HOST_MANUAL, true);
    send_pool(&f, &tag_a, pool, 4 * MiB);
    dcd_wire_send(f.w, dcd_msg_new_offer(0, 1, 0, &e, 1));
    RUN_UNTIL(dcd_hostclient_groups(h)->len == 1);
    fake_drop(&f);
    g_queue_clear_full(&f.msgs, (GDestroyNotify)dcd_msg_free);
    RUN_UNTIL(ev.disconnected == 1);
    g_assert_cmpint(dcd_hostclient_pool_fd(h, &tag_a), ==, -1);
    /* holding nothing, it comes back as a fresh host */
    RUN_UNTIL(ev.connected == 2);
    hello = fake_next(&f, DCD_MSG_HELLO);
    g_assert_cmpuint(DCD_MSG_VIEW(hello, struct dcd_hello)->flags, ==, 0);
    dcd_hostclient_free(h);
    fake_fini(&f);
    close(pool);
}

static void leak_checked(gconstpointer data)
{
    GTestFunc fn = (GTestFunc)data;
    unsigned before = count_fds();

    fn();
    run_for(20);
    g_assert_cmpuint(count_fds(), ==, before);
}

static void warm_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    g_autoptr(GSocketConnection) c = NULL;

    c = g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, NULL);
    *(bool *)opaque = true;
}

/* GLib starts its worker thread (with an eventfd) on first connect. */
static void warm_up(void)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new("/nonexistent");
    bool done = false;

    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(addr), NULL,
                                  warm_done, &done);
    while (!done) {
        g_main_context_iteration(NULL, TRUE);
    }
    run_for(1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    warm_up();
    g_test_add_data_func("/hostclient/offer-and-layout",
                         (gconstpointer)test_offer_and_layout, leak_checked);
    g_test_add_data_func("/hostclient/policies",
                         (gconstpointer)test_policies, leak_checked);
    g_test_add_data_func("/hostclient/reconnect",
                         (gconstpointer)test_reconnect, leak_checked);
    g_test_add_data_func("/hostclient/cut-offer-forgets-pool",
                         (gconstpointer)test_cut_offer_forgets_pool,
                         leak_checked);
    g_test_add_data_func("/hostclient/accept-unanswered",
                         (gconstpointer)test_accept_unanswered, leak_checked);
    return g_test_run();
}
