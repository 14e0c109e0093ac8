/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * make-seeds - writes the seed corpora of the fuzz targets:
 *
 *   make-seeds DIR      (DIR/fuzz-proto/..., DIR/fuzz-host-session/...)
 *
 * Seeds are small, named after what they show, and cover every message
 * type and control command, valid and not, and a saved state made by a
 * real broker.  Files named known-* reproduce crashes known when they
 * were added (see fuzz/README.md).  Files this program does not write
 * (crash reproducers added by hand) are left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "core/broker.h"
#include "fuzz.h"

#define MB (1ull << 20)

/* fuzz_tag_str[0..2], for the JSON seeds */
#define T0 "5be13bce-ae34-4a77-b6c3-16df975fcf1a"
#define T1 "0d2f4c1e-7a3b-4c5d-8e9f-a0b1c2d3e4f5"
#define T2 "c0ffee00-1234-4bcd-9ef0-123456789abc"

static const char *outdir;
static unsigned nseeds;

static void seed(const char *target, const char *name, const void *data,
                 size_t len)
{
    g_autofree char *dir = g_build_filename(outdir, target, NULL);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) err = NULL;

    if (g_mkdir_with_parents(dir, 0755) < 0 ||
        !g_file_set_contents(path, data, len, &err)) {
        fprintf(stderr, "make-seeds: %s: %s\n", path,
                err ? err->message : g_strerror(errno));
        exit(1);
    }
    nseeds++;
}

static void seed_bytes(const char *target, const char *name, GByteArray *b)
{
    seed(target, name, b->data, b->len);
}

static void tag_of(unsigned i, DcdTag *t)
{
    fuzz_tag(i, t);
}

/* ---- fuzz-proto -------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        p[i] = v >> (8 * i);
    }
}

/* Append m's wire bytes to b (m is freed). */
static void add_msg(GByteArray *b, DcdMsg *m)
{
    size_t len;
    g_autofree uint8_t *buf = dcd_msg_encode(m, &len);

    g_byte_array_append(b, buf, len);
    dcd_msg_free(m);
}

static const struct dcd_region two_regions[2] = {
    { .base = 0, .len = 64 * MB, .block_size = 2 * MB,
      .flags = DCD_REGION_SHARABLE },
    { .base = 64 * MB, .len = 64 * MB, .block_size = 4096 },
};

static void sample_extents(struct dcd_extent *e, unsigned n)
{
    DcdTag t;

    tag_of(0, &t);
    for (unsigned i = 0; i < n; i++) {
        e[i] = (struct dcd_extent) {
            .dpa = i * 2 * MB, .len = 2 * MB, .shared_seq = i,
            .pool_offset = i * 2 * MB,
        };
        memcpy(e[i].tag, t.b, 16);
    }
}

static const struct dcd_range sample_ranges[2] = {
    { .dpa = 0, .len = 2 * MB }, { .dpa = 4 * MB, .len = 2 * MB },
};

/* Every message type, valid, one file each; returned for the stream. */
static DcdMsg *proto_msg(unsigned i, const char **name)
{
    static const uint8_t broker_id[16] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct dcd_extent e[3];
    DcdTag t;

    sample_extents(e, 3);
    tag_of(0, &t);
    switch (i) {
    case 0:
        *name = "hello";
        return dcd_msg_new_hello(1, 0, "cxl-vmem0", two_regions, 2, 0);
    case 1:
        *name = "hello-reconnect";
        return dcd_msg_new_hello(1, 7, "", two_regions, 1,
                                 DCD_HELLO_RECONNECT);
    case 2:
        *name = "hello-reply";
        return dcd_msg_new_hello_reply(1, DCD_PROTO_VERSION, broker_id, 3);
    case 3:
        *name = "error-reply";
        return dcd_msg_new_error(5, DCD_ERR_NOSPC, "no free capacity");
    case 4:
        *name = "error-unsolicited";
        return dcd_msg_new_error(0, DCD_ERR_PROTO, "OFFER: count 0 \u2013 bye");
    case 5:
        *name = "ping";
        return dcd_msg_new(DCD_MSG_PING, 0, 9, 0);
    case 6:
        *name = "ping-reply";
        return dcd_msg_new_ack(DCD_MSG_PING, 9);
    case 7:
        *name = "pool";
        return dcd_msg_new_pool(7, &t, 4 * MB, DCD_BACKING_MEMFD,
                                DCD_POOL_SEALED, -1);
    case 8:
        *name = "pool-reply";
        return dcd_msg_new_ack(DCD_MSG_POOL, 7);
    case 9:
        *name = "offer-more";
        return dcd_msg_new_offer(8, 3, DCD_GROUP_MORE, e, 3);
    case 10:
        *name = "offer";
        return dcd_msg_new_offer(9, 3, 0, e, 1);
    case 11:
        *name = "accept";
        return dcd_msg_new_accept(2, 3, sample_ranges, 2);
    case 12:
        *name = "accept-none";
        return dcd_msg_new_accept(2, 3, NULL, 0);
    case 13:
        *name = "accept-reply";
        return dcd_msg_new_ack(DCD_MSG_ACCEPT, 2);
    case 14:
        *name = "release";
        return dcd_msg_new_release(10, 1, 0, e, 2);
    case 15:
        *name = "release-forced-more";
        return dcd_msg_new_release(11, 2, DCD_RELEASE_FORCED | DCD_GROUP_MORE,
                                   e, 3);
    case 16:
        *name = "released";
        return dcd_msg_new_released(3, sample_ranges, 2);
    case 17:
        *name = "add-req-free";
        return dcd_msg_new_add_req(4, &t, 0, DCD_POLICY_FREE, 0, NULL, 0);
    case 18:
        *name = "add-req-prescriptive";
        return dcd_msg_new_add_req(4, &t, 4 * MB, DCD_POLICY_PRESCRIPTIVE, 1,
                                   sample_ranges, 2);
    case 19:
        *name = "add-req-shared";
        return dcd_msg_new_add_req(4, &t, 0, DCD_POLICY_ENABLE_SHARED, 0,
                                   sample_ranges, 1);
    case 20:
        *name = "release-req-tag";
        return dcd_msg_new_release_req(5, &t, DCD_REMOVAL_TAG, 0, 0, NULL, 0);
    case 21:
        *name = "release-req-prescriptive-forced";
        return dcd_msg_new_release_req(5, &t, DCD_REMOVAL_PRESCRIPTIVE, 0,
                                       DCD_RELEASE_FORCED, sample_ranges, 2);
    case 22:
        *name = "hold";
        return dcd_msg_new_hold(6, 0, e, 3);
    case 23:
        *name = "hold-empty-more";
        return dcd_msg_new_hold(6, DCD_GROUP_MORE, NULL, 0);
    case 24:
        *name = "released-reply";
        return dcd_msg_new_ack(DCD_MSG_RELEASED, 3);
    case 25:
        *name = "withdraw";
        return dcd_msg_new_withdraw(12, 3);
    case 26:
        *name = "withdraw-reply";
        return dcd_msg_new_ack(DCD_MSG_WITHDRAW, 12);
    case 27: {
        DcdMsg *m = dcd_msg_new_hello(1, 2, "limits", two_regions, 2, 0);

        *name = "hello-limits";
        dcd_msg_hello_set_limits(m, 100);
        return m;
    }
    default:
        return NULL;
    }
}

/* A valid message, then one field of its bytes changed. */
typedef struct Bad {
    const char *name;
    unsigned msg;        /* proto_msg() index */
    unsigned off;        /* byte offset in the encoded message */
    unsigned size;
    uint64_t value;
} Bad;

