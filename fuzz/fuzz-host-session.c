/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-host-session - one host's session with the broker, end to end:
 * wire.c's framing and fd FIFO, hostsrv.c's handshake and dispatch, and
 * broker.c's extent state machine behind them.
 *
 * A fresh broker per input (no state dir) with pools under fixed tags
 * (fuzz.h) and a host server with no listener; the session is adopted on
 * one end of a socketpair, the fuzzer plays the host on the other.  The
 * input is a script of ops, each a byte (taken modulo HS__MAX) and its
 * arguments; an argument past the end of the input reads as 0:
 *
 *   SEND       u16 len, bytes        write the bytes as they are
 *   SEND_FD    u8 kind, u16 len, bytes  the same, with fds (SCM_RIGHTS)
 *                                    on the first byte: kind bits 0-1 pick
 *                                    a fresh memfd, a pool fd the broker
 *                                    sent, a pipe or /dev/null; bits 2-4 a
 *                                    size or pool; bit 5 seals the memfd;
 *                                    bits 6-7 the count (1, 1, 2 or 9)
 *   HELLO      u8                    a valid HELLO: bits 0-1 host id, bit 2
 *                                    RECONNECT, bits 3-4 a region layout,
 *                                    bit 5 limits (version 3): at most
 *                                    1 + bits 6-7 extents in a group
 *   POOL_NEW   u8                    FM: pool-create (tag, size, backing,
 *                                    requesters from the bits)
 *   POOL_DEL   u8                    FM: pool-destroy of tag (u8 % 4)
 *   ADD        u8 host, u8 tag, u8 region, u8 policy, u8 n, n x (u16 off,
 *                                    u16 len) in 4 KiB blocks: FM extent-add
 *   RELEASE    u8 host, u8 tag, u8 flags, u8 region, u8 n, ranges as ADD:
 *                                    FM extent-release (flags bit 0
 *                                    prescriptive, bit 1 forced)
 *   ACCEPT     u8 mode               ACCEPT the last complete OFFER group:
 *                                    all, none, every other or the first;
 *                                    bit 2 names the wrong group, bit 3
 *                                    repeats a range
 *   RELEASED   u8 mode               RELEASED: the last RELEASE's extents,
 *                                    its first only, or all held ones
 *   HOLD       u8 mode               HOLD of the held extents (bit 0 MORE,
 *                                    bit 1 only the first half)
 *   RECONNECT                        hang up, let the broker notice, and
 *                                    start a new session
 *   PUMP                             run the main loop until it is idle
 *   POOL_BACK  u8                    hand a pool fd the broker sent back
 *                                    (POOL request, host -> broker)
 *   HANG_UP                          hang up at once, before the broker
 *                                    has read what was sent (a request
 *                                    and the end of the connection reach
 *                                    it together; its reply finds no
 *                                    peer), and start a new session
 *
 * What the broker sends is read after each op and must decode with the
 * protocol's own checks (a broker must never send a malformed message);
 * POOL, PING and WITHDRAW requests are acknowledged as a host would
 * (the HELLO speaks version 2: forced releases wait for RELEASED), and OFFER and
 * RELEASE groups are remembered for ACCEPT, RELEASED and HOLD.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "server/hostsrv.h"

#define BLOCK 4096
#define MAX_RANGES 4
#define CMSG_FDS 16

static const uint64_t pool_sizes[8] = {
    4096, 65536, 1 << 20, 2 << 20, 4 << 20, 16 << 20, 3 * 4096,
    (2 << 20) + 4096,
};

#define MB (1ull << 20)
static const struct dcd_region layouts[4][2] = {
    { { .base = 0, .len = 64 * MB, .block_size = 4096,
        .flags = DCD_REGION_SHARABLE } },
    { { .base = 0, .len = 16 * MB, .block_size = 65536,
        .flags = DCD_REGION_SHARABLE },
      { .base = 16 * MB, .len = 16 * MB, .block_size = 4096 } },
    { { .base = 1ull << 40, .len = 1ull << 30, .block_size = 2 * MB,
        .flags = DCD_REGION_SHARABLE } },
    { { .base = 0, .len = 2 * MB, .block_size = 2 * MB } },
};
static const unsigned layout_n[4] = { 1, 2, 1, 1 };

/* A pool fd the broker handed us. */
typedef struct HeldPool {
    uint8_t tag[16];
    uint64_t size;
    uint32_t backing;
    uint32_t flags;
    int fd;
} HeldPool;

