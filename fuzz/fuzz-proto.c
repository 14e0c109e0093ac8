/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-proto - the host-protocol codec (dcd/proto.h, proto.c) on arbitrary
 * bytes.
 *
 * Input: a byte stream, cut into messages as a receiver cuts it: a 24-byte
 * header for dcd_hdr_decode(), then hdr.len payload bytes for
 * dcd_msg_decode(), which is offered MIN(hdr.nfds, DCD_MAX_FDS) real fds,
 * so the fd count rules are covered too.  A header dcd_hdr_decode()
 * refuses still goes to dcd_msg_decode(), which must not trust it either.
 *
 * Checked for every message that decodes:
 *  - it encodes back to exactly the bytes it came from, and those decode
 *    again to the same message;
 *  - the builder of its type (dcd_msg_new_offer() etc.), given the decoded
 *    fields, encodes to the same bytes;
 *  - dcd_msg_count() is the entry count the payload announces.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static int devnull = -1;

static int fresh_fd(void)
{
    int fd = dup(devnull);

    FUZZ_CHECK(fd >= 0, "dup failed");
    return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init_logging();
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    return 0;
}

/* The same message, made by its builder from the decoded fields. */
static DcdMsg *rebuild(const DcdMsg *m)
{
    uint32_t id = m->hdr.id;
    unsigned n = dcd_msg_count(m);
    DcdMsg *r = NULL;

    if ((m->hdr.flags & DCD_HDR_REPLY) && m->hdr.type != DCD_MSG_ERROR) {
        if (m->hdr.type == DCD_MSG_HELLO) {
            struct dcd_hello_reply *h = DCD_MSG_VIEW(m,
                                                     struct dcd_hello_reply);

            r = dcd_msg_new_hello_reply(id, h->version, h->broker_id,
                                        h->epoch);
        } else {
            r = dcd_msg_new_ack(m->hdr.type, id);
        }
        goto out;
    }
    switch (m->hdr.type) {
    case DCD_MSG_HELLO: {
        struct dcd_hello *h = DCD_MSG_VIEW(m, struct dcd_hello);
        struct dcd_hello *h2;

        r = dcd_msg_new_hello(id, h->host_id, h->name, h->regions,
                              h->nregions, h->flags & ~DCD_HELLO_LIMITS);
        if (dcd_hello_limits(h)) {
            dcd_msg_hello_set_limits(r, dcd_hello_limits(h)->max_group);
        }
        /* The builder says what we speak; a peer may say otherwise. */
        h2 = DCD_MSG_VIEW(r, struct dcd_hello);
        h2->version_min = h->version_min;
        h2->version_max = h->version_max;
        break;
    }
    case DCD_MSG_ERROR: {
        struct dcd_error *e = DCD_MSG_VIEW(m, struct dcd_error);

        r = dcd_msg_new_error(id, e->code, e->text);
        break;
    }
    case DCD_MSG_PING:
        r = dcd_msg_new(DCD_MSG_PING, 0, id, 0);
        break;
    case DCD_MSG_POOL: {
        struct dcd_pool *p = DCD_MSG_VIEW(m, struct dcd_pool);
        DcdTag tag;

        memcpy(tag.b, p->tag, 16);
        r = dcd_msg_new_pool(id, &tag, p->size, p->backing, p->flags,
                             fresh_fd());
        break;
    }
    case DCD_MSG_OFFER: {
        struct dcd_offer *o = DCD_MSG_VIEW(m, struct dcd_offer);

        r = dcd_msg_new_offer(id, o->group, o->flags, o->extents, n);
        break;
    }
    case DCD_MSG_ACCEPT: {
        struct dcd_accept *a = DCD_MSG_VIEW(m, struct dcd_accept);

        r = dcd_msg_new_accept(id, a->group, a->ranges, n);
        break;
    }
    case DCD_MSG_RELEASE: {
        struct dcd_release *rl = DCD_MSG_VIEW(m, struct dcd_release);

        r = dcd_msg_new_release(id, rl->id, rl->flags, rl->extents, n);
        break;
    }
    case DCD_MSG_RELEASED: {
        struct dcd_released *d = DCD_MSG_VIEW(m, struct dcd_released);

        r = dcd_msg_new_released(id, d->ranges, n);
        break;
    }
    case DCD_MSG_ADD_REQ: {
        struct dcd_add_req *a = DCD_MSG_VIEW(m, struct dcd_add_req);
        DcdTag tag;

        memcpy(tag.b, a->tag, 16);
        r = dcd_msg_new_add_req(id, &tag, a->length, a->policy, a->region,
                                a->ranges, n);
        break;
    }
    case DCD_MSG_RELEASE_REQ: {
        struct dcd_release_req *q = DCD_MSG_VIEW(m, struct dcd_release_req);
        DcdTag tag;

        memcpy(tag.b, q->tag, 16);
        r = dcd_msg_new_release_req(id, &tag, q->removal, q->region,
                                    q->flags, q->ranges, n);
        break;
    }
    case DCD_MSG_HOLD: {
        struct dcd_hold *h = DCD_MSG_VIEW(m, struct dcd_hold);

        r = dcd_msg_new_hold(id, h->flags, h->extents, n);
        break;
    }
    case DCD_MSG_WITHDRAW:
        r = dcd_msg_new_withdraw(id, DCD_MSG_VIEW(m, struct dcd_withdraw)
                                     ->group);
        break;
    default:
        fuzz_fail(__FILE__, __LINE__, "type", "decoded unknown type %u",
                  m->hdr.type);
    }
out:
    FUZZ_CHECK(r, "no builder result for %s",
               dcd_msg_type_name(m->hdr.type));
    r->hdr.version = m->hdr.version;
    return r;
}