static const Bad bad[] = {
    { "bad-magic", 5, 0, 4, 0x42444345 },
    { "bad-version", 5, 4, 2, 2 },
    { "hello-any-version", 0, 4, 2, 9 },
    { "bad-type-0", 5, 6, 2, 0 },
    { "bad-type-13", 5, 6, 2, 13 },
    { "bad-flags", 5, 8, 2, 2 },
    { "bad-reserved", 5, 20, 4, 1 },
    { "len-too-big", 5, 16, 4, DCD_MAX_PAYLOAD + 1 },
    { "nfds-2", 7, 10, 2, 2 },
    { "pool-no-fd", 7, 10, 2, 0 },
    { "ping-with-fd", 5, 10, 2, 1 },
    { "ping-id-0", 5, 12, 4, 0 },
    { "error-id-without-reply", 4, 12, 4, 5 },
    { "offer-with-reply-flag", 10, 8, 2, 1 },
    { "offer-count-0", 10, 24 + 8, 2, 0 },
    { "offer-count-mismatch", 9, 24 + 8, 2, 2 },
    { "offer-bad-flags", 10, 24 + 10, 2, 4 },
    { "extent-len-0", 10, 24 + 16 + 8, 8, 0 },
    { "extent-overflow", 10, 24 + 16, 8, UINT64_MAX },
    { "extent-region-8", 10, 24 + 16 + 34, 1, 8 },
    { "extent-flags", 10, 24 + 16 + 35, 1, 1 },
    { "hello-versions-reversed", 0, 24, 2, 3 },
    { "hello-version-0", 0, 24, 2, 0 },
    { "hello-no-regions", 0, 24 + 6, 1, 0 },
    { "hello-9-regions", 0, 24 + 6, 1, 9 },
    { "hello-bad-flags", 0, 24 + 7, 1, 2 },
    { "hello-name-unprintable", 0, 24 + 8, 1, 7 },
    { "hello-name-after-nul", 0, 24 + 8 + 20, 1, 'x' },
    { "hello-region-len-0", 0, 24 + 40 + 8, 8, 0 },
    { "hello-block-not-pow2", 0, 24 + 40 + 16, 8, 3 * 4096 },
    { "hello-block-small", 0, 24 + 40 + 16, 8, 2048 },
    { "hello-regions-overlap", 0, 24 + 72, 8, 32 * MB },
    { "hello-region-flags", 0, 24 + 40 + 24, 4, 2 },
    { "hello-region-huge", 0, 24 + 40 + 8, 8, 1ull << 60 },
    { "hello-region-overflow", 0, 24 + 72, 8, UINT64_MAX - 2 * MB + 1 },
    { "hello-reply-version-2", 2, 24, 2, 2 },
    { "hello-reply-flags", 2, 24 + 4, 4, 1 },
    { "error-code-0", 3, 24, 4, 0 },
    { "error-code-13", 3, 24, 4, 13 },
    { "error-bad-utf8", 3, 24 + 8, 1, 0xff },
    { "error-nul", 3, 24 + 9, 1, 0 },
    { "error-text-len", 3, 24 + 4, 4, 600 },
    { "pool-size-0", 7, 24 + 16, 8, 0 },
    { "pool-backing-4", 7, 24 + 24, 4, 4 },
    { "pool-null-tag", 7, 24, 8, 0 },
    { "accept-reserved", 11, 24 + 10, 2, 1 },
    { "range-len-0", 11, 24 + 16 + 8, 8, 0 },
    { "range-overflow", 11, 24 + 16, 8, UINT64_MAX },
    { "released-count-0", 16, 24, 2, 0 },
    { "add-req-policy-4", 17, 24 + 24, 1, 4 },
    { "add-req-free-with-count", 17, 24 + 26, 2, 1 },
    { "add-req-region-8", 17, 24 + 25, 1, 8 },
    { "add-req-prescriptive-no-ranges", 18, 24 + 26, 2, 0 },
    { "release-req-removal-2", 20, 24 + 16, 1, 2 },
    { "release-req-tag-with-ranges", 21, 24 + 16, 1, 0 },
    { "release-req-flags", 20, 24 + 20, 2, 1 },
    { "hold-reserved", 22, 24 + 4, 4, 1 },
    { "hold-count-1025", 22, 24, 2, 1025 },
    { "ack-with-payload", 6, 16, 4, 4 },
};

static void proto_seeds(void)
{
    g_autoptr(GByteArray) all = g_byte_array_new();
    const char *name;
    DcdMsg *m;

    for (unsigned i = 0; (m = proto_msg(i, &name)); i++) {
        g_autoptr(GByteArray) b = g_byte_array_new();

        add_msg(b, m);
        g_byte_array_append(all, b->data, b->len);
        seed_bytes("fuzz-proto", name, b);
    }
    seed_bytes("fuzz-proto", "stream-all", all);
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GByteArray) b = g_byte_array_new();

        add_msg(b, proto_msg(bad[i].msg, &name));
        g_assert(bad[i].off + bad[i].size <= b->len);
        put_le(b->data + bad[i].off, bad[i].value, bad[i].size);
        if (bad[i].msg == 6 && bad[i].off == 16) {
            g_byte_array_append(b, (const guint8 *)"\0\0\0\0", 4);
        }
        seed_bytes("fuzz-proto", bad[i].name, b);
    }
    /* A header with no payload behind it, and a lone partial header. */
    {
        g_autoptr(GByteArray) b = g_byte_array_new();

        add_msg(b, proto_msg(9, &name));
        g_byte_array_set_size(b, 40);
        seed_bytes("fuzz-proto", "truncated", b);
    }
}

/* ---- fuzz-host-session ------------------------------------------------- */

typedef GByteArray Script;

static void op(Script *s, unsigned code)
{
    uint8_t c = code;

    g_byte_array_append(s, &c, 1);
}

static void u8(Script *s, unsigned v)
{
    uint8_t c = v;

    g_byte_array_append(s, &c, 1);
}

static void u16(Script *s, unsigned v)
{
    u8(s, v & 0xff);
    u8(s, v >> 8);
}

static void op1(Script *s, unsigned code, unsigned arg)
{
    op(s, code);
    u8(s, arg);
}

static void send_raw(Script *s, const void *p, size_t len)
{
    op(s, HS_SEND);
    u16(s, len);
    g_byte_array_append(s, p, len);
}

static void send(Script *s, DcdMsg *m)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    add_msg(b, m);
    send_raw(s, b->data, b->len);
}

/* HS_SEND_FD: kind as in fuzz-host-session.c. */
static void send_fd(Script *s, unsigned kind, DcdMsg *m)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    add_msg(b, m);
    op1(s, HS_SEND_FD, kind);
    u16(s, b->len);
    g_byte_array_append(s, b->data, b->len);
}

/* HS_HELLO argument: host id, reconnect, region layout. */
static unsigned hello_arg(unsigned host, bool reconnect, unsigned layout)
{
    return host | (reconnect ? 4 : 0) | layout << 3;
}

static void add(Script *s, unsigned host, unsigned tag, unsigned region,
                DcdPolicy policy, const uint16_t *ranges, unsigned n)
{
    op(s, HS_ADD);
    u8(s, host);
    u8(s, tag);
    u8(s, region);
    u8(s, policy);
    u8(s, n);
    for (unsigned i = 0; i < 2 * n; i++) {
        u16(s, ranges[i]);
    }
}

static void release(Script *s, unsigned host, unsigned tag, bool prescriptive,
                    bool forced, unsigned region, const uint16_t *ranges,
                    unsigned n)
{
    op(s, HS_RELEASE);
    u8(s, host);
    u8(s, tag);
    u8(s, (prescriptive ? 1 : 0) | (forced ? 2 : 0));
    u8(s, region);
    u8(s, n);
    for (unsigned i = 0; i < 2 * n; i++) {
        u16(s, ranges[i]);
    }
}

#define SCRIPT(name, ...)                                      \
    do {                                                       \
        g_autoptr(GByteArray) s = g_byte_array_new();          \
        __VA_ARGS__;                                           \
        seed_bytes("fuzz-host-session", name, s);              \
    } while (0)