typedef struct Fx {
    DcdBroker *b;
    DcdHostSrv *srv;
    int sock;                 /* our end; -1 between sessions */
    GByteArray *rbuf;
    GQueue rfds;              /* fds received, not yet claimed */
    uint32_t next_id;

    GArray *offer;            /* struct dcd_extent: group being received */
    uint64_t offer_group;
    GArray *last_offer;       /* the last complete group */
    uint64_t last_group;
    GArray *release;          /* a RELEASE chain being received */
    GArray *last_release;
    GArray *held;             /* extents we accepted */
    HeldPool pools[FUZZ_NTAGS];
} Fx;

static int devnull = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init_logging();
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    return 0;
}

/* ---- talking to the broker ------------------------------------------- */

static void send_msg(Fx *fx, DcdMsg *m)
{
    g_autofree uint8_t *buf = NULL;
    int fd = m->hdr.nfds ? dcd_msg_take_fd(m, 0) : -1;
    size_t len;

    if (!m->hdr.id && m->hdr.type != DCD_MSG_ERROR) {
        m->hdr.id = fx->next_id++;
    }
    buf = dcd_msg_encode(m, &len);
    if (fx->sock >= 0) {
        fuzz_write(fx->sock, buf, len, &fd, fd >= 0);
    }
    if (fd >= 0) {
        close(fd);
    }
    dcd_msg_free(m);
}

static void remove_held(Fx *fx, uint64_t dpa, uint64_t len)
{
    for (guint i = 0; i < fx->held->len; i++) {
        struct dcd_extent *e = &g_array_index(fx->held, struct dcd_extent, i);

        if (e->dpa == dpa && e->len == len) {
            g_array_remove_index(fx->held, i);
            return;
        }
    }
}

static void keep_pool(Fx *fx, DcdMsg *m)
{
    struct dcd_pool *p = DCD_MSG_VIEW(m, struct dcd_pool);
    HeldPool *slot = &fx->pools[0];

    /* The slot of the same tag, else the first free one, else slot 0. */
    for (unsigned i = 0; i < FUZZ_NTAGS; i++) {
        if (fx->pools[i].fd >= 0 && !memcmp(fx->pools[i].tag, p->tag, 16)) {
            slot = &fx->pools[i];
            break;
        }
        if (fx->pools[i].fd < 0 && slot->fd >= 0) {
            slot = &fx->pools[i];
        }
    }
    if (slot->fd >= 0) {
        close(slot->fd);
    }
    memcpy(slot->tag, p->tag, 16);
    slot->size = p->size;
    slot->backing = p->backing;
    slot->flags = p->flags;
    slot->fd = dcd_msg_take_fd(m, 0);
}

/* Collect a group chained with MORE; done when the last part arrives. */
static void collect(GArray *cur, uint64_t *cur_id, uint64_t id,
                    const struct dcd_extent *e, unsigned n, bool more,
                    GArray *last, uint64_t *last_id)
{
    if (cur->len && *cur_id != id) {
        g_array_set_size(cur, 0);
    }
    *cur_id = id;
    g_array_append_vals(cur, e, n);
    if (!more) {
        g_array_set_size(last, 0);
        g_array_append_vals(last, cur->data, cur->len);
        *last_id = id;
        g_array_set_size(cur, 0);
    }
}

/* With FUZZ_VERBOSE, what the broker says (to debug a reproducer). */
static bool verbose(void)
{
    static int on = -1;

    if (on < 0) {
        on = g_getenv("FUZZ_VERBOSE") != NULL;
    }
    return on;
}

/* ... and why the FM's requests were refused */
static void trace_fm(const char *what, const GError *err)
{
    if (verbose() && err) {
        g_printerr("fm: %s: %s: %s\n", what, dcd_err_name(err->code),
                   err->message);
    }
}

static void trace(const DcdMsg *m)
{
    if (!verbose()) {
        return;
    }
    if (m->hdr.type == DCD_MSG_ERROR) {
        struct dcd_error *e = DCD_MSG_VIEW(m, struct dcd_error);

        g_printerr("broker: ERROR id %u %s: %s\n", m->hdr.id,
                   dcd_err_name(e->code), e->text);
    } else {
        g_printerr("broker: %s%s id %u count %u\n",
                   dcd_msg_type_name(m->hdr.type),
                   m->hdr.flags & DCD_HDR_REPLY ? " reply" : "", m->hdr.id,
                   dcd_msg_count(m));
    }
}

