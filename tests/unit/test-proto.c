/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-proto.c - the host protocol codec: round trips of every message
 * and the structural checks a receiver relies on.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dcd/proto.h"

static const DcdTag tag_a = { { 0x5b, 0xe1, 0x3b, 0xce, 0xae, 0x34, 0x4a, 0x77,
                                0xb6, 0xc3, 0x16, 0xdf, 0x97, 0x5f, 0xcf,
                                0x1a } };

/* Encode m, then decode the bytes as a receiver would. */
static DcdMsg *wire_trip(const DcdMsg *m, GError **errp)
{
    g_autofree uint8_t *buf = NULL;
    struct dcd_hdr h;
    int fds[DCD_MAX_FDS];
    size_t len;

    buf = dcd_msg_encode(m, &len);
    g_assert_cmpuint(len, ==, DCD_HDR_SIZE + m->hdr.len);
    if (!dcd_hdr_decode(buf, &h, errp)) {
        return NULL;
    }
    for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
        fds[i] = i < m->hdr.nfds ? dup(m->fds[i]) : -1;
    }
    DcdMsg *r = dcd_msg_decode(&h, buf + DCD_HDR_SIZE, fds, errp);
    for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
        if (fds[i] >= 0) {
            g_assert_null(r); /* taken on success */
            close(fds[i]);
        }
    }
    return r;
}

static void assert_same(const DcdMsg *a, const DcdMsg *b)
{
    g_assert_cmpuint(a->hdr.type, ==, b->hdr.type);
    g_assert_cmpuint(a->hdr.flags, ==, b->hdr.flags);
    g_assert_cmpuint(a->hdr.id, ==, b->hdr.id);
    g_assert_cmpuint(a->hdr.len, ==, b->hdr.len);
    g_assert_cmpuint(a->hdr.nfds, ==, b->hdr.nfds);
    g_assert_cmpmem(a->payload, a->hdr.len, b->payload, b->hdr.len);
}

static void roundtrip(DcdMsg *m)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdMsg) r = wire_trip(m, &err);

    g_assert_no_error(err);
    g_assert_nonnull(r);
    assert_same(m, r);
    dcd_msg_free(m);
}

/* Expect decoding to fail with code and a message containing needle. */
static void expect_fail(DcdMsg *m, int code, const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdMsg) r = wire_trip(m, &err);

    g_assert_null(r);
    g_assert_error(err, DCD_ERROR, code);
    if (needle && !strstr(err->message, needle)) {
        g_error("message \"%s\" lacks \"%s\"", err->message, needle);
    }
    dcd_msg_free(m);
}

static struct dcd_extent mk_extent(uint64_t dpa, uint64_t len, uint16_t seq)
{
    struct dcd_extent e = {
        .dpa = dpa, .len = len, .shared_seq = seq, .region = 1,
        .pool_offset = 0x123456789000ull + seq,
    };

    memcpy(e.tag, tag_a.b, 16);
    return e;
}

static struct dcd_region regions2[2] = {
    { .base = 0, .len = 1ull << 32, .block_size = 2 << 20,
      .flags = DCD_REGION_SHARABLE },
    { .base = 1ull << 32, .len = 256 << 20, .block_size = 4096 },
};

static DcdMsg *mk_hello(void)
{
    return dcd_msg_new_hello(7, 3, "cxl-vmem0", regions2, 2, 0);
}