static void host_seeds(void)
{
    /* ranges in 4 KiB blocks: (offset, len) pairs */
    static const uint16_t two[] = { 0, 64, 512, 192 };
    static const uint16_t t1_two[] = { 0, 512, 1024, 512 };
    static const uint16_t first[] = { 0, 64 };
    static const uint16_t bad_range[] = { 3, 5 };
    static const uint16_t three[] = { 0, 64, 128, 64, 256, 128 };
    struct dcd_range rr[2] = {
        { .dpa = 0, .len = 1 * MB }, { .dpa = 2 * MB, .len = 3 * MB },
    };
    struct dcd_region huge = {
        .base = 0, .len = 1ull << 60, .block_size = 4096,
    };
    DcdTag t0, t1, t2;

    tag_of(0, &t0);
    tag_of(1, &t1);
    tag_of(2, &t2);

    SCRIPT("hello", op1(s, HS_HELLO, hello_arg(0, false, 0)));
    SCRIPT("hello-two-regions", op1(s, HS_HELLO, hello_arg(1, false, 1));
           add(s, 1, 1, 1, DCD_POLICY_FREE, NULL, 0);
           op1(s, HS_ACCEPT, 0));
    SCRIPT("accept-release",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_FREE, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           release(s, 0, 0, false, false, 0, NULL, 0);
           op1(s, HS_RELEASED, 0);
           op(s, HS_PUMP));
    /* at most 2 extents in a group (HELLO limits): 3 are refused */
    SCRIPT("hello-limits", op1(s, HS_HELLO, hello_arg(0, false, 0) | 0x60);
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, three, 3);
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, two, 2);
           op1(s, HS_ACCEPT, 0));
    /* a request and the hang-up reach the broker together */
    SCRIPT("hang-up-mid-accept", op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_FREE, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           op(s, HS_HANG_UP);
           op1(s, HS_HELLO, hello_arg(0, true, 0));
           op1(s, HS_HOLD, 0));
    SCRIPT("hang-up-mid-released",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_FREE, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           op(s, HS_PUMP);
           release(s, 0, 0, false, true, 0, NULL, 0);
           op1(s, HS_RELEASED, 0);
           op(s, HS_HANG_UP));
    SCRIPT("reject-all", op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_CONTIGUOUS, NULL, 0);
           op1(s, HS_ACCEPT, 1));
    SCRIPT("accept-some-prescriptive",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, two, 2);
           op1(s, HS_ACCEPT, 2));
    SCRIPT("accept-wrong-group", op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_FREE, NULL, 0);
           op1(s, HS_ACCEPT, 4));
    SCRIPT("accept-duplicate-range",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 1, 0, DCD_POLICY_PRESCRIPTIVE, t1_two, 2);
           op1(s, HS_ACCEPT, 8));
    SCRIPT("add-errors", op1(s, HS_HELLO, hello_arg(0, false, 3));
           add(s, 0, 1, 0, DCD_POLICY_FREE, NULL, 0);   /* nospc */
           add(s, 0, 0, 5, DCD_POLICY_FREE, NULL, 0);   /* no region */
           add(s, 0, 3, 0, DCD_POLICY_FREE, NULL, 0);   /* no pool */
           add(s, 2, 0, 0, DCD_POLICY_FREE, NULL, 0);   /* no host */
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, bad_range, 1);
           add(s, 0, 0, 0, DCD_POLICY_ENABLE_SHARED, NULL, 0));
    SCRIPT("shared-two-hosts",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_FREE, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           op(s, HS_RECONNECT);
           op1(s, HS_HELLO, hello_arg(1, false, 0));
           add(s, 1, 0, 0, DCD_POLICY_ENABLE_SHARED, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           release(s, 1, 0, false, true, 0, NULL, 0);
           op1(s, HS_POOL_DEL, 0));
    SCRIPT("reconnect-hold",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, two, 2);
           op1(s, HS_ACCEPT, 0);
           op(s, HS_RECONNECT);
           op1(s, HS_HELLO, hello_arg(0, true, 0));
           op1(s, HS_POOL_BACK, 0);
           op1(s, HS_HOLD, 3);
           op1(s, HS_HOLD, 0);
           op(s, HS_PUMP));
    SCRIPT("reconnect-forget",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, two, 2);
           op1(s, HS_ACCEPT, 0);
           op(s, HS_RECONNECT);
           op1(s, HS_HELLO, hello_arg(0, true, 0));
           op1(s, HS_HOLD, 2);
           op1(s, HS_RELEASED, 2));
    SCRIPT("reconnect-new-layout",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_FREE, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           op(s, HS_RECONNECT);
           op1(s, HS_HELLO, hello_arg(0, true, 1));
           op(s, HS_RECONNECT);
           op1(s, HS_HELLO, hello_arg(1, false, 2));
           add(s, 1, 0, 0, DCD_POLICY_ENABLE_SHARED, NULL, 0));
    /* Version 2: what is taken back stays the host's until it confirms. */
    SCRIPT("v2-forced-confirmed",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_FREE, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           release(s, 0, 0, false, true, 0, NULL, 0);
           op1(s, HS_RELEASED, 0);
           op(s, HS_PUMP));
    SCRIPT("v2-withdraw-crossing",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, two, 2);
           release(s, 0, 0, false, true, 0, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           op(s, HS_PUMP));
    SCRIPT("v2-revoked-while-away",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, two, 2);
           op1(s, HS_ACCEPT, 0);
           op(s, HS_RECONNECT);
           release(s, 0, 0, false, true, 0, NULL, 0);
           op1(s, HS_HELLO, hello_arg(0, true, 0));
           op1(s, HS_POOL_BACK, 0);
           op1(s, HS_HOLD, 0);
           op1(s, HS_RELEASED, 0);
           op(s, HS_PUMP));
    SCRIPT("v2-offer-left-open",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_FREE, NULL, 0);
           op(s, HS_RECONNECT);
           op1(s, HS_HELLO, hello_arg(0, true, 0));
           op1(s, HS_HOLD, 0);
           op1(s, HS_POOL_DEL, 0);
           op(s, HS_PUMP));
    SCRIPT("hold-without-reconnect",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           op1(s, HS_HOLD, 0));
    SCRIPT("add-req-release-req",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           send(s, dcd_msg_new_add_req(100, &t0, 0, DCD_POLICY_FREE, 0,
                                       NULL, 0));
           op1(s, HS_ACCEPT, 0);
           send(s, dcd_msg_new_release_req(101, &t0, DCD_REMOVAL_TAG, 0, 0,
                                           NULL, 0));
           op1(s, HS_RELEASED, 0));
    SCRIPT("add-req-not-requester",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           send(s, dcd_msg_new_add_req(100, &t1, 0, DCD_POLICY_FREE, 0,
                                       NULL, 0));
           send(s, dcd_msg_new_add_req(101, &t0, 12345, DCD_POLICY_FREE, 0,
                                       NULL, 0)));
    SCRIPT("add-req-requester-prescriptive",
           op1(s, HS_HELLO, hello_arg(1, false, 0));
           send(s, dcd_msg_new_add_req(100, &t1, 4 * MB,
                                       DCD_POLICY_PRESCRIPTIVE, 0, rr, 2));
           op1(s, HS_ACCEPT, 0);
           send(s, dcd_msg_new_release_req(101, &t1, DCD_REMOVAL_PRESCRIPTIVE,
                                           0, DCD_RELEASE_FORCED, rr, 1));
           send(s, dcd_msg_new_release_req(102, &t1, DCD_REMOVAL_TAG, 0, 0,
                                           NULL, 0));
           op1(s, HS_RELEASED, 1));
    SCRIPT("fm-release-prescriptive",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           add(s, 0, 0, 0, DCD_POLICY_PRESCRIPTIVE, two, 2);
           op1(s, HS_ACCEPT, 0);
           release(s, 0, 0, true, false, 0, first, 1);
           release(s, 0, 0, true, false, 0, bad_range, 1);
           op1(s, HS_RELEASED, 0);
           op1(s, HS_POOL_DEL, 0));
    SCRIPT("pools-fm",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           op1(s, HS_POOL_NEW, 2 | 2 << 2);          /* tag 2, 1 MiB */
           op1(s, HS_POOL_NEW, 3 | 1 << 5);          /* file: no pool dir */
           op1(s, HS_POOL_NEW, 3 | 3 << 2 | 2 << 5); /* hugetlb 2 MiB */
           op1(s, HS_POOL_NEW, 3 | 6 << 2 | 0x80);   /* 12 KiB, requesters */
           add(s, 0, 2, 0, DCD_POLICY_FREE, NULL, 0);
           add(s, 0, 3, 0, DCD_POLICY_CONTIGUOUS, NULL, 0);
           op1(s, HS_ACCEPT, 0);
           op1(s, HS_POOL_DEL, 2);
           op1(s, HS_POOL_DEL, 3));
    SCRIPT("pool-fd-from-host",
           op1(s, HS_HELLO, hello_arg(0, true, 0));
           send_fd(s, 0x20 | 2 << 2, dcd_msg_new_pool(100, &t0, MB,
                                                       DCD_BACKING_MEMFD,
                                                       DCD_POOL_SEALED, -1));
           send_fd(s, 2, dcd_msg_new_pool(101, &t2, MB, DCD_BACKING_MEMFD,
                                          0, -1)));
    SCRIPT("fd-counts",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           send_fd(s, 3 | 2 << 6, dcd_msg_new_pool(100, &t0, MB,
                                                    DCD_BACKING_MEMFD, 0,
                                                    -1)));
    SCRIPT("fd-too-many",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           send_fd(s, 3 << 6, dcd_msg_new(DCD_MSG_PING, 0, 100, 0)));
    SCRIPT("fd-on-ping",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           send_fd(s, 3, dcd_msg_new(DCD_MSG_PING, 0, 100, 0)));
    SCRIPT("before-hello",
           send(s, dcd_msg_new(DCD_MSG_PING, 0, 100, 0));
           send(s, dcd_msg_new_accept(101, 1, NULL, 0)));
    SCRIPT("hello-twice",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           op(s, HS_RECONNECT);
           op1(s, HS_HELLO, hello_arg(0, false, 1)));
    {
        g_autoptr(DcdMsg) h = dcd_msg_new_hello(100, 0, "v", two_regions, 1,
                                                0);

        DCD_MSG_VIEW(h, struct dcd_hello)->version_min = 2;
        DCD_MSG_VIEW(h, struct dcd_hello)->version_max = 5;
        SCRIPT("hello-version", send(s, g_steal_pointer(&h)));
    }
    SCRIPT("host-sends-broker-messages",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           send(s, dcd_msg_new_offer(100, 1, 0, NULL, 0));
           op(s, HS_RECONNECT);
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           send(s, dcd_msg_new_ack(DCD_MSG_POOL, 77));
           send(s, dcd_msg_new_error(0, DCD_ERR_IO, "host going away")));
    {
        static const uint8_t junk[] = "DCDB\1\0\5\0\0\0\0\0\1\0\0\0\xff\xff";

        SCRIPT("junk", op1(s, HS_HELLO, hello_arg(0, false, 0));
               send_raw(s, junk, sizeof(junk)));
    }
    SCRIPT("released-unknown",
           op1(s, HS_HELLO, hello_arg(0, false, 0));
           send(s, dcd_msg_new_released(100, rr, 2)));
    /* Known crash: the broker sized a bitmap by the declared length. */
    SCRIPT("known-dpa-huge-region",
           send(s, dcd_msg_new_hello(1, 0, "huge", &huge, 1, 0)));
}