/* The announced entry count, read from the wire bytes. */
static unsigned wire_count(const DcdMsg *m, const uint8_t *p)
{
    if ((m->hdr.flags & DCD_HDR_REPLY) && m->hdr.type != DCD_MSG_ERROR) {
        return 0;
    }
    switch (m->hdr.type) {
    case DCD_MSG_HELLO:
        return p[6];
    case DCD_MSG_ERROR:
        return p[4] | p[5] << 8 | p[6] << 16 | (unsigned)p[7] << 24;
    case DCD_MSG_OFFER:
    case DCD_MSG_ACCEPT:
    case DCD_MSG_RELEASE:
        return p[8] | p[9] << 8;
    case DCD_MSG_RELEASED:
    case DCD_MSG_HOLD:
        return p[0] | p[1] << 8;
    case DCD_MSG_ADD_REQ:
        return p[26] | p[27] << 8;
    case DCD_MSG_RELEASE_REQ:
        return p[18] | p[19] << 8;
    default:
        return 0;
    }
}

static void check_message(const DcdMsg *m, const uint8_t *wire, size_t len)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdMsg) again = NULL;
    g_autoptr(DcdMsg) built = NULL;
    g_autofree uint8_t *enc = NULL;
    g_autofree uint8_t *benc = NULL;
    struct dcd_hdr h2;
    int fds[DCD_MAX_FDS];
    size_t elen, blen;

    FUZZ_CHECK(len == DCD_HDR_SIZE + m->hdr.len, "length");
    FUZZ_CHECK(dcd_msg_count(m) == wire_count(m, wire + DCD_HDR_SIZE),
               "%s: dcd_msg_count %u, payload says %u",
               dcd_msg_type_name(m->hdr.type), dcd_msg_count(m),
               wire_count(m, wire + DCD_HDR_SIZE));

    /* Encoding gives back the very bytes. */
    enc = dcd_msg_encode(m, &elen);
    FUZZ_CHECK(elen == len && memcmp(enc, wire, len) == 0,
               "%s: re-encoding differs from the input",
               dcd_msg_type_name(m->hdr.type));

    /* ... which decode to the same message. */
    dcd_hdr_decode(enc, &h2, NULL);
    for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
        fds[i] = i < m->hdr.nfds ? fresh_fd() : -1;
    }
    again = dcd_msg_decode(&h2, enc + DCD_HDR_SIZE, fds, &err);
    for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    FUZZ_CHECK(again, "%s: re-encoded message does not decode: %s",
               dcd_msg_type_name(m->hdr.type), err->message);
    FUZZ_CHECK(memcmp(&again->hdr, &m->hdr, sizeof(m->hdr)) == 0 &&
               memcmp(again->payload, m->payload, m->hdr.len) == 0,
               "%s: decode(encode(m)) != m", dcd_msg_type_name(m->hdr.type));

    /* The builder agrees with the decoder. */
    built = rebuild(m);
    benc = dcd_msg_encode(built, &blen);
    FUZZ_CHECK(blen == len && memcmp(benc, wire, len) == 0,
               "%s: the builder makes different bytes",
               dcd_msg_type_name(m->hdr.type));

    if (m->hdr.type == DCD_MSG_HELLO && !(m->hdr.flags & DCD_HDR_REPLY)) {
        uint16_t v = 0;

        if (dcd_hello_pick_version(DCD_MSG_VIEW(m, struct dcd_hello), &v,
                                   NULL)) {
            FUZZ_CHECK(v >= DCD_PROTO_VERSION_MIN && v <= DCD_PROTO_VERSION,
                       "picked version %u", v);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (devnull < 0) {
        LLVMFuzzerInitialize(NULL, NULL);
    }
    while (size >= DCD_HDR_SIZE) {
        const uint8_t *msg = data;
        struct dcd_hdr h;
        int fds[DCD_MAX_FDS];
        DcdMsg *m;

        dcd_hdr_decode(data, &h, NULL);
        g_assert(dcd_msg_type_name(h.type));
        data += DCD_HDR_SIZE;
        size -= DCD_HDR_SIZE;
        if (h.len > size) {
            break; /* a receiver would wait for the rest */
        }
        for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
            fds[i] = i < h.nfds ? fresh_fd() : -1;
        }
        m = dcd_msg_decode(&h, data, fds, NULL);
        if (m) {
            for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
                FUZZ_CHECK(fds[i] == -1, "decode left fd %u", i);
            }
            check_message(m, msg, DCD_HDR_SIZE + h.len);
            dcd_msg_free(m);
        }
        for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
            if (fds[i] >= 0) {
                close(fds[i]);
            }
        }
        data += h.len;
        size -= h.len;
    }
    return 0;
}