static void on_broker_msg(Fx *fx, DcdMsg *m)
{
    trace(m);
    if (m->hdr.flags & DCD_HDR_REPLY) {
        return;
    }
    switch (m->hdr.type) {
    case DCD_MSG_PING:
        send_msg(fx, dcd_msg_new_ack(DCD_MSG_PING, m->hdr.id));
        break;
    case DCD_MSG_POOL:
        keep_pool(fx, m);
        send_msg(fx, dcd_msg_new_ack(DCD_MSG_POOL, m->hdr.id));
        break;
    case DCD_MSG_WITHDRAW:
        send_msg(fx, dcd_msg_new_ack(DCD_MSG_WITHDRAW, m->hdr.id));
        break;
    case DCD_MSG_OFFER: {
        struct dcd_offer *o = DCD_MSG_VIEW(m, struct dcd_offer);

        collect(fx->offer, &fx->offer_group, o->group, o->extents, o->count,
                o->flags & DCD_GROUP_MORE, fx->last_offer, &fx->last_group);
        break;
    }
    case DCD_MSG_RELEASE: {
        struct dcd_release *r = DCD_MSG_VIEW(m, struct dcd_release);
        uint64_t unused;

        if (r->flags & DCD_RELEASE_FORCED) {
            for (unsigned i = 0; i < r->count; i++) {
                remove_held(fx, r->extents[i].dpa, r->extents[i].len);
            }
            break;
        }
        collect(fx->release, &unused, r->id, r->extents, r->count,
                r->flags & DCD_GROUP_MORE, fx->last_release, &unused);
        break;
    }
    default:
        FUZZ_CHECK(m->hdr.type == DCD_MSG_ERROR, "broker sent a %s request",
                   dcd_msg_type_name(m->hdr.type));
    }
}

/* Everything the broker sends must pass the protocol's own checks. */
static void parse_input(Fx *fx)
{
    size_t off = 0;

    while (fx->rbuf->len - off >= DCD_HDR_SIZE) {
        g_autoptr(GError) err = NULL;
        const uint8_t *p = fx->rbuf->data + off;
        int fds[DCD_MAX_FDS] = { -1 };
        struct dcd_hdr h;
        DcdMsg *m;

        FUZZ_CHECK(dcd_hdr_decode(p, &h, &err), "broker sent a bad header:"
                   " %s", err->message);
        if (fx->rbuf->len - off - DCD_HDR_SIZE < h.len) {
            break;
        }
        FUZZ_CHECK(g_queue_get_length(&fx->rfds) >= h.nfds,
                   "broker sent %s without its fd", dcd_msg_type_name(h.type));
        for (unsigned i = 0; i < h.nfds; i++) {
            fds[i] = GPOINTER_TO_INT(g_queue_pop_head(&fx->rfds));
        }
        m = dcd_msg_decode(&h, p + DCD_HDR_SIZE, fds, &err);
        FUZZ_CHECK(m, "broker sent a malformed message: %s", err->message);
        off += DCD_HDR_SIZE + h.len;
        on_broker_msg(fx, m);
        dcd_msg_free(m);
    }
    g_byte_array_remove_range(fx->rbuf, 0, off);
}

/* Read what the broker sent; true if there was anything. */
static bool drain(gpointer opaque)
{
    Fx *fx = opaque;
    bool any = false;

    while (fx->sock >= 0) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * CMSG_FDS)];
        } ctl;
        uint8_t buf[16384];
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        ssize_t n = recvmsg(fx->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n <= 0) {
            break; /* EAGAIN, or the broker hung up */
        }
        any = true;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
             c = CMSG_NXTHDR(&mh, c)) {
            unsigned nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            for (unsigned i = 0; i < nfd; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                g_queue_push_tail(&fx->rfds, GINT_TO_POINTER(fd));
            }
        }
        g_byte_array_append(fx->rbuf, buf, n);
        parse_input(fx);
    }
    return any;
}

static void pump(Fx *fx)
{
    fuzz_pump(drain, fx);
}

static void close_rfds(Fx *fx)
{
    while (!g_queue_is_empty(&fx->rfds)) {
        close(GPOINTER_TO_INT(g_queue_pop_head(&fx->rfds)));
    }
}