/* ---- fuzz-control ------------------------------------------------------ */


static const struct {
    const char *name;
    const char *text;
} ctl[] = {
    { "status", "{\"id\":1,\"command\":\"status\"}\n" },
    { "status-args", "{\"id\":\"x\",\"command\":\"status\","
      "\"arguments\":{}}\n" },
    { "pool-create", "{\"id\":1,\"command\":\"pool-create\",\"arguments\":"
      "{\"size\":2097152,\"tag\":\"" T2 "\"}}\n" },
    { "pool-create-requesters", "{\"id\":1,\"command\":\"pool-create\","
      "\"arguments\":{\"size\":4096,\"backing\":\"memfd\","
      "\"requesters\":[0,65535]}}\n" },
    { "pool-create-bad", "{\"id\":1,\"command\":\"pool-create\","
      "\"arguments\":{\"size\":-1}}\n"
      "{\"id\":2,\"command\":\"pool-create\",\"arguments\":{\"size\":0}}\n"
      "{\"id\":3,\"command\":\"pool-create\",\"arguments\":{\"size\":4096,"
      "\"backing\":\"tape\"}}\n"
      "{\"id\":4,\"command\":\"pool-create\",\"arguments\":{\"size\":4096,"
      "\"tag\":\"not-a-uuid\"}}\n"
      "{\"id\":5,\"command\":\"pool-create\",\"arguments\":{\"size\":4096,"
      "\"requesters\":[70000]}}\n"
      "{\"id\":6,\"command\":\"pool-create\",\"arguments\":{\"size\":4096,"
      "\"colour\":\"red\"}}\n"
      "{\"id\":7,\"command\":\"pool-create\",\"arguments\":{\"size\":4096,"
      "\"tag\":\"" T0 "\"}}\n" },
    { "pool-create-backings", "{\"id\":1,\"command\":\"pool-create\","
      "\"arguments\":{\"size\":4096,\"backing\":\"file\"}}\n"
      "{\"id\":2,\"command\":\"pool-create\",\"arguments\":"
      "{\"size\":2097152,\"backing\":\"hugetlb\"}}\n"
      "{\"id\":3,\"command\":\"pool-create\",\"arguments\":"
      "{\"size\":9223372036854775807}}\n" },
    { "pool-list", "{\"id\":1,\"command\":\"pool-list\"}\n"
      "{\"id\":2,\"command\":\"pool-list\",\"arguments\":{\"tag\":\"" T0
      "\"}}\n" },
    { "pool-destroy", "{\"id\":1,\"command\":\"pool-destroy\","
      "\"arguments\":{\"tag\":\"" T1 "\"}}\n"
      "{\"id\":2,\"command\":\"pool-destroy\",\"arguments\":{\"tag\":\"" T0
      "\"}}\n"
      "{\"id\":3,\"command\":\"pool-destroy\",\"arguments\":{}}\n" },
    { "host-list", "{\"id\":1,\"command\":\"host-list\"}\n"
      "{\"id\":2,\"command\":\"host-list\",\"arguments\":{\"x\":1}}\n" },
    { "extent-add", "{\"id\":1,\"command\":\"extent-add\",\"arguments\":"
      "{\"host-id\":0,\"tag\":\"" T1 "\",\"region\":1,"
      "\"policy\":\"contiguous\"}}\n"
      "{\"id\":2,\"command\":\"extent-list\"}\n" },
    { "extent-add-wait", "{\"id\":1,\"command\":\"extent-add\","
      "\"arguments\":{\"host-id\":0,\"tag\":\"" T1 "\",\"wait\":true}}\n"
      "{\"id\":2,\"command\":\"extent-list\",\"arguments\":{\"host-id\":0,"
      "\"all\":true}}\n" },
    { "extent-add-wait-timeout", "{\"id\":1,\"command\":\"extent-add\","
      "\"arguments\":{\"host-id\":1,\"tag\":\"" T1 "\",\"wait\":true,"
      "\"timeout-ms\":0}}\n{\"id\":2,\"command\":\"status\"}\n" },
    { "extent-add-prescriptive", "{\"id\":1,\"command\":\"extent-add\","
      "\"arguments\":{\"host-id\":1,\"tag\":\"" T1 "\","
      "\"policy\":\"prescriptive\",\"extents\":[{\"offset\":0,"
      "\"len\":1048576},{\"offset\":4194304,\"len\":3145728}]}}\n" },
    { "extent-add-shared", "{\"id\":1,\"command\":\"extent-add\","
      "\"arguments\":{\"host-id\":1,\"tag\":\"" T0 "\","
      "\"policy\":\"enable-shared-access\"}}\n"
      "{\"id\":2,\"command\":\"extent-add\",\"arguments\":{\"host-id\":1,"
      "\"tag\":\"" T0 "\",\"policy\":\"enable-shared-access\",\"extents\":"
      "[{\"offset\":8388608,\"len\":1048576}]}}\n" },
    { "extent-add-bad", "{\"id\":1,\"command\":\"extent-add\","
      "\"arguments\":{\"host-id\":2,\"tag\":\"" T1 "\"}}\n"
      "{\"id\":2,\"command\":\"extent-add\",\"arguments\":{\"host-id\":9,"
      "\"tag\":\"" T1 "\"}}\n"
      "{\"id\":3,\"command\":\"extent-add\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T1 "\",\"policy\":\"greedy\"}}\n"
      "{\"id\":4,\"command\":\"extent-add\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T1 "\",\"region\":8}}\n"
      "{\"id\":5,\"command\":\"extent-add\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T1 "\",\"extents\":[{\"offset\":1}]}}\n"
      "{\"id\":6,\"command\":\"extent-add\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T1 "\",\"extents\":[7]}}\n"
      "{\"id\":7,\"command\":\"extent-add\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T0 "\"}}\n"
      "{\"id\":8,\"command\":\"extent-add\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T1 "\",\"region\":1,\"policy\":\"enable-shared-access\""
      "}}\n" },
    { "extent-release", "{\"id\":1,\"command\":\"extent-release\","
      "\"arguments\":{\"host-id\":0,\"tag\":\"" T0 "\"}}\n"
      "{\"id\":2,\"command\":\"extent-list\",\"arguments\":{\"all\":true,"
      "\"tag\":\"" T0 "\"}}\n"
      "{\"id\":3,\"command\":\"pool-destroy\",\"arguments\":{\"tag\":\"" T0
      "\"}}\n" },
    { "extent-release-prescriptive", "{\"id\":1,\"command\":"
      "\"extent-release\",\"arguments\":{\"host-id\":0,\"tag\":\"" T0 "\","
      "\"removal\":\"prescriptive\",\"extents\":[{\"offset\":0,"
      "\"len\":1048576}],\"forced\":true}}\n"
      "{\"id\":2,\"command\":\"extent-release\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T0 "\",\"removal\":\"prescriptive\",\"extents\":"
      "[{\"offset\":0,\"len\":4096}]}}\n"
      "{\"id\":3,\"command\":\"extent-release\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T0 "\",\"removal\":\"sideways\"}}\n" },
    { "extent-list", "{\"id\":1,\"command\":\"extent-list\",\"arguments\":"
      "{\"host-id\":0,\"tag\":\"" T0 "\",\"all\":false}}\n"
      "{\"id\":2,\"command\":\"extent-list\",\"arguments\":{\"all\":1}}\n" },
    { "monitor", "{\"id\":1,\"command\":\"monitor\"}\n"
      "{\"id\":2,\"command\":\"pool-create\",\"arguments\":"
      "{\"size\":1048576,\"tag\":\"" T2 "\"}}\n"
      "{\"id\":3,\"command\":\"extent-add\",\"arguments\":{\"host-id\":0,"
      "\"tag\":\"" T2 "\",\"wait\":true}}\n"
      "{\"id\":4,\"command\":\"extent-add\",\"arguments\":{\"host-id\":1,"
      "\"tag\":\"" T2 "\",\"policy\":\"enable-shared-access\"}}\n"
      "{\"id\":5,\"command\":\"extent-release\",\"arguments\":"
      "{\"host-id\":0,\"tag\":\"" T2 "\",\"wait\":true}}\n"
      "{\"id\":6,\"command\":\"extent-release\",\"arguments\":"
      "{\"host-id\":1,\"tag\":\"" T2 "\",\"forced\":true}}\n"
      "{\"id\":7,\"command\":\"pool-destroy\",\"arguments\":{\"tag\":\""
      T2 "\"}}\n" },
    { "monitor-bad", "{\"id\":1,\"command\":\"monitor\",\"arguments\":"
      "{\"all\":true}}\n{\"id\":2,\"command\":\"monitor\"}\n"
      "{\"id\":3,\"command\":\"monitor\"}\n" },
    { "extent-release-wait-timeout", "{\"id\":1,\"command\":"
      "\"extent-release\",\"arguments\":{\"host-id\":0,\"tag\":\"" T0 "\","
      "\"wait\":true,\"timeout-ms\":0}}\n"
      "{\"id\":2,\"command\":\"extent-release\",\"arguments\":"
      "{\"host-id\":0,\"tag\":\"" T0 "\",\"wait\":\"yes\"}}\n" },
    { "not-json", "hello\n{\"id\":1,\n[1,2,3]\n\"str\"\n\n" },
    { "request-errors", "{\"id\":1}\n"
      "{\"id\":2,\"command\":\"reboot\"}\n"
      "{\"id\":3,\"command\":\"status\",\"arguments\":[]}\n"
      "{\"id\":4,\"command\":\"status\",\"arguments\":{\"a\":1}}\n"
      "{\"id\":{\"nested\":[1]},\"command\":\"status\"}\n" },
    { "utf8", "{\"id\":1,\"command\":\"st\\u00e4tus\"}\n"
      "{\"id\":2,\"command\":\"\xff\xfe\"}\n" },
    { "no-newline", "{\"id\":1,\"command\":\"status\"}" },
    /* Known crashes: a non-string command. */
    { "known-command-0", "{\"id\":1,\"command\":0}\n" },
    { "known-command-array", "{\"id\":1,\"command\":[]}\n" },
    /*
     * Known crashes: a client that hangs up (0x03) is written to.  A
     * monitor's event fails and closes it, then the reply is written;
     * host 0 accepts after the hang-up; a wait's timer fires after it.
     */
    { "known-hangup-monitor", "{\"id\":1,\"command\":\"monitor\"}\n"
      "\x01" "{\"id\":2,\"command\":\"pool-create\",\"arguments\":"
      "{\"size\":1048576,\"tag\":\"" T2 "\"}}\n\x03"
      "{\"id\":3,\"command\":\"pool-list\"}\n" },
    { "known-hangup-add-wait", "{\"id\":1,\"command\":\"extent-add\","
      "\"arguments\":{\"host-id\":0,\"tag\":\"" T1 "\",\"wait\":true}}\n"
      "\x03" "{\"id\":2,\"command\":\"extent-list\"}\n" },
    { "known-hangup-wait-timeout", "{\"id\":1,\"command\":\"extent-add\","
      "\"arguments\":{\"host-id\":1,\"tag\":\"" T1 "\",\"wait\":true,"
      "\"timeout-ms\":0}}\n\x03"
      "{\"id\":2,\"command\":\"extent-release\",\"arguments\":"
      "{\"host-id\":0,\"tag\":\"" T0 "\",\"wait\":true,"
      "\"timeout-ms\":0}}\n\x03" },
    /* Hang-ups elsewhere: mid-line, after a shutdown, with a wait open. */
    { "hangup-mid-line", "{\"id\":1,\"command\":\"sta\x03"
      "{\"id\":2,\"command\":\"monitor\"}\n\x02"
      "{\"id\":3,\"command\":\"extent-release\",\"arguments\":"
      "{\"host-id\":0,\"tag\":\"" T0 "\",\"wait\":true}}\n\x01\x03" },
    /*
     * Known crashes: json-glib's parser recursing 131072 arrays or
     * objects deep (0x04 repeats a pattern 65536 times).
     */
    { "known-deep-array", "{\"id\":1,\"command\":\"status\",\"x\":"
      "\x04\xff\x02[[\n" },
    { "known-deep-object", "{\"id\":1,\"command\":\"status\",\"x\":"
      "\x04\xff\x0a{\"a\":{\"a\":\n" },
    /* A line over 1 MiB from a small input; the client comes back. */
    { "long-line", "\x04\xff\x10\"aaaaaaaaaaaaaaa" "\x04\xff\x02" "aa\n"
      "{\"id\":1,\"command\":\"status\"}\n" },
};