static void test_roundtrip_all(void)
{
    struct dcd_extent ext[3] = {
        mk_extent(0, 2 << 20, 0), mk_extent(4 << 20, 2 << 20, 1),
        mk_extent(8 << 20, 4 << 20, 2),
    };
    struct dcd_range rng[2] = { { 0, 2 << 20 }, { 4 << 20, 2 << 20 } };
    uint8_t bid[16] = { 1, 2, 3 };
    int fd = memfd_create("t", MFD_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    roundtrip(mk_hello());
    roundtrip(dcd_msg_new_hello(1, 0, "", regions2, 1, DCD_HELLO_RECONNECT));
    roundtrip(dcd_msg_new_hello_reply(7, DCD_PROTO_VERSION, bid, 42));
    roundtrip(dcd_msg_new_error(9, DCD_ERR_NOSPC, "no room ✓"));
    roundtrip(dcd_msg_new_error(0, DCD_ERR_PROTO, "bye"));
    roundtrip(dcd_msg_new(DCD_MSG_PING, 0, 5, 0));
    roundtrip(dcd_msg_new_ack(DCD_MSG_PING, 5));
    roundtrip(dcd_msg_new_pool(4, &tag_a, 1 << 30, DCD_BACKING_MEMFD,
                               DCD_POOL_SEALED, fd));
    roundtrip(dcd_msg_new_ack(DCD_MSG_POOL, 4));
    roundtrip(dcd_msg_new_offer(10, 77, DCD_GROUP_MORE, ext, 3));
    roundtrip(dcd_msg_new_accept(11, 77, rng, 2));
    roundtrip(dcd_msg_new_accept(11, 77, NULL, 0));
    roundtrip(dcd_msg_new_ack(DCD_MSG_ACCEPT, 11));
    roundtrip(dcd_msg_new_release(12, 5, DCD_RELEASE_FORCED, ext, 1));
    roundtrip(dcd_msg_new_released(13, rng, 1));
    roundtrip(dcd_msg_new_add_req(14, &tag_a, 0, DCD_POLICY_PRESCRIPTIVE, 1,
                                  rng, 2));
    roundtrip(dcd_msg_new_add_req(14, &tag_a, 1 << 30, DCD_POLICY_FREE, 0,
                                  NULL, 0));
    roundtrip(dcd_msg_new_release_req(15, &tag_a, DCD_REMOVAL_TAG, 0,
                                      DCD_RELEASE_FORCED, NULL, 0));
    roundtrip(dcd_msg_new_release_req(15, &tag_a, DCD_REMOVAL_PRESCRIPTIVE,
                                      0, 0, rng, 2));
    roundtrip(dcd_msg_new_hold(16, 0, ext, 3));
    roundtrip(dcd_msg_new_hold(16, 0, NULL, 0));
    roundtrip(dcd_msg_new_ack(DCD_MSG_HOLD, 16));
}

/* The bytes are little-endian at the documented offsets. */
static void test_encoding_bytes(void)
{
    struct dcd_extent e = mk_extent(0x0102030405060708ull, 0x200000, 0x0a0b);
    g_autoptr(DcdMsg) m = dcd_msg_new_offer(0x11223344, 0x99, 1, &e, 1);
    g_autofree uint8_t *b = NULL;
    size_t len;
    const uint8_t hdr[DCD_HDR_SIZE] = {
        'D', 'C', 'D', 'B', 1, 0, DCD_MSG_OFFER, 0, 0, 0, 0, 0,
        0x44, 0x33, 0x22, 0x11, 64, 0, 0, 0, 0, 0, 0, 0,
    };
    const uint8_t dpa[8] = { 8, 7, 6, 5, 4, 3, 2, 1 };
    const uint8_t *p;

    b = dcd_msg_encode(m, &len);
    g_assert_cmpuint(len, ==, 24 + 16 + 48);
    g_assert_cmpmem(b, 24, hdr, 24);
    p = b + 24;
    g_assert_cmpuint(p[0], ==, 0x99);  /* group */
    g_assert_cmpuint(p[8], ==, 1);     /* count */
    g_assert_cmpuint(p[10], ==, 1);    /* flags */
    p += 16;
    g_assert_cmpmem(p, 8, dpa, 8);
    g_assert_cmpmem(p + 16, 16, tag_a.b, 16);
    g_assert_cmpuint(p[32], ==, 0x0b); /* shared_seq low byte first */
    g_assert_cmpuint(p[33], ==, 0x0a);
    g_assert_cmpuint(p[34], ==, 1);    /* region */
}

/* Header faults: mangle the encoded bytes directly. */
static void hdr_fault(unsigned off, uint8_t val, int code, const char *needle)
{
    g_autoptr(DcdMsg) m = dcd_msg_new(DCD_MSG_PING, 0, 5, 0);
    g_autofree uint8_t *b = NULL;
    g_autoptr(GError) err = NULL;
    struct dcd_hdr h;
    size_t len;

    b = dcd_msg_encode(m, &len);
    b[off] = val;
    g_assert_false(dcd_hdr_decode(b, &h, &err));
    g_assert_error(err, DCD_ERROR, code);
    g_assert_nonnull(strstr(err->message, needle));
}

static void test_header(void)
{
    hdr_fault(0, 'X', DCD_ERR_PROTO, "bad magic");
    hdr_fault(4, 2, DCD_ERR_VERSION, "version 2");
    hdr_fault(6, 0, DCD_ERR_PROTO, "unknown message type 0");
    hdr_fault(6, DCD_MSG__MAX, DCD_ERR_PROTO, "unknown message type 13");
    hdr_fault(8, 2, DCD_ERR_PROTO, "unknown header flags");
    hdr_fault(10, 2, DCD_ERR_PROTO, "2 fds");
}

static void test_header_limits(void)
{
    g_autoptr(DcdMsg) m = dcd_msg_new(DCD_MSG_PING, 0, 5, 0);
    g_autoptr(DcdMsg) hello = mk_hello();
    g_autofree uint8_t *b = NULL;
    g_autofree uint8_t *hb = NULL;
    g_autoptr(GError) err = NULL;
    struct dcd_hdr h;
    size_t len;

    b = dcd_msg_encode(m, &len);
    /* len = 65536 is the limit and passes the header check... */
    b[16] = 0; b[17] = 0; b[18] = 1;
    g_assert_true(dcd_hdr_decode(b, &h, NULL));
    g_assert_cmpuint(h.len, ==, DCD_MAX_PAYLOAD);
    /* ...65537 does not. */
    b[16] = 1;
    g_assert_false(dcd_hdr_decode(b, &h, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_PROTO);
    g_assert_nonnull(strstr(err->message, "exceeds"));
    g_clear_error(&err);
    b[16] = 0; b[18] = 0; b[20] = 1; /* reserved */
    g_assert_false(dcd_hdr_decode(b, &h, &err));
    g_assert_nonnull(strstr(err->message, "reserved"));
    g_clear_error(&err);

    /* A HELLO request may carry any header version, a reply may not. */
    hb = dcd_msg_encode(hello, &len);
    hb[4] = 9;
    g_assert_true(dcd_hdr_decode(hb, &h, NULL));
    g_assert_cmpuint(h.version, ==, 9);
    hb[8] = DCD_HDR_REPLY;
    g_assert_false(dcd_hdr_decode(hb, &h, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_VERSION);
}

static void test_sizes(void)
{
    struct dcd_extent ext[3] = {
        mk_extent(0, 4096, 0), mk_extent(4096, 4096, 1),
        mk_extent(8192, 4096, 2),
    };
    DcdMsg *m;

    /* Truncated: one byte short of three extents. */
    m = dcd_msg_new_offer(1, 1, 0, ext, 3);
    m->hdr.len -= 10;
    expect_fail(m, DCD_ERR_PROTO, "OFFER: count 3 needs 160 bytes, got 150");
    /* Trailing bytes after the last entry. */
    m = dcd_msg_new(DCD_MSG_RELEASED, 0, 1, 8 + 16 + 4);
    ((struct dcd_released *)m->payload)->count = 1;
    ((struct dcd_released *)m->payload)->ranges[0].len = 4096;
    expect_fail(m, DCD_ERR_PROTO, "count 1 needs 24 bytes, got 28");
    /* Shorter than the fixed part. */
    m = dcd_msg_new(DCD_MSG_POOL, 0, 1, 20);
    dcd_msg_set_fd(m, memfd_create("t", MFD_CLOEXEC));
    expect_fail(m, DCD_ERR_PROTO, "POOL: needs 32 bytes, got 20");
    /* A PING with a payload, an ack with a payload. */
    expect_fail(dcd_msg_new(DCD_MSG_PING, 0, 1, 4), DCD_ERR_PROTO,
                "PING: needs 0 bytes, got 4");
    expect_fail(dcd_msg_new(DCD_MSG_ACCEPT, DCD_HDR_REPLY, 1, 8),
                DCD_ERR_PROTO, "ACCEPT reply: needs 0 bytes, got 8");
    expect_fail(dcd_msg_new(DCD_MSG_HELLO, DCD_HDR_REPLY, 1, 8),
                DCD_ERR_PROTO, "HELLO reply: needs 32 bytes, got 8");
    /* Counts over the limits, with lengths to match. */
    m = dcd_msg_new(DCD_MSG_ACCEPT, 0, 1, 16 + 16 * 1025);
    ((struct dcd_accept *)m->payload)->count = 1025;
    expect_fail(m, DCD_ERR_PROTO, "count 1025 exceeds 1024");
    m = dcd_msg_new(DCD_MSG_HOLD, 0, 1, 8 + 48 * 1025);
    ((struct dcd_hold *)m->payload)->count = 1025;
    expect_fail(m, DCD_ERR_PROTO, "count 1025 exceeds 1024");
    /* Zero counts where one is needed; zero is fine for ACCEPT/HOLD. */
    expect_fail(dcd_msg_new_offer(1, 1, 0, NULL, 0), DCD_ERR_PROTO,
                "OFFER: count 0");
    expect_fail(dcd_msg_new_release(1, 1, 0, NULL, 0), DCD_ERR_PROTO,
                "RELEASE: count 0");
    expect_fail(dcd_msg_new_released(1, NULL, 0), DCD_ERR_PROTO,
                "RELEASED: count 0");
}

static void test_fds_and_ids(void)
{
    DcdMsg *m;

    /* POOL needs its fd; nothing else may carry one. */
    m = dcd_msg_new(DCD_MSG_POOL, 0, 1, sizeof(struct dcd_pool));
    expect_fail(m, DCD_ERR_PROTO, "POOL: wrong fd count 0, needs 1");
    m = dcd_msg_new(DCD_MSG_PING, 0, 1, 0);
    dcd_msg_set_fd(m, memfd_create("t", MFD_CLOEXEC));
    expect_fail(m, DCD_ERR_PROTO, "PING: wrong fd count 1, needs 0");
    m = dcd_msg_new_ack(DCD_MSG_POOL, 1);
    dcd_msg_set_fd(m, memfd_create("t", MFD_CLOEXEC));
    expect_fail(m, DCD_ERR_PROTO, "POOL reply: wrong fd count 1");
    /* Ids and replies. */
    expect_fail(dcd_msg_new(DCD_MSG_PING, 0, 0, 0), DCD_ERR_PROTO,
                "PING: id 0");
    expect_fail(dcd_msg_new(DCD_MSG_OFFER, DCD_HDR_REPLY, 3, 0),
                DCD_ERR_PROTO, "OFFER: has no reply");
    m = dcd_msg_new_error(0, DCD_ERR_PROTO, "x");
    m->hdr.flags = DCD_HDR_REPLY;
    expect_fail(m, DCD_ERR_PROTO, "ERROR: id 0 forbids the reply flag");
    m = dcd_msg_new_error(4, DCD_ERR_PROTO, "x");
    m->hdr.flags = 0;
    expect_fail(m, DCD_ERR_PROTO, "ERROR: id 4 needs the reply flag");
}

static void test_fields(void)
{
    struct dcd_extent e = mk_extent(0, 4096, 0);
    struct dcd_range r = { 0, 4096 };
    DcdMsg *m;
    int fd;

    m = dcd_msg_new_offer(1, 1, 0, &e, 1);
    ((struct dcd_offer *)m->payload)->reserved = 1;
    expect_fail(m, DCD_ERR_PROTO, "OFFER: reserved");
    m = dcd_msg_new_offer(1, 1, 0, &e, 1);
    ((struct dcd_offer *)m->payload)->extents[0].reserved = 1;
    expect_fail(m, DCD_ERR_PROTO, "extent 0 has non-zero");
    m = dcd_msg_new_offer(1, 1, 4, &e, 1);
    expect_fail(m, DCD_ERR_PROTO, "OFFER: unknown flags 0x4");
    m = dcd_msg_new_offer(1, 1, 0, &e, 1);
    ((struct dcd_offer *)m->payload)->extents[0].len = 0;
    expect_fail(m, DCD_ERR_PROTO, "extent 0 has length 0");
    m = dcd_msg_new_offer(1, 1, 0, &e, 1);
    ((struct dcd_offer *)m->payload)->extents[0].dpa = G_MAXUINT64 - 10;
    expect_fail(m, DCD_ERR_PROTO, "extent 0 overflows");
    m = dcd_msg_new_accept(1, 1, &r, 1);
    ((struct dcd_accept *)m->payload)->reserved2 = 1;
    expect_fail(m, DCD_ERR_PROTO, "ACCEPT: reserved");
    m = dcd_msg_new_released(1, &r, 1);
    ((struct dcd_released *)m->payload)->ranges[0].len = 0;
    expect_fail(m, DCD_ERR_PROTO, "RELEASED: range 0 has length 0");
    m = dcd_msg_new_release(1, 1, 8, &e, 1);
    expect_fail(m, DCD_ERR_PROTO, "RELEASE: unknown flags 0x8");

    /* Enums. */
    expect_fail(dcd_msg_new_add_req(1, &tag_a, 0, DCD_POLICY__MAX, 0, NULL,
                                    0), DCD_ERR_PROTO, "unknown policy 4");
    expect_fail(dcd_msg_new_add_req(1, &tag_a, 0, DCD_POLICY_PRESCRIPTIVE,
                                    0, NULL, 0), DCD_ERR_PROTO,
                "prescriptive needs ranges");
    expect_fail(dcd_msg_new_add_req(1, &tag_a, 0, DCD_POLICY_FREE, 0, &r, 1),
                DCD_ERR_PROTO, "free takes no ranges");
    expect_fail(dcd_msg_new_add_req(1, &tag_a, 0, DCD_POLICY_FREE, 8, NULL,
                                    0), DCD_ERR_PROTO, "ADD_REQ: region 8");
    expect_fail(dcd_msg_new_release_req(1, &tag_a, DCD_REMOVAL__MAX, 0, 0,
                                        NULL, 0), DCD_ERR_PROTO,
                "unknown removal policy 2");
    expect_fail(dcd_msg_new_release_req(1, &tag_a, DCD_REMOVAL_TAG, 0, 0,
                                        &r, 1), DCD_ERR_PROTO,
                "takes no ranges");
    expect_fail(dcd_msg_new_release_req(1, &tag_a, DCD_REMOVAL_TAG, 0, 1,
                                        NULL, 0), DCD_ERR_PROTO,
                "unknown flags 0x1");
    fd = memfd_create("t", MFD_CLOEXEC);
    expect_fail(dcd_msg_new_pool(1, &tag_a, 4096, 0, 0, fd), DCD_ERR_PROTO,
                "unknown backing 0");
    fd = memfd_create("t", MFD_CLOEXEC);
    /* "device" is the broker's word: a device pool travels as a file. */
    expect_fail(dcd_msg_new_pool(1, &tag_a, 4096, DCD_BACKING_DEVICE, 0, fd),
                DCD_ERR_PROTO, "unknown backing 4");
    fd = memfd_create("t", MFD_CLOEXEC);
    expect_fail(dcd_msg_new_pool(1, &tag_a, 4096, DCD_BACKING__MAX, 0, fd),
                DCD_ERR_PROTO, "unknown backing 5");
    fd = memfd_create("t", MFD_CLOEXEC);
    expect_fail(dcd_msg_new_pool(1, &tag_a, 0, DCD_BACKING_MEMFD, 0, fd),
                DCD_ERR_PROTO, "POOL: size 0");
    fd = memfd_create("t", MFD_CLOEXEC);
    expect_fail(dcd_msg_new_pool(1, &tag_a, 4096, DCD_BACKING_MEMFD, 2, fd),
                DCD_ERR_PROTO, "POOL: unknown flags");
    expect_fail(dcd_msg_new_error(1, DCD_ERR__MAX, "x"), DCD_ERR_PROTO,
                "unknown code 14");
    expect_fail(dcd_msg_new_error(1, DCD_ERR_OK, "x"), DCD_ERR_PROTO,
                "unknown code 0");
    expect_fail(dcd_msg_new_hold(1, 2, &e, 1), DCD_ERR_PROTO,
                "HOLD: unknown flags");
}

static void test_error_text(void)
{
    DcdMsg *m;
    g_autofree char *big = g_strnfill(600, 'x');
    g_autoptr(DcdMsg) cut = dcd_msg_new_error(1, DCD_ERR_INVAL, big);

    /* The builder cuts long text to the limit; the result decodes. */
    g_assert_cmpuint(DCD_MSG_VIEW(cut, struct dcd_error)->text_len, ==,
                     DCD_MAX_TEXT);
    m = dcd_msg_new_error(1, DCD_ERR_INVAL, "ok");
    ((struct dcd_error *)m->payload)->text[1] = (char)0xff;
    expect_fail(m, DCD_ERR_PROTO, "not valid UTF-8");
    m = dcd_msg_new_error(1, DCD_ERR_INVAL, "ok");
    ((struct dcd_error *)m->payload)->text[1] = 0;
    expect_fail(m, DCD_ERR_PROTO, "not valid UTF-8");
    m = dcd_msg_new(DCD_MSG_ERROR, DCD_HDR_REPLY, 1, 8 + 513);
    ((struct dcd_error *)m->payload)->code = DCD_ERR_INVAL;
    ((struct dcd_error *)m->payload)->text_len = 513;
    memset(((struct dcd_error *)m->payload)->text, 'a', 513);
    expect_fail(m, DCD_ERR_PROTO, "count 513 exceeds 512");
    m = dcd_msg_new_error(1, DCD_ERR_INVAL, "abc");
    ((struct dcd_error *)m->payload)->text_len = 2;
    expect_fail(m, DCD_ERR_PROTO, "count 2 needs 10 bytes, got 11");
}

static DcdMsg *hello_with(void (*fn)(struct dcd_hello *h))
{
    DcdMsg *m = mk_hello();

    fn(m->payload);
    return m;
}

static void h_bs_small(struct dcd_hello *h) { h->regions[1].block_size = 2048; }
static void h_bs_pow2(struct dcd_hello *h) { h->regions[1].block_size = 12288; }
static void h_len_align(struct dcd_hello *h) { h->regions[1].len += 4096 / 2; }
static void h_base_align(struct dcd_hello *h) { h->regions[0].base = 4096; }
static void h_overlap(struct dcd_hello *h) { h->regions[1].base = 1ull << 31; }
static void h_len0(struct dcd_hello *h) { h->regions[0].len = 0; }
static void h_rflags(struct dcd_hello *h) { h->regions[0].flags = 2; }
static void h_rres(struct dcd_hello *h) { h->regions[1].reserved = 1; }
static void h_name_ctl(struct dcd_hello *h) { h->name[2] = '\n'; }
static void h_name_full(struct dcd_hello *h) { memset(h->name, 'a', 32); }
static void h_name_tail(struct dcd_hello *h) { h->name[20] = 'z'; }
static void h_flags(struct dcd_hello *h) { h->flags = 0x80; }
static void h_vers(struct dcd_hello *h)
{
    h->version_min = 9;
    h->version_max = 8;
}

static void test_hello(void)
{
    DcdMsg *m;
    uint16_t v;
    struct dcd_hello hv = { .version_min = 1, .version_max = 5 };
    g_autoptr(GError) err = NULL;

    expect_fail(hello_with(h_bs_small), DCD_ERR_PROTO,
                "region 1 block size 0x800 is not a power of two >= 4096");
    expect_fail(hello_with(h_bs_pow2), DCD_ERR_PROTO, "not a power of two");
    expect_fail(hello_with(h_len_align), DCD_ERR_PROTO,
                "region 1 base or length is not a multiple");
    expect_fail(hello_with(h_base_align), DCD_ERR_PROTO,
                "region 0 base or length is not a multiple");
    expect_fail(hello_with(h_overlap), DCD_ERR_PROTO,
                "regions 0 and 1 overlap");
    expect_fail(hello_with(h_len0), DCD_ERR_PROTO, "region 0 has length 0");
    expect_fail(hello_with(h_rflags), DCD_ERR_PROTO, "unknown flags 0x2");
    expect_fail(hello_with(h_rres), DCD_ERR_PROTO, "region 1 reserved");
    expect_fail(hello_with(h_name_ctl), DCD_ERR_PROTO, "not printable");
    expect_fail(hello_with(h_name_full), DCD_ERR_PROTO,
                "not NUL-terminated");
    expect_fail(hello_with(h_name_tail), DCD_ERR_PROTO, "after its NUL");
    expect_fail(hello_with(h_flags), DCD_ERR_PROTO, "unknown flags 0x80");
    expect_fail(hello_with(h_vers), DCD_ERR_PROTO, "bad version range 9..8");
    expect_fail(dcd_msg_new_hello(1, 0, "x", NULL, 0, 0), DCD_ERR_PROTO,
                "HELLO: no regions");
    m = dcd_msg_new(DCD_MSG_HELLO, 0, 1, 40 + 9 * 32);
    ((struct dcd_hello *)m->payload)->nregions = 9;
    expect_fail(m, DCD_ERR_PROTO, "count 9 exceeds 8");
    m = mk_hello();
    ((struct dcd_hello *)m->payload)->nregions = 1;
    expect_fail(m, DCD_ERR_PROTO, "HELLO: count 1 needs 72 bytes, got 104");

    /* Negotiation picks the highest common version. */
    g_assert_true(dcd_hello_pick_version(&hv, &v, NULL));
    g_assert_cmpuint(v, ==, DCD_PROTO_VERSION);
    hv.version_min = DCD_PROTO_VERSION + 1;
    g_assert_false(dcd_hello_pick_version(&hv, &v, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_VERSION);
}

static struct dcd_hello_limits *limits_of(DcdMsg *m)
{
    return (struct dcd_hello_limits *)((uint8_t *)m->payload + m->hdr.len -
                                       sizeof(struct dcd_hello_limits));
}

/* Version 3: a HELLO may end with the host's limits */
static void test_hello_limits(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdMsg) r = NULL;
    DcdMsg *m = mk_hello();
    g_autofree uint8_t *buf = NULL;
    size_t len;
    uint16_t v;

    g_assert_null(dcd_hello_limits(m->payload));

    dcd_msg_hello_set_limits(m, 100);
    g_assert_cmpuint(m->hdr.len, ==, 40 + 2 * 32 + 8);
    r = wire_trip(m, &err);
    g_assert_no_error(err);
    assert_same(m, r);
    /* after the regions, little-endian; the host now speaks 3 only */
    buf = dcd_msg_encode(m, &len);
    g_assert_cmpuint(len, ==, DCD_HDR_SIZE + 40 + 2 * 32 + 8);
    g_assert_cmpuint(buf[DCD_HDR_SIZE + 104], ==, 100);
    g_assert_cmpuint(buf[DCD_HDR_SIZE + 105], ==, 0);
    g_assert_cmpuint(dcd_hello_limits(r->payload)->max_group, ==, 100);
    g_assert_cmpuint(DCD_MSG_VIEW(r, struct dcd_hello)->version_min, ==, 3);
    g_assert_true(dcd_hello_pick_version(r->payload, &v, NULL));
    g_assert_cmpuint(v, ==, 3);
    dcd_msg_free(m);

    /* limits a version 2 reader would not expect */
    m = mk_hello();
    dcd_msg_hello_set_limits(m, 100);
    DCD_MSG_VIEW(m, struct dcd_hello)->version_min = 2;
    expect_fail(m, DCD_ERR_PROTO, "limits need version 3 or later");
    m = mk_hello();
    dcd_msg_hello_set_limits(m, 100);
    limits_of(m)->max_group = 0;
    expect_fail(m, DCD_ERR_PROTO, "at most 0 extents");
    m = mk_hello();
    dcd_msg_hello_set_limits(m, 100);
    limits_of(m)->reserved2 = 1;
    expect_fail(m, DCD_ERR_PROTO, "limits reserved");
    /* the flag without the bytes, and the bytes without the flag */
    m = mk_hello();
    DCD_MSG_VIEW(m, struct dcd_hello)->flags = DCD_HELLO_LIMITS;
    expect_fail(m, DCD_ERR_PROTO, "needs 112 bytes, got 104");
    m = mk_hello();
    dcd_msg_hello_set_limits(m, 100);
    DCD_MSG_VIEW(m, struct dcd_hello)->flags = 0;
    expect_fail(m, DCD_ERR_PROTO, "needs 104 bytes, got 112");
}

static void test_hello_reply(void)
{
    uint8_t bid[16] = { 0 };
    DcdMsg *m = dcd_msg_new_hello_reply(1, DCD_PROTO_VERSION, bid, 1);

    ((struct dcd_hello_reply *)m->payload)->version = DCD_PROTO_VERSION + 1;
    expect_fail(m, DCD_ERR_VERSION, "chose version 4");
    m = dcd_msg_new_hello_reply(1, DCD_PROTO_VERSION, bid, 1);
    ((struct dcd_hello_reply *)m->payload)->flags = 1;
    expect_fail(m, DCD_ERR_PROTO, "HELLO reply");
}

static void test_count_and_names(void)
{
    struct dcd_range r[3] = { { 0, 1 }, { 2, 1 }, { 4, 1 } };
    g_autoptr(DcdMsg) a = dcd_msg_new_accept(1, 1, r, 3);
    g_autoptr(DcdMsg) p = dcd_msg_new(DCD_MSG_PING, 0, 1, 0);
    g_autoptr(DcdMsg) h = mk_hello();

    g_assert_cmpuint(dcd_msg_count(a), ==, 3);
    g_assert_cmpuint(dcd_msg_count(p), ==, 0);
    g_assert_cmpuint(dcd_msg_count(h), ==, 2);
    g_assert_cmpstr(dcd_msg_type_name(DCD_MSG_RELEASE_REQ), ==,
                    "RELEASE_REQ");
    g_assert_cmpstr(dcd_msg_type_name(99), ==, "unknown");
}

/* A failed decode leaves the fds with the caller; success takes them. */
static void test_fd_ownership(void)
{
    int fd = memfd_create("t", MFD_CLOEXEC);
    int fds[1] = { fd };
    struct dcd_pool pool = { .size = 0 };
    struct dcd_hdr h = {
        .magic = DCD_PROTO_MAGIC, .version = 1, .type = DCD_MSG_POOL,
        .nfds = 1, .id = 1, .len = sizeof(pool),
    };
    g_autoptr(GError) err = NULL;
    DcdMsg *m;

    g_assert_null(dcd_msg_decode(&h, (uint8_t *)&pool, fds, &err));
    g_assert_cmpint(fds[0], ==, fd);
    memcpy(pool.tag, tag_a.b, 16);
    pool.size = 4096;
    pool.backing = DCD_BACKING_MEMFD;
    /* The test host is little-endian for this raw struct; skip if not. */
    if (G_BYTE_ORDER != G_LITTLE_ENDIAN) {
        close(fd);
        return;
    }
    m = dcd_msg_decode(&h, (uint8_t *)&pool, fds, NULL);
    g_assert_nonnull(m);
    g_assert_cmpint(fds[0], ==, -1);
    g_assert_cmpint(m->fds[0], ==, fd);
    g_assert_cmpint(dcd_msg_take_fd(m, 0), ==, fd);
    dcd_msg_free(m);
    g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0); /* taken, so still open */
    close(fd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/proto/roundtrip", test_roundtrip_all);
    g_test_add_func("/proto/encoding-bytes", test_encoding_bytes);
    g_test_add_func("/proto/header", test_header);
    g_test_add_func("/proto/header-limits", test_header_limits);
    g_test_add_func("/proto/sizes", test_sizes);
    g_test_add_func("/proto/fds-and-ids", test_fds_and_ids);
    g_test_add_func("/proto/fields", test_fields);
    g_test_add_func("/proto/error-text", test_error_text);
    g_test_add_func("/proto/hello", test_hello);
    g_test_add_func("/proto/hello-limits", test_hello_limits);
    g_test_add_func("/proto/hello-reply", test_hello_reply);
    g_test_add_func("/proto/count-and-names", test_count_and_names);
    g_test_add_func("/proto/fd-ownership", test_fd_ownership);
    return g_test_run();
}