static void session_start(Fx *fx)
{
    g_autoptr(GSocket) theirs = NULL;

    fuzz_socketpair(&fx->sock, &theirs);
    dcd_hostsrv_adopt(fx->srv, theirs, getpid(), getuid());
}

static void session_end(Fx *fx)
{
    /* Hang up once the broker has read what was sent. */
    pump(fx);
    if (fx->sock >= 0) {
        close(fx->sock);
        fx->sock = -1;
    }
    pump(fx);
    close_rfds(fx);
    g_byte_array_set_size(fx->rbuf, 0);
    /* Unanswered offers die with the session; held extents stay. */
    g_array_set_size(fx->offer, 0);
    g_array_set_size(fx->last_offer, 0);
    g_array_set_size(fx->release, 0);
    g_array_set_size(fx->last_release, 0);
}

/* ---- ops -------------------------------------------------------------- */

static int memfd_of(uint64_t size, bool sealed)
{
    int fd = memfd_create("fuzz-pool", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    FUZZ_CHECK(fd >= 0, "memfd_create: %s", g_strerror(errno));
    if (ftruncate(fd, size) == 0 && sealed) {
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    }
    return fd;
}

static void op_send_fd(Fx *fx, FuzzIn *in)
{
    static const unsigned counts[4] = { 1, 1, 2, 9 };
    uint8_t kind = fuzz_u8(in);
    unsigned pick = (kind >> 2) & 7;
    unsigned n = counts[kind >> 6];
    int fds[9];
    int fd = -1;
    size_t len;
    const uint8_t *bytes = fuzz_bytes(in, fuzz_u16(in), &len);

    switch (kind & 3) {
    case 1:
        if (fx->pools[pick % FUZZ_NTAGS].fd >= 0) {
            fd = dup(fx->pools[pick % FUZZ_NTAGS].fd);
            break;
        }
        /* fall through - no such pool fd, so a memfd */
    case 0:
        fd = memfd_of(pool_sizes[pick], kind & 0x20);
        break;
    case 2: {
        int p[2];

        FUZZ_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", g_strerror(errno));
        close(p[1]);
        fd = p[0];
        break;
    }
    default:
        fd = dup(devnull);
    }
    FUZZ_CHECK(fd >= 0, "no fd: %s", g_strerror(errno));
    fds[0] = fd;
    for (unsigned i = 1; i < n; i++) {
        fds[i] = dup(fd);
    }
    if (fx->sock >= 0 && len) {
        fuzz_write(fx->sock, bytes, len, fds, n);
    }
    for (unsigned i = 0; i < n; i++) {
        close(fds[i]);
    }
}

static void op_hello(Fx *fx, uint8_t v)
{
    unsigned l = (v >> 3) & 3;
    DcdMsg *m = dcd_msg_new_hello(0, v & 3, "fuzz-host", layouts[l],
                                  layout_n[l],
                                  v & 4 ? DCD_HELLO_RECONNECT : 0);

    if (v & 0x20) {
        dcd_msg_hello_set_limits(m, 1 + (v >> 6));
    }
    send_msg(fx, m);
}

static void op_pool_new(Fx *fx, uint8_t v)
{
    static const DcdBacking backings[4] = {
        DCD_BACKING_MEMFD, DCD_BACKING_FILE, DCD_BACKING_HUGETLB,
        DCD_BACKING_MEMFD,
    };
    g_autoptr(GArray) req = NULL;
    DcdTag tag;

    fuzz_tag(v & 3, &tag);
    if (v & 0x80) {
        uint16_t one = 1;

        req = g_array_new(FALSE, FALSE, sizeof(uint16_t));
        g_array_append_val(req, one);
    }
    dcd_broker_pool_create(fx->b, &tag, pool_sizes[(v >> 2) & 7],
                           backings[(v >> 5) & 3], req, NULL);
}

static unsigned read_ranges(FuzzIn *in, DcdDpaRange *r)
{
    unsigned n = fuzz_u8(in) % (MAX_RANGES + 1);

    for (unsigned i = 0; i < n; i++) {
        r[i].dpa = (uint64_t)fuzz_u16(in) * BLOCK;
        r[i].len = (uint64_t)fuzz_u16(in) * BLOCK;
    }
    return n;
}

static void op_add(Fx *fx, FuzzIn *in)
{
    DcdDpaRange r[MAX_RANGES];
    DcdAddArgs a = { .host_id = fuzz_u8(in) & 7 };
    g_autoptr(GError) err = NULL;

    fuzz_tag(fuzz_u8(in), &a.tag);
    a.region = fuzz_u8(in) % DCD_MAX_REGIONS;
    a.policy = fuzz_u8(in) % DCD_POLICY__MAX;
    a.nranges = read_ranges(in, r);
    a.ranges = r;
    dcd_broker_extent_add(fx->b, &a, &err);
    trace_fm("extent-add", err);
}

static void op_release(Fx *fx, FuzzIn *in)
{
    g_autoptr(GPtrArray) done = NULL;
    DcdDpaRange r[MAX_RANGES];
    DcdReleaseArgs a = { .host_id = fuzz_u8(in) & 7 };
    uint8_t flags;

    fuzz_tag(fuzz_u8(in), &a.tag);
    flags = fuzz_u8(in);
    a.removal = flags & 1 ? DCD_REMOVAL_PRESCRIPTIVE : DCD_REMOVAL_TAG;
    a.forced = flags & 2;
    a.region = fuzz_u8(in) % DCD_MAX_REGIONS;
    a.nranges = read_ranges(in, r);
    a.ranges = r;
    done = dcd_broker_extent_release(fx->b, &a, NULL);
}

static void op_accept(Fx *fx, uint8_t mode)
{
    g_autoptr(GArray) r = g_array_new(FALSE, FALSE, sizeof(struct dcd_range));

    pump(fx);
    for (guint i = 0; i < fx->last_offer->len; i++) {
        struct dcd_extent *e = &g_array_index(fx->last_offer,
                                              struct dcd_extent, i);
        struct dcd_range rg = { .dpa = e->dpa, .len = e->len };
        bool take = (mode & 3) == 0 || ((mode & 3) == 2 && i % 2) ||
                    ((mode & 3) == 3 && i == 0);

        if (take && r->len < DCD_MAX_RANGES) {
            g_array_append_val(r, rg);
            if (!(mode & 4)) {
                g_array_append_val(fx->held, *e);
            }
        }
    }
    if ((mode & 8) && r->len && r->len < DCD_MAX_RANGES) {
        struct dcd_range again = g_array_index(r, struct dcd_range, 0);

        g_array_append_val(r, again);
    }
    send_msg(fx, dcd_msg_new_accept(0, fx->last_group + !!(mode & 4),
                                    (struct dcd_range *)r->data, r->len));
    g_array_set_size(fx->last_offer, 0);
}

static void op_released(Fx *fx, uint8_t mode)
{
    g_autoptr(GArray) r = g_array_new(FALSE, FALSE, sizeof(struct dcd_range));
    GArray *from = (mode & 3) == 2 ? fx->held : fx->last_release;

    pump(fx);
    for (guint i = 0; i < from->len && r->len < DCD_MAX_RANGES; i++) {
        struct dcd_extent *e = &g_array_index(from, struct dcd_extent, i);
        struct dcd_range rg = { .dpa = e->dpa, .len = e->len };

        if ((mode & 3) == 1 && i) {
            break;
        }
        g_array_append_val(r, rg);
    }
    for (guint i = 0; i < r->len; i++) {
        struct dcd_range *rg = &g_array_index(r, struct dcd_range, i);

        remove_held(fx, rg->dpa, rg->len);
    }
    if (r->len) {
        send_msg(fx, dcd_msg_new_released(0, (struct dcd_range *)r->data,
                                          r->len));
    }
    g_array_set_size(fx->last_release, 0);
}

static void op_hold(Fx *fx, uint8_t mode)
{
    unsigned n = MIN(fx->held->len, DCD_MAX_EXTENTS);

    pump(fx);
    if (mode & 2) {
        n /= 2;
    }
    send_msg(fx, dcd_msg_new_hold(0, mode & 1 ? DCD_GROUP_MORE : 0,
                                  (struct dcd_extent *)fx->held->data, n));
}

static void op_pool_back(Fx *fx, uint8_t v)
{
    HeldPool *p = &fx->pools[v % FUZZ_NTAGS];
    DcdTag tag;

    pump(fx);
    if (p->fd < 0) {
        return;
    }
    memcpy(tag.b, p->tag, 16);
    send_msg(fx, dcd_msg_new_pool(0, &tag, p->size, p->backing, p->flags,
                                  dup(p->fd)));
}

static void run(Fx *fx, FuzzIn *in)
{
    while (fuzz_more(in)) {
        uint8_t op = fuzz_u8(in) % HS__MAX;
        size_t len;
        const uint8_t *bytes;

        switch (op) {
        case HS_SEND:
            bytes = fuzz_bytes(in, fuzz_u16(in), &len);
            if (fx->sock >= 0 && len) {
                fuzz_write(fx->sock, bytes, len, NULL, 0);
            }
            break;
        case HS_SEND_FD:
            op_send_fd(fx, in);
            break;
        case HS_HELLO:
            op_hello(fx, fuzz_u8(in));
            break;
        /* The FM acts on what the broker has read so far. */
        case HS_POOL_NEW:
            pump(fx);
            op_pool_new(fx, fuzz_u8(in));
            pump(fx);
            break;
        case HS_POOL_DEL: {
            DcdTag tag;

            pump(fx);
            fuzz_tag(fuzz_u8(in), &tag);
            dcd_broker_pool_destroy(fx->b, &tag, NULL);
            pump(fx);
            break;
        }
        case HS_ADD:
            pump(fx);
            op_add(fx, in);
            pump(fx);
            break;
        case HS_RELEASE:
            pump(fx);
            op_release(fx, in);
            pump(fx);
            break;
        case HS_ACCEPT:
            op_accept(fx, fuzz_u8(in));
            break;
        case HS_RELEASED:
            op_released(fx, fuzz_u8(in));
            break;
        case HS_HOLD:
            op_hold(fx, fuzz_u8(in));
            break;
        case HS_RECONNECT:
            session_end(fx);
            session_start(fx);
            break;
        case HS_PUMP:
            pump(fx);
            break;
        case HS_POOL_BACK:
            op_pool_back(fx, fuzz_u8(in));
            break;
        case HS_HANG_UP:
            if (fx->sock >= 0) {
                close(fx->sock);
                fx->sock = -1;
            }
            session_end(fx);
            session_start(fx);
            break;
        }
    }
    pump(fx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    DcdBrokerConfig cfg = { .state_dir = NULL };
    FuzzIn in = { data, size };
    Fx fx = { .sock = -1, .next_id = 1 };
    g_autoptr(GArray) one = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    uint16_t host1 = 1;
    DcdTag tag;

    if (devnull < 0) {
        LLVMFuzzerInitialize(NULL, NULL);
    }
    fx.b = dcd_broker_new(&cfg, NULL);
    FUZZ_CHECK(fx.b, "dcd_broker_new failed");
    /* Tag 0 for anyone, tag 1 only for host 1; tags 2, 3 are the FM's. */
    fuzz_tag(0, &tag);
    dcd_broker_pool_create(fx.b, &tag, 1 << 20, DCD_BACKING_MEMFD, NULL,
                           NULL);
    fuzz_tag(1, &tag);
    g_array_append_val(one, host1);
    dcd_broker_pool_create(fx.b, &tag, 4 << 20, DCD_BACKING_MEMFD, one,
                           NULL);
    fx.srv = dcd_hostsrv_new(fx.b, NULL, NULL, NULL, NULL);
    fx.rbuf = g_byte_array_new();
    g_queue_init(&fx.rfds);
    fx.offer = g_array_new(FALSE, FALSE, sizeof(struct dcd_extent));
    fx.last_offer = g_array_new(FALSE, FALSE, sizeof(struct dcd_extent));
    fx.release = g_array_new(FALSE, FALSE, sizeof(struct dcd_extent));
    fx.last_release = g_array_new(FALSE, FALSE, sizeof(struct dcd_extent));
    fx.held = g_array_new(FALSE, FALSE, sizeof(struct dcd_extent));
    for (unsigned i = 0; i < FUZZ_NTAGS; i++) {
        fx.pools[i].fd = -1;
    }

    session_start(&fx);
    run(&fx, &in);
    session_end(&fx);

    dcd_hostsrv_free(fx.srv);
    fuzz_pump(NULL, NULL);
    dcd_broker_free(fx.b);
    fuzz_pump(NULL, NULL);
    for (unsigned i = 0; i < FUZZ_NTAGS; i++) {
        if (fx.pools[i].fd >= 0) {
            close(fx.pools[i].fd);
        }
    }
    g_byte_array_unref(fx.rbuf);
    g_array_unref(fx.offer);
    g_array_unref(fx.last_offer);
    g_array_unref(fx.release);
    g_array_unref(fx.last_release);
    g_array_unref(fx.held);
    return 0;
}