static void control_seeds(void)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(ctl); i++) {
        seed("fuzz-control", ctl[i].name, ctl[i].text, strlen(ctl[i].text));
    }
}

/* ---- fuzz-state -------------------------------------------------------- */

static bool fake_send_pool(gpointer link, DcdPool *p)
{
    return true;
}

static bool fake_send_offer(gpointer link, uint64_t group, GPtrArray *ext)
{
    return true;
}

static bool fake_send_release(gpointer link, uint64_t id, bool forced,
                              GPtrArray *ext)
{
    return true;
}

static bool fake_send_withdraw(gpointer link, uint64_t group)
{
    return true;
}

static const DcdHostLinkOps fake_ops = {
    .send_pool = fake_send_pool,
    .send_offer = fake_send_offer,
    .send_release = fake_send_release,
    .send_withdraw = fake_send_withdraw,
};

/* A store file without checksums, pool dir paths made neutral. */
static void strip_file(const char *path, const char *pool_dir, GString *out)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return;
    }
    lines = g_strsplit(text, "\n", -1);
    for (unsigned i = 0; lines[i]; i++) {
        g_autofree char *json = NULL;
        g_auto(GStrv) parts = NULL;

        if (strlen(lines[i]) < 18) {
            continue;
        }
        json = g_strdup(lines[i] + 17);
        if (strstr(json, "\"key\":\"meta\"")) {
            /* The broker id is random: keep the seeds reproducible. */
            g_free(json);
            json = g_strdup("{\"op\":\"put\",\"key\":\"meta\",\"id\":"
                            "\"" T2 "\",\"epoch\":1}");
        }
        parts = g_strsplit(json, pool_dir, -1);
        g_free(json);
        json = g_strjoinv("/var/lib/dcd-broker/pools", parts);
        g_string_append_printf(out, "%s\n", json);
    }
}

static DcdHost *attach(DcdBroker *b, uint16_t id, unsigned nregions)
{
    DcdHelloArgs a = {
        .host_id = id, .name = id ? "cxl-vmem1" : "cxl-vmem0",
        .regions = two_regions, .nregions = nregions,
    };

    return dcd_broker_host_attach(b, &a, &fake_ops, b, NULL);
}

static void accept_all(DcdBroker *b, DcdHost *h, DcdGroup *g)
{
    g_autoptr(GArray) r = g_array_new(FALSE, FALSE, sizeof(struct dcd_range));

    for (guint i = 0; i < g->extents->len; i++) {
        DcdExtent *e = g->extents->pdata[i];
        struct dcd_range rg = { .dpa = e->dpa, .len = e->len };

        g_array_append_val(r, rg);
    }
    dcd_broker_host_accept(b, h, g->id, (struct dcd_range *)r->data, r->len,
                           NULL);
}

/*
 * Programs run on a saved state (fuzz-state's "%%ops"): every operation
 * once on a full disk, once half-written and once normally, among them a
 * host's release while the disk is full, so the saved state lags behind
 * and must catch up before the next change is acknowledged.
 */
enum { OPS_OK = 0x00, OPS_FULL = 0x10, OPS_SHORT = 0x20 };
enum { OPS_CREATE, OPS_DESTROY, OPS_ADD, OPS_ANSWER, OPS_RELEASE,
       OPS_HOST_RELEASED, OPS_HOST_TOGGLE, OPS_CREATE_FILE };

static void program_seeds(const GString *state)
{
    static const uint8_t prog[] = {
        OPS_CREATE | OPS_OK, 0, OPS_CREATE | OPS_FULL, 1,
        OPS_CREATE | OPS_SHORT, 2,
        OPS_ADD | OPS_OK, 0, OPS_ANSWER | OPS_OK, 0,
        OPS_ADD | OPS_FULL, 0x81, OPS_ADD | OPS_OK, 0x81,
        OPS_ANSWER | OPS_FULL, 1,
        OPS_ADD | OPS_OK, 0x81, OPS_ANSWER | OPS_OK, 1,
        OPS_RELEASE | OPS_FULL, 0, OPS_RELEASE | OPS_SHORT, 2,
        OPS_RELEASE | OPS_OK, 0,
        OPS_HOST_RELEASED | OPS_FULL, 0,
        OPS_CREATE | OPS_FULL, 3, OPS_CREATE | OPS_OK, 3,
        OPS_DESTROY | OPS_FULL, 0, OPS_DESTROY | OPS_OK, 2,
        OPS_RELEASE | OPS_FULL, 3, OPS_RELEASE | OPS_OK, 3,
        OPS_HOST_TOGGLE | OPS_FULL, 1, OPS_HOST_TOGGLE | OPS_OK, 1,
        OPS_CREATE_FILE | OPS_FULL, 0, OPS_CREATE_FILE | OPS_SHORT, 0,
        OPS_CREATE_FILE | OPS_OK, 0,
        OPS_ADD | OPS_OK, 1, OPS_HOST_TOGGLE | OPS_FULL, 1,
        OPS_ADD | OPS_FULL, 2,
    };
    g_autoptr(GString) s = g_string_new("%%ops\n");

    g_string_append_len(s, (const char *)prog, sizeof(prog));
    seed("fuzz-state", "program-full-disk", s->str, s->len);
    g_string_assign(s, state->str);
    g_string_append(s, "%%ops\n");
    g_string_append_len(s, (const char *)prog, sizeof(prog));
    seed("fuzz-state", "program-on-state", s->str, s->len);
}

static void state_seeds(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("dcd-seeds-XXXXXX", &err);
    g_autofree char *state = g_build_filename(tmp, "state", NULL);
    g_autofree char *pools = g_build_filename(tmp, "pools", NULL);
    g_autofree char *snap = g_build_filename(state, "snapshot", NULL);
    g_autofree char *journal = g_build_filename(state, "journal", NULL);
    g_autoptr(GString) first = g_string_new(NULL);
    g_autoptr(GString) s = g_string_new(NULL);
    DcdBrokerConfig cfg = { .state_dir = state, .pool_dir = pools };
    g_autoptr(GArray) req = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    uint16_t one = 1;
    DcdTag t0, t1, t2;
    DcdBroker *b;
    DcdHost *h0, *h1;
    DcdGroup *g;

    g_assert(tmp);
    g_mkdir(pools, 0700);
    tag_of(0, &t0);
    tag_of(1, &t1);
    tag_of(2, &t2);
    g_array_append_val(req, one);

    /* A life: pools, two hosts, shared and private extents, a release. */
    b = dcd_broker_new(&cfg, &err);
    g_assert(b);
    dcd_broker_pool_create(b, &t0, 4 * MB, DCD_BACKING_MEMFD, NULL, NULL);
    dcd_broker_pool_create(b, &t1, 2 * MB, DCD_BACKING_FILE, req, NULL);
    dcd_broker_pool_create(b, &t2, 2 * MB, DCD_BACKING_MEMFD, NULL, NULL);
    h0 = attach(b, 0, 2);
    h1 = attach(b, 1, 1);
    {
        DcdAddArgs a = { .host_id = 0, .tag = t0,
                         .policy = DCD_POLICY_FREE };

        g = dcd_broker_extent_add(b, &a, NULL);
        accept_all(b, h0, g);
        a.host_id = 1;
        a.policy = DCD_POLICY_ENABLE_SHARED;
        g = dcd_broker_extent_add(b, &a, NULL);
        accept_all(b, h1, g);
        a = (DcdAddArgs) { .host_id = 0, .tag = t1, .region = 1,
                           .policy = DCD_POLICY_CONTIGUOUS };
        g = dcd_broker_extent_add(b, &a, NULL);
        accept_all(b, h0, g);
        a = (DcdAddArgs) { .host_id = 1, .tag = t2,
                           .policy = DCD_POLICY_CONTIGUOUS };
        g = dcd_broker_extent_add(b, &a, NULL);
        accept_all(b, h1, g);
    }
    {
        DcdReleaseArgs r = { .host_id = 1, .tag = t0 };
        g_autoptr(GPtrArray) done = dcd_broker_extent_release(b, &r, NULL);
    }
    dcd_broker_host_detach(b, h0);
    dcd_broker_host_detach(b, h1);
    dcd_broker_free(b);
    strip_file(snap, pools, first);
    g_string_append(first, "%%\n");
    strip_file(journal, pools, first);
    seed("fuzz-state", "journal", first->str, first->len);

    /* Restarted once: all in the snapshot, then more in the journal. */
    b = dcd_broker_new(&cfg, &err);
    g_assert(b);
    h1 = attach(b, 1, 1);
    {
        DcdReleaseArgs r = { .host_id = 1, .tag = t2, .forced = true };
        g_autoptr(GPtrArray) done = dcd_broker_extent_release(b, &r, NULL);
    }
    dcd_broker_pool_destroy(b, &t2, NULL);
    dcd_broker_host_detach(b, h1);
    dcd_broker_free(b);
    strip_file(snap, pools, s);
    seed("fuzz-state", "snapshot-only", s->str, s->len);
    g_string_append(s, "%%\n");
    strip_file(journal, pools, s);
    seed("fuzz-state", "snapshot-journal", s->str, s->len);

    /* Damaged: a bad checksum, then a torn line; the rest is dropped. */
    g_string_assign(s, first->str);
    g_string_append(s, "!0123456789abcdef {\"op\":\"del\",\"key\":"
                    "\"pool:" T0 "\"}\n{\"op\":\"put\",\"key\":\"host:9\"");
    seed("fuzz-state", "journal-damaged", s->str, s->len);
    program_seeds(first);

    fuzz_clear_dir(tmp);
    g_rmdir(tmp);

    /* Hand-made records that do not fit. */
    {
        static const struct {
            const char *name;
            const char *text;
        } st[] = {
            { "records-malformed",
              "{\"op\":\"put\",\"key\":\"meta\",\"id\":\"x\",\"epoch\":-1}\n"
              "{\"op\":\"put\",\"key\":\"pool:a\",\"tag\":\"" T0 "\","
              "\"size\":0,\"backing\":\"memfd\",\"segments\":[]}\n"
              "{\"op\":\"put\",\"key\":\"pool:b\",\"tag\":\"" T1 "\","
              "\"size\":4096,\"backing\":\"memfd\",\"segments\":[8192]}\n"
              "{\"op\":\"put\",\"key\":\"pool:c\",\"tag\":\"" T2 "\","
              "\"size\":4096,\"backing\":\"moon\",\"segments\":[]}\n"
              "{\"op\":\"put\",\"key\":\"host:1\",\"host-id\":70000,"
              "\"regions\":[]}\n"
              "{\"op\":\"put\",\"key\":\"host:2\",\"host-id\":2,"
              "\"regions\":[{\"base\":0,\"len\":4096,\"block-size\":0}]}\n"
              "{\"op\":\"put\",\"key\":\"host:3\",\"host-id\":3,\"name\":"
              "\"a-name-that-is-much-longer-than-thirty-two-bytes\","
              "\"regions\":[{\"base\":4096,\"len\":8192,\"block-size\":4096,"
              "\"sharable\":true}]}\n"
              "{\"op\":\"put\",\"key\":\"extent:3:0\",\"host-id\":3,"
              "\"dpa\":0,\"len\":4096,\"region\":0,\"tag\":\"" T1 "\","
              "\"shared-seq\":0,\"state\":\"accepted\"}\n"
              "{\"op\":\"put\",\"key\":\"extent:3:1\",\"host-id\":3,"
              "\"dpa\":4096,\"len\":4096,\"region\":0,\"tag\":\"" T1 "\","
              "\"shared-seq\":0,\"state\":\"releasing\"}\n"
              "{\"op\":\"del\",\"key\":\"pool:c\"}\n"
              "{\"op\":\"get\"}\n[]\n" },
            { "file-pool-paths",
              "{\"op\":\"put\",\"key\":\"pool:" T0 "\",\"tag\":\"" T0 "\","
              "\"size\":1048576,\"backing\":\"file\",\"path\":"
              "\"/var/lib/dcd-broker/pools/" T0 ".pool\",\"segments\":[]}\n"
              "{\"op\":\"put\",\"key\":\"pool:" T1 "\",\"tag\":\"" T1 "\","
              "\"size\":1048576,\"backing\":\"file\",\"path\":"
              "\"/etc/passwd\",\"segments\":[1048576]}\n"
              "{\"op\":\"put\",\"key\":\"pool:" T2 "\",\"tag\":\"" T2 "\","
              "\"size\":1048576,\"backing\":\"file\",\"path\":"
              "\"short.pool\",\"segments\":[]}\n" },
            /* Known crash: a saved region's bitmap sized by its length. */
            { "known-state-huge-region",
              "{\"op\":\"put\",\"key\":\"host:0\",\"host-id\":0,\"name\":"
              "\"h\",\"regions\":[{\"base\":0,\"len\":1152921504606846976,"
              "\"block-size\":4096,\"sharable\":false}]}\n" },
        };

        for (unsigned i = 0; i < G_N_ELEMENTS(st); i++) {
            seed("fuzz-state", st[i].name, st[i].text, strlen(st[i].text));
        }
    }
}

/* fuzz-guest-files: a selector byte (even: state, odd: journal), a file. */
static void guest_file_seed(const char *name, char kind, const char *text)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    g_byte_array_append(b, (const guint8 *)&kind, 1);
    g_byte_array_append(b, (const guint8 *)text, strlen(text));
    seed_bytes("fuzz-guest-files", name, b);
}

#define GT "5be13bce-ae34-4a77-b6c3-16df975fcf1a"

static void guest_files_seeds(void)
{
    guest_file_seed("state", 0,
        "[dcd-guest]\nversion=1\n"
        "[device 0]\nbdf=0000:18:00.0\nram_size=268435456\n"
        "[region 0]\ndevice=0\nindex=0\ndpa=0\nlen=1073741824\n"
        "block=2097152\nhpa=4563402752\n"
        "[region 1]\ndevice=0\nindex=-1\ndpa=0\nlen=268435456\n"
        "block=0\nhpa=5637144576\n"
        "[extent 0]\ndevice=0\ntag=" GT "\nshared_seq=0\ndpa=0\n"
        "len=16777216\nhpa=4563402752\nstate=accepted\n"
        "[extent 1]\ndevice=0\ntag=" GT "\nshared_seq=1\n"
        "dpa=67108864\nlen=33554432\nhpa=0\nstate=pending\n");
    guest_file_seed("state-extent-no-device", 0,
        "[dcd-guest]\nversion=1\n[extent 0]\ndevice=0\ntag=" GT
        "\nshared_seq=0\ndpa=0\nlen=1\nhpa=0\nstate=accepted\n");
    guest_file_seed("journal", 1,
        "[dcd-guest]\nversion=1\n"
        "[event 0]\ngroup=0\ndevice=0\ntype=1\nmore=0\nhandle=3\n"
        "region=0\ndpa=0\nlen=2097152\ntag=" GT "\nshared_seq=0\n"
        "[event 1]\ngroup=1\ndevice=1\ntype=0\nmore=1\nhandle=4\n"
        "region=0\ndpa=2097152\nlen=2097152\ntag=" GT "\nshared_seq=0\n"
        "[event 2]\ngroup=1\ndevice=1\ntype=0\nmore=0\nhandle=5\n"
        "region=0\ndpa=4194304\nlen=2097152\ntag=" GT "\nshared_seq=1\n");
    guest_file_seed("journal-two-open-chains", 1,
        "[dcd-guest]\nversion=1\n"
        "[event 0]\ngroup=0\ndevice=0\ntype=0\nmore=1\nhandle=1\n"
        "region=0\ndpa=0\nlen=1\ntag=" GT "\nshared_seq=0\n"
        "[event 1]\ngroup=1\ndevice=0\ntype=0\nmore=1\nhandle=2\n"
        "region=0\ndpa=0\nlen=1\ntag=" GT "\nshared_seq=0\n"
        "[event 2]\ngroup=2\ndevice=0\ntype=0\nmore=0\nhandle=3\n"
        "region=0\ndpa=0\nlen=1\ntag=" GT "\nshared_seq=0\n");
}

/* ---- fuzz-etcd: etcd's answers, as its gateway writes them ------------ */

static char *b64(const char *s)
{
    return g_base64_encode((const guchar *)s, strlen(s));
}

/* One kvs element: key and value base64, numbers as strings. */
static void etcd_kv(GString *out, const char *key, const char *value,
                    unsigned rev, const char *lease)
{
    g_autofree char *k = b64(key);
    g_autofree char *v = b64(value);

    g_string_append_printf(out, "{\"key\":\"%s\",\"create_revision\":\"%u\","
                           "\"mod_revision\":\"%u\",\"version\":\"1\","
                           "\"value\":\"%s\"%s%s%s}", k, rev, rev, v,
                           lease ? ",\"lease\":\"" : "", lease ? lease : "",
                           lease ? "\"" : "");
}

static void etcd_seeds(void)
{
    static const char *const header = "\"header\":{\"cluster_id\":"
        "\"15026016918487770221\",\"member_id\":\"16694209735470997472\","
        "\"revision\":\"9\",\"raft_term\":\"2\"}";
    static const char *const records[][2] = {
        { "/dcd/v1/state/n1/meta", "{\"id\":\"79e2d253-a8d0-48a9-8dc7-a895012ba5a8\","
          "\"epoch\":3}" },
        { "/dcd/v1/state/n1/pool:bb101788-3777-439b-9961-b1063e22fd6c",
          "{\"tag\":\"bb101788-3777-439b-9961-b1063e22fd6c\",\"size\":4194304,"
          "\"backing\":\"memfd\",\"segments\":[4194304],"
          "\"requesters\":[0,1]}" },
        { "/dcd/v1/state/n1/host:0", "{\"host-id\":0,\"name\":\"sim0\",\"regions\":"
          "[{\"base\":0,\"len\":268435456,\"block-size\":2097152,"
          "\"sharable\":true}]}" },
        { "/dcd/v1/state/n1/extent:0:0", "{\"host-id\":0,\"dpa\":0,\"len\":4194304,"
          "\"region\":0,\"tag\":\"bb101788-3777-439b-9961-b1063e22fd6c\","
          "\"shared-seq\":0,\"state\":\"accepted\"}" },
        { "/dcd/v1/node/n1", "{\"node\":\"n1\",\"hostname\":\"vm\","
          "\"boot-id\":\"e9982e12-183a-4ba9-81e9-be8bd360f80f\","
          "\"pid\":6172}" },
        { "/dcd/v1/state/n1/pool:not-a-tag", "{\"tag\":\"not-a-tag\"}" },
        { "/dcd/v1/state/n1/host:7", "[[[[[[[[]]]]]]]]" },
        { "/dcd/v1/state/n2/host:3", "{\"host-id\":3,\"name\":\"sim3\","
          "\"regions\":[]}" },
        { "/dcd/v1/shared/devpool:4a0e7a43-53c4-4f57-a5a0-2e5f2d2e4d80",
          "{\"tag\":\"4a0e7a43-53c4-4f57-a5a0-2e5f2d2e4d80\","
          "\"size\":4194304,\"backing\":\"device\",\"segments\":[],"
          "\"device-ranges\":[{\"offset\":0,\"len\":4194304}]}" },
        { "/dcd/v1/shared/device", "{\"size\":67108864}" },
        { "/dcd/v1/shared/host:1", "{}" },
        { "/elsewhere", "x" },
    };
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GString) node = g_string_new(NULL);

    g_string_printf(s, "{%s,\"kvs\":[", header);
    for (unsigned i = 0; i < G_N_ELEMENTS(records); i++) {
        if (i) {
            g_string_append_c(s, ',');
        }
        etcd_kv(s, records[i][0], records[i][1], 2 + i,
                g_str_has_prefix(records[i][0], "/dcd/v1/node/") ?
                "6908700286400347911" : NULL);
    }
    g_string_append_printf(s, "],\"count\":\"%u\"}",
                           (unsigned)G_N_ELEMENTS(records));
    seed("fuzz-etcd", "range", s->str, s->len);

    g_string_printf(s, "{%s,\"succeeded\":true,\"responses\":"
                    "[{\"response_put\":{\"header\":{\"revision\":\"9\"}}}]}",
                    header);
    seed("fuzz-etcd", "txn-succeeded", s->str, s->len);

    etcd_kv(node, records[4][0], records[4][1], 2, "6908700286400347911");
    g_string_printf(s, "{%s,\"responses\":[{\"response_range\":{\"header\":"
                    "{\"revision\":\"9\"},\"kvs\":[%s],\"count\":\"1\"}}]}",
                    header, node->str);
    seed("fuzz-etcd", "txn-failed-node", s->str, s->len);

    /* A watch message: a put and a deletion. */
    g_string_printf(s, "{%s,\"events\":[{\"kv\":{\"key\":\"%s\","
                    "\"create_revision\":\"3\",\"mod_revision\":\"10\","
                    "\"version\":\"2\",\"value\":\"e30=\"}},"
                    "{\"type\":\"DELETE\",\"kv\":{\"key\":\"%s\","
                    "\"mod_revision\":\"11\"}}]}", header,
                    "L2RjZC92MS9zdGF0ZS9uMi9ob3N0OjM=",
                    "L2RjZC92MS9zaGFyZWQvZGV2aWNl");
    seed("fuzz-etcd", "watch-events", s->str, s->len);

    g_string_printf(s, "{%s,\"responses\":[{\"response_range\":{\"header\":"
                    "{\"revision\":\"9\"}}}]}", header);
    seed("fuzz-etcd", "txn-failed-no-node", s->str, s->len);

    g_string_printf(s, "{%s,\"ID\":\"6908700286400347909\",\"TTL\":\"5\"}",
                    header);
    seed("fuzz-etcd", "lease-grant", s->str, s->len);

    g_string_printf(s, "{\"result\":{%s,\"ID\":\"6908700286400347911\","
                    "\"TTL\":\"5\"}}", header);
    seed("fuzz-etcd", "keepalive", s->str, s->len);

    g_string_printf(s, "{\"result\":{%s,\"ID\":\"999\"}}", header);
    seed("fuzz-etcd", "keepalive-lease-gone", s->str, s->len);

    g_string_assign(s, "{\"error\":\"etcdserver: duplicate key given in txn"
                    " request\",\"message\":\"etcdserver: duplicate key given"
                    " in txn request\",\"code\":3}");
    seed("fuzz-etcd", "error", s->str, s->len);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    fuzz_init_logging();
    proto_seeds();
    host_seeds();
    control_seeds();
    state_seeds();
    guest_files_seeds();
    etcd_seeds();
    printf("make-seeds: %u files in %s\n", nseeds, outdir);
    return 0;
}
