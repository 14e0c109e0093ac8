/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto.c - codec for host protocol v1.
 *
 * Owns: turning DcdMsg into little-endian wire bytes and back, and every
 * structural check a receiver makes before it trusts a message.  The
 * in-memory payload uses the same offsets as the wire (the structs in
 * dcd/proto.h have no padding), so converting is a copy plus a byte-order
 * fix of each integer field, driven by the field tables below.
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "dcd/proto.h"

/* The in-memory layouts must match the wire offsets byte for byte. */
G_STATIC_ASSERT(sizeof(struct dcd_hdr) == DCD_HDR_SIZE);
G_STATIC_ASSERT(sizeof(struct dcd_range) == 16);
G_STATIC_ASSERT(sizeof(struct dcd_extent) == 48);
G_STATIC_ASSERT(offsetof(struct dcd_extent, pool_offset) == 40);
G_STATIC_ASSERT(sizeof(struct dcd_region) == 32);
G_STATIC_ASSERT(sizeof(struct dcd_hello) == 40);
G_STATIC_ASSERT(offsetof(struct dcd_hello, regions) == 40);
G_STATIC_ASSERT(sizeof(struct dcd_hello_reply) == 32);
G_STATIC_ASSERT(sizeof(struct dcd_error) == 8);
G_STATIC_ASSERT(sizeof(struct dcd_pool) == 32);
G_STATIC_ASSERT(sizeof(struct dcd_offer) == 16);
G_STATIC_ASSERT(sizeof(struct dcd_accept) == 16);
G_STATIC_ASSERT(sizeof(struct dcd_release) == 16);
G_STATIC_ASSERT(sizeof(struct dcd_released) == 8);
G_STATIC_ASSERT(sizeof(struct dcd_add_req) == 32);
G_STATIC_ASSERT(offsetof(struct dcd_add_req, ranges) == 32);
G_STATIC_ASSERT(sizeof(struct dcd_release_req) == 24);
G_STATIC_ASSERT(offsetof(struct dcd_release_req, ranges) == 24);
G_STATIC_ASSERT(sizeof(struct dcd_hold) == 8);

/* ---- byte order ---------------------------------------------------- */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, v);
    put_le16(p + 2, v >> 16);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, v);
    put_le32(p + 4, v >> 32);
}

static uint16_t get_le16(const uint8_t *p)
{
    return p[0] | (uint16_t)p[1] << 8;
}

static uint32_t get_le32(const uint8_t *p)
{
    return get_le16(p) | (uint32_t)get_le16(p + 2) << 16;
}

static uint64_t get_le64(const uint8_t *p)
{
    return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* An integer field of a payload struct: offset and width in bytes. */
typedef struct Field {
    uint8_t off;
    uint8_t size;
} Field;

/* Byte arrays (tags, names, text) are left alone: they have no order. */
static const Field extent_fields[] = {
    { 0, 8 }, { 8, 8 }, { 32, 2 }, { 36, 4 }, { 40, 8 }, { 0, 0 }
};
static const Field range_fields[] = { { 0, 8 }, { 8, 8 }, { 0, 0 } };
static const Field region_fields[] = {
    { 0, 8 }, { 8, 8 }, { 16, 8 }, { 24, 4 }, { 28, 4 }, { 0, 0 }
};
static const Field hello_fields[] = { { 0, 2 }, { 2, 2 }, { 4, 2 }, { 0, 0 } };
static const Field limits_fields[] = { { 0, 2 }, { 2, 2 }, { 4, 4 }, { 0, 0 } };
static const Field hello_reply_fields[] = {
    { 0, 2 }, { 2, 2 }, { 4, 4 }, { 24, 8 }, { 0, 0 }
};
static const Field error_fields[] = { { 0, 4 }, { 4, 4 }, { 0, 0 } };
static const Field pool_fields[] = {
    { 16, 8 }, { 24, 4 }, { 28, 4 }, { 0, 0 }
};
/* OFFER, ACCEPT and RELEASE share this shape: u64, u16, u16, u32. */
static const Field group_fields[] = {
    { 0, 8 }, { 8, 2 }, { 10, 2 }, { 12, 4 }, { 0, 0 }
};
/* RELEASED and HOLD: u16 count, u16 flags, u32 reserved. */
static const Field short_fields[] = { { 0, 2 }, { 2, 2 }, { 4, 4 }, { 0, 0 } };
static const Field add_req_fields[] = {
    { 16, 8 }, { 26, 2 }, { 28, 4 }, { 0, 0 }
};
static const Field withdraw_fields[] = { { 0, 8 }, { 8, 8 }, { 0, 0 } };
static const Field release_req_fields[] = {
    { 18, 2 }, { 20, 2 }, { 22, 2 }, { 0, 0 }
};

/*
 * Shape of one payload: a fixed part, then entries of one kind, then a
 * trailer if a flag of the fixed part (one byte at flag_off) says so.
 */
typedef struct Layout {
    size_t fixed;
    const Field *fixed_fields;
    size_t entry;                /* 0: no entries */
    const Field *entry_fields;
    size_t trailer;              /* 0: none */
    const Field *trailer_fields;
    uint8_t flag_off, flag;
} Layout;

static const Layout empty_layout = { 0, NULL, 0, NULL };

static const Layout request_layouts[DCD_MSG__MAX] = {
    [DCD_MSG_HELLO] = { 40, hello_fields, 32, region_fields,
                        sizeof(struct dcd_hello_limits), limits_fields,
                        offsetof(struct dcd_hello, flags), DCD_HELLO_LIMITS },
    [DCD_MSG_ERROR] = { 8, error_fields, 1, NULL },
    [DCD_MSG_PING] = { 0, NULL, 0, NULL },
    [DCD_MSG_POOL] = { 32, pool_fields, 0, NULL },
    [DCD_MSG_OFFER] = { 16, group_fields, 48, extent_fields },
    [DCD_MSG_ACCEPT] = { 16, group_fields, 16, range_fields },
    [DCD_MSG_RELEASE] = { 16, group_fields, 48, extent_fields },
    [DCD_MSG_RELEASED] = { 8, short_fields, 16, range_fields },
    [DCD_MSG_ADD_REQ] = { 32, add_req_fields, 16, range_fields },
    [DCD_MSG_RELEASE_REQ] = { 24, release_req_fields, 16, range_fields },
    [DCD_MSG_HOLD] = { 8, short_fields, 48, extent_fields },
    [DCD_MSG_WITHDRAW] = { 16, withdraw_fields, 0, NULL },
};

static const Layout hello_reply_layout = { 32, hello_reply_fields, 0, NULL };

static const Layout *layout_of(uint16_t type, uint16_t flags)
{
    if (type == 0 || type >= DCD_MSG__MAX) {
        return &empty_layout;
    }
    if ((flags & DCD_HDR_REPLY) && type != DCD_MSG_ERROR) {
        return type == DCD_MSG_HELLO ? &hello_reply_layout : &empty_layout;
    }
    return &request_layouts[type];
}

/*
 * Convert the integer fields of one struct between host and wire order.
 * to_wire selects the direction; the bytes are rewritten in place.
 */
static void swap_fields(uint8_t *p, const Field *f, bool to_wire)
{
    for (; f && f->size; f++) {
        uint8_t *q = p + f->off;

        switch (f->size) {
        case 2: {
            uint16_t v;
            if (to_wire) {
                memcpy(&v, q, 2);
                put_le16(q, v);
            } else {
                v = get_le16(q);
                memcpy(q, &v, 2);
            }
            break;
        }
        case 4: {
            uint32_t v;
            if (to_wire) {
                memcpy(&v, q, 4);
                put_le32(q, v);
            } else {
                v = get_le32(q);
                memcpy(q, &v, 4);
            }
            break;
        }
        case 8: {
            uint64_t v;
            if (to_wire) {
                memcpy(&v, q, 8);
                put_le64(q, v);
            } else {
                v = get_le64(q);
                memcpy(q, &v, 8);
            }
            break;
        }
        default:
            g_assert_not_reached();
        }
    }
}

/* Does the (fixed part of the) payload @p announce @l's trailer? */
static size_t trailer_of(const Layout *l, const uint8_t *p)
{
    return l->trailer && (p[l->flag_off] & l->flag) ? l->trailer : 0;
}

static void swap_payload(uint8_t *p, size_t len, const Layout *l,
                         bool to_wire)
{
    size_t trailer;

    if (len < l->fixed) {
        return;
    }
    trailer = trailer_of(l, p);
    swap_fields(p, l->fixed_fields, to_wire);
    if (trailer && len >= l->fixed + trailer) {
        swap_fields(p + len - trailer, l->trailer_fields, to_wire);
        len -= trailer;
    }
    if (!l->entry_fields) {
        return;
    }
    for (size_t off = l->fixed; off + l->entry <= len; off += l->entry) {
        swap_fields(p + off, l->entry_fields, to_wire);
    }
}

/* ---- messages ------------------------------------------------------ */

DcdMsg *dcd_msg_new(DcdMsgType type, uint16_t flags, uint32_t id, size_t len)
{
    DcdMsg *m;

    g_return_val_if_fail(len <= DCD_MAX_PAYLOAD, NULL);
    m = g_new0(DcdMsg, 1);
    m->hdr.magic = DCD_PROTO_MAGIC;
    m->hdr.version = DCD_HDR_VERSION;
    m->hdr.type = type;
    m->hdr.flags = flags;
    m->hdr.id = id;
    m->hdr.len = len;
    /* One spare zero byte keeps ERROR text NUL-terminated in memory. */
    m->payload = g_malloc0(len + 1);
    for (unsigned i = 0; i < DCD_MAX_FDS; i++) {
        m->fds[i] = -1;
    }
    return m;
}

void dcd_msg_free(DcdMsg *m)
{
    if (!m) {
        return;
    }
    for (unsigned i = 0; i < m->hdr.nfds && i < DCD_MAX_FDS; i++) {
        if (m->fds[i] >= 0) {
            close(m->fds[i]);
        }
    }
    g_free(m->payload);
    g_free(m);
}

void dcd_msg_set_fd(DcdMsg *m, int fd)
{
    g_return_if_fail(m->hdr.nfds < DCD_MAX_FDS);
    m->fds[m->hdr.nfds++] = fd;
}

int dcd_msg_take_fd(DcdMsg *m, unsigned i)
{
    int fd;

    g_return_val_if_fail(i < m->hdr.nfds && i < DCD_MAX_FDS, -1);
    fd = m->fds[i];
    m->fds[i] = -1;
    return fd;
}

/* Entry arrays may be NULL when empty; memcpy() must not see that. */
static void copy_in(void *dst, const void *src, size_t n)
{
    if (n) {
        memcpy(dst, src, n);
    }
}

static size_t checked_size(size_t fixed, size_t entry, unsigned count)
{
    size_t len = fixed + entry * count;

    g_return_val_if_fail(len <= DCD_MAX_PAYLOAD, fixed);
    return len;
}

DcdMsg *dcd_msg_new_hello(uint32_t id, uint16_t host_id, const char *name,
                          const struct dcd_region *regions, unsigned nregions,
                          uint8_t flags)
{
    DcdMsg *m;
    struct dcd_hello *h;

    g_return_val_if_fail(nregions <= DCD_MAX_REGIONS, NULL);
    m = dcd_msg_new(DCD_MSG_HELLO, 0, id,
                    sizeof(*h) + nregions * sizeof(struct dcd_region));
    h = m->payload;
    h->version_min = DCD_PROTO_VERSION_MIN;
    h->version_max = DCD_PROTO_VERSION;
    h->host_id = host_id;
    h->nregions = nregions;
    h->flags = flags;
    /* At most DCD_NAME_LEN - 1 bytes: the name always ends in a NUL. */
    if (name) {
        strncpy(h->name, name, DCD_NAME_LEN - 1);
    }
    if (nregions) {
        memcpy(h->regions, regions, nregions * sizeof(struct dcd_region));
    }
    return m;
}

void dcd_msg_hello_set_limits(DcdMsg *m, uint16_t max_group)
{
    struct dcd_hello *h = m->payload;
    struct dcd_hello_limits *l;
    size_t at = m->hdr.len;

    g_return_if_fail(m->hdr.type == DCD_MSG_HELLO &&
                     !(h->flags & DCD_HELLO_LIMITS) && max_group);
    m->hdr.len += sizeof(*l);
    m->payload = g_realloc(m->payload, m->hdr.len + 1);
    memset((uint8_t *)m->payload + at, 0, sizeof(*l) + 1);
    h = m->payload;
    h->flags |= DCD_HELLO_LIMITS;
    h->version_min = MAX(h->version_min, DCD_HELLO_LIMITS_VERSION);
    l = (struct dcd_hello_limits *)((uint8_t *)m->payload + at);
    l->max_group = max_group;
}

const struct dcd_hello_limits *dcd_hello_limits(const struct dcd_hello *h)
{
    if (!(h->flags & DCD_HELLO_LIMITS)) {
        return NULL;
    }
    return (const struct dcd_hello_limits *)&h->regions[h->nregions];
}

DcdMsg *dcd_msg_new_hello_reply(uint32_t id, uint16_t version,
                                const uint8_t broker_id[16], uint64_t epoch)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_HELLO, DCD_HDR_REPLY, id,
                            sizeof(struct dcd_hello_reply));
    struct dcd_hello_reply *r = m->payload;

    r->version = version;
    memcpy(r->broker_id, broker_id, 16);
    r->epoch = epoch;
    return m;
}

DcdMsg *dcd_msg_new_error(uint32_t id, DcdErr code, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    const char *end;
    DcdMsg *m;
    struct dcd_error *e;

    /* Cut at DCD_MAX_TEXT, and back to the last whole UTF-8 character. */
    if (n > DCD_MAX_TEXT) {
        n = DCD_MAX_TEXT;
    }
    if (n && !g_utf8_validate(text, n, &end)) {
        n = end - text;
    }
    m = dcd_msg_new(DCD_MSG_ERROR, id ? DCD_HDR_REPLY : 0, id,
                    sizeof(*e) + n);
    e = m->payload;
    e->code = code;
    e->text_len = n;
    if (n) {
        memcpy(e->text, text, n);
    }
    return m;
}

DcdMsg *dcd_msg_new_ack(DcdMsgType type, uint32_t id)
{
    return dcd_msg_new(type, DCD_HDR_REPLY, id, 0);
}

DcdMsg *dcd_msg_new_pool(uint32_t id, const DcdTag *tag, uint64_t size,
                         DcdBacking backing, uint32_t flags, int fd)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_POOL, 0, id, sizeof(struct dcd_pool));
    struct dcd_pool *p = m->payload;

    memcpy(p->tag, tag->b, 16);
    p->size = size;
    p->backing = backing;
    p->flags = flags;
    dcd_msg_set_fd(m, fd);
    return m;
}

DcdMsg *dcd_msg_new_offer(uint32_t id, uint64_t group, uint16_t flags,
                          const struct dcd_extent *e, unsigned count)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_OFFER, 0, id,
                            checked_size(16, 48, count));
    struct dcd_offer *o = m->payload;

    o->group = group;
    o->count = (m->hdr.len - 16) / 48;
    o->flags = flags;
    copy_in(o->extents, e, o->count * sizeof(*e));
    return m;
}

DcdMsg *dcd_msg_new_accept(uint32_t id, uint64_t group,
                           const struct dcd_range *r, unsigned count)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_ACCEPT, 0, id,
                            checked_size(16, 16, count));
    struct dcd_accept *a = m->payload;

    a->group = group;
    a->count = (m->hdr.len - 16) / 16;
    copy_in(a->ranges, r, a->count * sizeof(*r));
    return m;
}

DcdMsg *dcd_msg_new_release(uint32_t id, uint64_t release_id, uint16_t flags,
                            const struct dcd_extent *e, unsigned count)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_RELEASE, 0, id,
                            checked_size(16, 48, count));
    struct dcd_release *r = m->payload;

    r->id = release_id;
    r->count = (m->hdr.len - 16) / 48;
    r->flags = flags;
    copy_in(r->extents, e, r->count * sizeof(*e));
    return m;
}

DcdMsg *dcd_msg_new_released(uint32_t id, const struct dcd_range *r,
                             unsigned count)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_RELEASED, 0, id,
                            checked_size(8, 16, count));
    struct dcd_released *d = m->payload;

    d->count = (m->hdr.len - 8) / 16;
    copy_in(d->ranges, r, d->count * sizeof(*r));
    return m;
}

DcdMsg *dcd_msg_new_add_req(uint32_t id, const DcdTag *tag, uint64_t length,
                            DcdPolicy policy, uint8_t region,
                            const struct dcd_range *r, unsigned count)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_ADD_REQ, 0, id,
                            checked_size(32, 16, count));
    struct dcd_add_req *a = m->payload;

    memcpy(a->tag, tag->b, 16);
    a->length = length;
    a->policy = policy;
    a->region = region;
    a->count = (m->hdr.len - 32) / 16;
    copy_in(a->ranges, r, a->count * sizeof(*r));
    return m;
}

DcdMsg *dcd_msg_new_release_req(uint32_t id, const DcdTag *tag,
                                DcdRemoval removal, uint8_t region,
                                uint16_t flags, const struct dcd_range *r,
                                unsigned count)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_RELEASE_REQ, 0, id,
                            checked_size(24, 16, count));
    struct dcd_release_req *a = m->payload;

    memcpy(a->tag, tag->b, 16);
    a->removal = removal;
    a->region = region;
    a->count = (m->hdr.len - 24) / 16;
    a->flags = flags;
    copy_in(a->ranges, r, a->count * sizeof(*r));
    return m;
}

DcdMsg *dcd_msg_new_withdraw(uint32_t id, uint64_t group)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_WITHDRAW, 0, id,
                            sizeof(struct dcd_withdraw));

    ((struct dcd_withdraw *)m->payload)->group = group;
    return m;
}

DcdMsg *dcd_msg_new_hold(uint32_t id, uint16_t flags,
                         const struct dcd_extent *e, unsigned count)
{
    DcdMsg *m = dcd_msg_new(DCD_MSG_HOLD, 0, id, checked_size(8, 48, count));
    struct dcd_hold *h = m->payload;

    h->count = (m->hdr.len - 8) / 48;
    h->flags = flags;
    copy_in(h->extents, e, h->count * sizeof(*e));
    return m;
}

/* ---- encoding ------------------------------------------------------ */

uint8_t *dcd_msg_encode(const DcdMsg *m, size_t *len)
{
    const struct dcd_hdr *h = &m->hdr;
    uint8_t *buf = g_malloc(DCD_HDR_SIZE + h->len);

    put_le32(buf + 0, h->magic);
    put_le16(buf + 4, h->version);
    put_le16(buf + 6, h->type);
    put_le16(buf + 8, h->flags);
    put_le16(buf + 10, h->nfds);
    put_le32(buf + 12, h->id);
    put_le32(buf + 16, h->len);
    put_le32(buf + 20, h->reserved);
    memcpy(buf + DCD_HDR_SIZE, m->payload, h->len);
    swap_payload(buf + DCD_HDR_SIZE, h->len, layout_of(h->type, h->flags),
                 true);
    *len = DCD_HDR_SIZE + h->len;
    return buf;
}

/* ---- decoding ------------------------------------------------------ */

static const char *const type_names[DCD_MSG__MAX] = {
    [DCD_MSG_HELLO] = "HELLO",
    [DCD_MSG_ERROR] = "ERROR",
    [DCD_MSG_PING] = "PING",
    [DCD_MSG_POOL] = "POOL",
    [DCD_MSG_OFFER] = "OFFER",
    [DCD_MSG_ACCEPT] = "ACCEPT",
    [DCD_MSG_RELEASE] = "RELEASE",
    [DCD_MSG_RELEASED] = "RELEASED",
    [DCD_MSG_ADD_REQ] = "ADD_REQ",
    [DCD_MSG_RELEASE_REQ] = "RELEASE_REQ",
    [DCD_MSG_HOLD] = "HOLD",
    [DCD_MSG_WITHDRAW] = "WITHDRAW",
};

const char *dcd_msg_type_name(uint16_t type)
{
    return type < DCD_MSG__MAX && type_names[type] ? type_names[type]
                                                   : "unknown";
}

static bool G_GNUC_PRINTF(2, 3) proto_fail(GError **errp, const char *fmt,
                                           ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_propagate_error(errp, g_error_new_valist(DCD_ERROR, DCD_ERR_PROTO,
                                               fmt, ap));
    va_end(ap);
    return false;
}

/* OFFER and RELEASE are answered by ACCEPT/RELEASED, never by a reply. */
static bool type_has_reply(uint16_t type)
{
    return type != DCD_MSG_OFFER && type != DCD_MSG_RELEASE;
}

bool dcd_hdr_decode(const uint8_t *buf, struct dcd_hdr *h, GError **errp)
{
    h->magic = get_le32(buf + 0);
    h->version = get_le16(buf + 4);
    h->type = get_le16(buf + 6);
    h->flags = get_le16(buf + 8);
    h->nfds = get_le16(buf + 10);
    h->id = get_le32(buf + 12);
    h->len = get_le32(buf + 16);
    h->reserved = get_le32(buf + 20);

    if (h->magic != DCD_PROTO_MAGIC) {
        return proto_fail(errp, "bad magic 0x%08x", h->magic);
    }
    if (h->type == 0 || h->type >= DCD_MSG__MAX) {
        return proto_fail(errp, "unknown message type %u", h->type);
    }
    if (h->version != DCD_HDR_VERSION &&
        !(h->type == DCD_MSG_HELLO && !(h->flags & DCD_HDR_REPLY))) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_VERSION,
                    "%s: header version %u, expected %u",
                    dcd_msg_type_name(h->type), h->version,
                    DCD_HDR_VERSION);
        return false;
    }
    if (h->flags & ~DCD_HDR_REPLY) {
        return proto_fail(errp, "%s: unknown header flags 0x%x",
                          dcd_msg_type_name(h->type), h->flags);
    }
    if (h->reserved) {
        return proto_fail(errp, "%s: header reserved field is 0x%x",
                          dcd_msg_type_name(h->type), h->reserved);
    }
    if (h->len > DCD_MAX_PAYLOAD) {
        return proto_fail(errp, "%s: payload of %u bytes exceeds %u",
                          dcd_msg_type_name(h->type), h->len,
                          DCD_MAX_PAYLOAD);
    }
    if (h->nfds > DCD_MAX_FDS) {
        return proto_fail(errp, "%s: %u fds, at most %u allowed",
                          dcd_msg_type_name(h->type), h->nfds, DCD_MAX_FDS);
    }
    return true;
}

/* How many fds a message of this type and direction must carry. */
static unsigned fds_needed(const struct dcd_hdr *h)
{
    return h->type == DCD_MSG_POOL && !(h->flags & DCD_HDR_REPLY) ? 1 : 0;
}

static bool check_ids(const struct dcd_hdr *h, GError **errp)
{
    const char *name = dcd_msg_type_name(h->type);

    if (h->type == DCD_MSG_ERROR) {
        /* id 0 is an unsolicited ERROR; a non-zero id is a reply. */
        if (!!h->id != !!(h->flags & DCD_HDR_REPLY)) {
            return proto_fail(errp, "ERROR: id %u %s the reply flag", h->id,
                              h->id ? "needs" : "forbids");
        }
        return true;
    }
    if (h->id == 0) {
        return proto_fail(errp, "%s: id 0", name);
    }
    if ((h->flags & DCD_HDR_REPLY) && !type_has_reply(h->type)) {
        return proto_fail(errp, "%s: has no reply", name);
    }
    return true;
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static bool check_range(const char *what, unsigned i,
                        const struct dcd_range *r, GError **errp)
{
    if (r->len == 0) {
        return proto_fail(errp, "%s: range %u has length 0", what, i);
    }
    if (r->dpa + r->len < r->dpa) {
        return proto_fail(errp, "%s: range %u (0x%" G_GINT64_MODIFIER
                          "x+0x%" G_GINT64_MODIFIER "x) overflows",
                          what, i, r->dpa, r->len);
    }
    return true;
}

static bool check_ranges(const char *what, const struct dcd_range *r,
                         unsigned n, GError **errp)
{
    for (unsigned i = 0; i < n; i++) {
        if (!check_range(what, i, &r[i], errp)) {
            return false;
        }
    }
    return true;
}

static bool check_extents(const char *what, const struct dcd_extent *e,
                          unsigned n, GError **errp)
{
    for (unsigned i = 0; i < n; i++) {
        if (e[i].len == 0) {
            return proto_fail(errp, "%s: extent %u has length 0", what, i);
        }
        if (e[i].dpa + e[i].len < e[i].dpa ||
            e[i].pool_offset + e[i].len < e[i].pool_offset) {
            return proto_fail(errp, "%s: extent %u overflows", what, i);
        }
        if (e[i].flags || e[i].reserved) {
            return proto_fail(errp, "%s: extent %u has non-zero flags or "
                              "reserved field", what, i);
        }
        if (e[i].region >= DCD_MAX_REGIONS) {
            return proto_fail(errp, "%s: extent %u names region %u",
                              what, i, e[i].region);
        }
    }
    return true;
}

static bool check_tag(const char *what, const uint8_t *tag, GError **errp)
{
    static const uint8_t zero[16];

    if (memcmp(tag, zero, 16) == 0) {
        return proto_fail(errp, "%s: null tag", what);
    }
    return true;
}

/* Printable ASCII, then at least one NUL, and only NULs after it. */
static bool check_name(const char *name, GError **errp)
{
    unsigned i = 0;

    for (; i < DCD_NAME_LEN && name[i]; i++) {
        if (name[i] < 0x20 || name[i] > 0x7e) {
            return proto_fail(errp, "HELLO: name byte %u (0x%02x) is not "
                              "printable ASCII", i, (uint8_t)name[i]);
        }
    }
    if (i == DCD_NAME_LEN) {
        return proto_fail(errp, "HELLO: name is not NUL-terminated");
    }
    for (; i < DCD_NAME_LEN; i++) {
        if (name[i]) {
            return proto_fail(errp, "HELLO: name has bytes after its NUL");
        }
    }
    return true;
}

static bool check_region(unsigned i, const struct dcd_region *r,
                         GError **errp)
{
    if (r->len == 0) {
        return proto_fail(errp, "region %u has length 0", i);
    }
    if (!is_pow2(r->block_size) || r->block_size < DCD_MIN_BLOCK) {
        return proto_fail(errp, "region %u block size 0x%" G_GINT64_MODIFIER
                          "x is not a power of two >= %u", i, r->block_size,
                          DCD_MIN_BLOCK);
    }
    if (r->len % r->block_size || r->base % r->block_size) {
        return proto_fail(errp, "region %u base or length is not a "
                          "multiple of its block size", i);
    }
    if (r->base > DCD_MAX_DPA || r->len > DCD_MAX_DPA - r->base) {
        return proto_fail(errp, "region %u ends beyond DPA 0x%"
                          G_GINT64_MODIFIER "x", i, DCD_MAX_DPA);
    }
    if (r->flags & ~DCD_REGION_SHARABLE) {
        return proto_fail(errp, "region %u has unknown flags 0x%x",
                          i, r->flags);
    }
    if (r->reserved) {
        return proto_fail(errp, "region %u reserved field is non-zero", i);
    }
    return true;
}

bool dcd_regions_check(const struct dcd_region *r, unsigned n,
                       GError **errp)
{
    if (n == 0 || n > DCD_MAX_REGIONS) {
        return proto_fail(errp, "%u regions; a host has 1 to %u", n,
                          DCD_MAX_REGIONS);
    }
    for (unsigned i = 0; i < n; i++) {
        if (!check_region(i, &r[i], errp)) {
            return false;
        }
        for (unsigned j = 0; j < i; j++) {
            if (r[i].base < r[j].base + r[j].len &&
                r[j].base < r[i].base + r[i].len) {
                return proto_fail(errp, "regions %u and %u overlap", j, i);
            }
        }
    }
    return true;
}

static bool check_hello(const struct dcd_hello *h, GError **errp)
{
    if (h->version_min == 0 || h->version_min > h->version_max) {
        return proto_fail(errp, "HELLO: bad version range %u..%u",
                          h->version_min, h->version_max);
    }
    if (h->flags & ~(DCD_HELLO_RECONNECT | DCD_HELLO_LIMITS)) {
        return proto_fail(errp, "HELLO: unknown flags 0x%x", h->flags);
    }
    if (h->flags & DCD_HELLO_LIMITS) {
        const struct dcd_hello_limits *l = dcd_hello_limits(h);

        /* A version 2 reader would take the limits for a malformed HELLO */
        if (h->version_min < DCD_HELLO_LIMITS_VERSION) {
            return proto_fail(errp, "HELLO: limits need version %u or later, "
                              "but the host offers %u..%u",
                              DCD_HELLO_LIMITS_VERSION, h->version_min,
                              h->version_max);
        }
        if (l->max_group == 0) {
            return proto_fail(errp, "HELLO: at most 0 extents in a group");
        }
        if (l->reserved || l->reserved2) {
            return proto_fail(errp, "HELLO: limits reserved fields not 0");
        }
    }
    if (!check_name(h->name, errp)) {
        return false;
    }
    if (!dcd_regions_check(h->regions, h->nregions, errp)) {
        g_prefix_error(errp, "HELLO: ");
        return false;
    }
    return true;
}

static bool check_hello_reply(const struct dcd_hello_reply *r, GError **errp)
{
    if (r->reserved || r->flags) {
        return proto_fail(errp, "HELLO reply: non-zero reserved or flags");
    }
    if (r->version < DCD_PROTO_VERSION_MIN || r->version > DCD_PROTO_VERSION) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_VERSION,
                    "HELLO reply: broker chose version %u, we speak %u..%u",
                    r->version, DCD_PROTO_VERSION_MIN, DCD_PROTO_VERSION);
        return false;
    }
    return true;
}

static bool check_error(const struct dcd_error *e, GError **errp)
{
    if (e->code == DCD_ERR_OK || e->code >= DCD_ERR__MAX) {
        return proto_fail(errp, "ERROR: unknown code %u", e->code);
    }
    if (e->text_len && !g_utf8_validate(e->text, e->text_len, NULL)) {
        return proto_fail(errp, "ERROR: text is not valid UTF-8");
    }
    return true;
}

static bool check_pool(const struct dcd_pool *p, GError **errp)
{
    if (!check_tag("POOL", p->tag, errp)) {
        return false;
    }
    if (p->size == 0) {
        return proto_fail(errp, "POOL: size 0");
    }
    /* A device pool travels as a file: "device" is no wire value. */
    if (p->backing == 0 || p->backing > DCD_BACKING_HUGETLB) {
        return proto_fail(errp, "POOL: unknown backing %u", p->backing);
    }
    if (p->flags & ~DCD_POOL_SEALED) {
        return proto_fail(errp, "POOL: unknown flags 0x%x", p->flags);
    }
    return true;
}

static bool check_offer(const struct dcd_offer *o, GError **errp)
{
    if (o->count == 0) {
        return proto_fail(errp, "OFFER: count 0");
    }
    if (o->flags & ~DCD_GROUP_MORE) {
        return proto_fail(errp, "OFFER: unknown flags 0x%x", o->flags);
    }
    if (o->reserved) {
        return proto_fail(errp, "OFFER: reserved field is non-zero");
    }
    return check_extents("OFFER", o->extents, o->count, errp);
}

static bool check_accept(const struct dcd_accept *a, GError **errp)
{
    if (a->reserved || a->reserved2) {
        return proto_fail(errp, "ACCEPT: reserved field is non-zero");
    }
    return check_ranges("ACCEPT", a->ranges, a->count, errp);
}

static bool check_release(const struct dcd_release *r, GError **errp)
{
    if (r->count == 0) {
        return proto_fail(errp, "RELEASE: count 0");
    }
    if (r->flags & ~(DCD_GROUP_MORE | DCD_RELEASE_FORCED)) {
        return proto_fail(errp, "RELEASE: unknown flags 0x%x", r->flags);
    }
    if (r->reserved) {
        return proto_fail(errp, "RELEASE: reserved field is non-zero");
    }
    return check_extents("RELEASE", r->extents, r->count, errp);
}

static bool check_released(const struct dcd_released *r, GError **errp)
{
    if (r->count == 0) {
        return proto_fail(errp, "RELEASED: count 0");
    }
    if (r->flags || r->reserved) {
        return proto_fail(errp, "RELEASED: non-zero flags or reserved field");
    }
    return check_ranges("RELEASED", r->ranges, r->count, errp);
}

static bool check_add_req(const struct dcd_add_req *a, GError **errp)
{
    if (!check_tag("ADD_REQ", a->tag, errp)) {
        return false;
    }
    if (a->policy >= DCD_POLICY__MAX) {
        return proto_fail(errp, "ADD_REQ: unknown policy %u", a->policy);
    }
    if (a->region >= DCD_MAX_REGIONS) {
        return proto_fail(errp, "ADD_REQ: region %u", a->region);
    }
    if (a->reserved) {
        return proto_fail(errp, "ADD_REQ: reserved field is non-zero");
    }
    if (a->policy == DCD_POLICY_PRESCRIPTIVE && a->count == 0) {
        return proto_fail(errp, "ADD_REQ: prescriptive needs ranges");
    }
    if ((a->policy == DCD_POLICY_FREE ||
         a->policy == DCD_POLICY_CONTIGUOUS) && a->count) {
        return proto_fail(errp, "ADD_REQ: policy %s takes no ranges",
                          dcd_policy_name(a->policy));
    }
    return check_ranges("ADD_REQ", a->ranges, a->count, errp);
}

static bool check_release_req(const struct dcd_release_req *r, GError **errp)
{
    if (!check_tag("RELEASE_REQ", r->tag, errp)) {
        return false;
    }
    if (r->removal >= DCD_REMOVAL__MAX) {
        return proto_fail(errp, "RELEASE_REQ: unknown removal policy %u",
                          r->removal);
    }
    if (r->region >= DCD_MAX_REGIONS) {
        return proto_fail(errp, "RELEASE_REQ: region %u", r->region);
    }
    if (r->flags & ~DCD_RELEASE_FORCED) {
        return proto_fail(errp, "RELEASE_REQ: unknown flags 0x%x", r->flags);
    }
    if (r->reserved) {
        return proto_fail(errp, "RELEASE_REQ: reserved field is non-zero");
    }
    if ((r->removal == DCD_REMOVAL_PRESCRIPTIVE) != (r->count > 0)) {
        return proto_fail(errp, "RELEASE_REQ: %s removal %s ranges",
                          dcd_removal_name(r->removal),
                          r->count ? "takes no" : "needs");
    }
    return check_ranges("RELEASE_REQ", r->ranges, r->count, errp);
}

static bool check_hold(const struct dcd_hold *h, GError **errp)
{
    if (h->flags & ~DCD_GROUP_MORE) {
        return proto_fail(errp, "HOLD: unknown flags 0x%x", h->flags);
    }
    if (h->reserved) {
        return proto_fail(errp, "HOLD: reserved field is non-zero");
    }
    return check_extents("HOLD", h->extents, h->count, errp);
}

/* Entries the fixed part announces; read from the host-order payload. */
static unsigned count_of(uint16_t type, uint16_t flags, const void *p)
{
    if ((flags & DCD_HDR_REPLY) && type != DCD_MSG_ERROR) {
        return 0;
    }
    switch (type) {
    case DCD_MSG_HELLO:
        return ((const struct dcd_hello *)p)->nregions;
    case DCD_MSG_ERROR:
        return ((const struct dcd_error *)p)->text_len;
    case DCD_MSG_OFFER:
        return ((const struct dcd_offer *)p)->count;
    case DCD_MSG_ACCEPT:
        return ((const struct dcd_accept *)p)->count;
    case DCD_MSG_RELEASE:
        return ((const struct dcd_release *)p)->count;
    case DCD_MSG_RELEASED:
        return ((const struct dcd_released *)p)->count;
    case DCD_MSG_ADD_REQ:
        return ((const struct dcd_add_req *)p)->count;
    case DCD_MSG_RELEASE_REQ:
        return ((const struct dcd_release_req *)p)->count;
    case DCD_MSG_HOLD:
        return ((const struct dcd_hold *)p)->count;
    default:
        return 0;
    }
}

static unsigned max_count(uint16_t type)
{
    switch (type) {
    case DCD_MSG_HELLO:
        return DCD_MAX_REGIONS;
    case DCD_MSG_ERROR:
        return DCD_MAX_TEXT;
    case DCD_MSG_OFFER:
    case DCD_MSG_RELEASE:
    case DCD_MSG_HOLD:
        return DCD_MAX_EXTENTS;
    default:
        return DCD_MAX_RANGES;
    }
}

unsigned dcd_msg_count(const DcdMsg *m)
{
    if (m->hdr.len < layout_of(m->hdr.type, m->hdr.flags)->fixed) {
        return 0;
    }
    return count_of(m->hdr.type, m->hdr.flags, m->payload);
}

/* Payload length and entry count agree with the type and its limits. */
static bool check_size(const struct dcd_hdr *h, const Layout *l,
                       const void *p, GError **errp)
{
    const char *name = dcd_msg_type_name(h->type);
    const char *what = (h->flags & DCD_HDR_REPLY) && h->type != DCD_MSG_ERROR
                       ? " reply" : "";
    unsigned count;
    size_t need;

    if (!l->entry) {
        if (h->len != l->fixed) {
            return proto_fail(errp, "%s%s: needs %zu bytes, got %u",
                              name, what, l->fixed, h->len);
        }
        return true;
    }
    if (h->len < l->fixed) {
        return proto_fail(errp, "%s: needs at least %zu bytes, got %u",
                          name, l->fixed, h->len);
    }
    count = count_of(h->type, h->flags, p);
    if (count > max_count(h->type)) {
        return proto_fail(errp, "%s: count %u exceeds %u", name, count,
                          max_count(h->type));
    }
    if (h->type == DCD_MSG_HELLO && count == 0) {
        return proto_fail(errp, "HELLO: no regions");
    }
    need = l->fixed + (size_t)count * l->entry + trailer_of(l, p);
    if (h->len != need) {
        return proto_fail(errp, "%s: count %u needs %zu bytes, got %u",
                          name, count, need, h->len);
    }
    return true;
}

static bool check_payload(const struct dcd_hdr *h, const void *p,
                          GError **errp)
{
    if ((h->flags & DCD_HDR_REPLY) && h->type != DCD_MSG_ERROR) {
        return h->type == DCD_MSG_HELLO ? check_hello_reply(p, errp) : true;
    }
    switch (h->type) {
    case DCD_MSG_HELLO:
        return check_hello(p, errp);
    case DCD_MSG_ERROR:
        return check_error(p, errp);
    case DCD_MSG_PING:
        return true;
    case DCD_MSG_POOL:
        return check_pool(p, errp);
    case DCD_MSG_OFFER:
        return check_offer(p, errp);
    case DCD_MSG_ACCEPT:
        return check_accept(p, errp);
    case DCD_MSG_RELEASE:
        return check_release(p, errp);
    case DCD_MSG_RELEASED:
        return check_released(p, errp);
    case DCD_MSG_ADD_REQ:
        return check_add_req(p, errp);
    case DCD_MSG_RELEASE_REQ:
        return check_release_req(p, errp);
    case DCD_MSG_HOLD:
        return check_hold(p, errp);
    case DCD_MSG_WITHDRAW:
        if (((const struct dcd_withdraw *)p)->reserved) {
            return proto_fail(errp, "WITHDRAW: reserved field is non-zero");
        }
        return true;
    default:
        return proto_fail(errp, "unknown message type %u", h->type);
    }
}

DcdMsg *dcd_msg_decode(const struct dcd_hdr *h, const uint8_t *payload,
                       int *fds, GError **errp)
{
    g_autoptr(GError) err = NULL;
    const Layout *l;
    DcdMsg *m;
    unsigned need;

    /* The header may come from anywhere: check it again, cheaply. */
    if (h->magic != DCD_PROTO_MAGIC || h->type == 0 ||
        h->type >= DCD_MSG__MAX || h->len > DCD_MAX_PAYLOAD ||
        h->nfds > DCD_MAX_FDS || h->reserved || (h->flags & ~DCD_HDR_REPLY)) {
        proto_fail(errp, "malformed header");
        return NULL;
    }
    if (!check_ids(h, errp)) {
        return NULL;
    }
    need = fds_needed(h);
    if (h->nfds != need) {
        proto_fail(errp, "%s%s: wrong fd count %u, needs %u",
                   dcd_msg_type_name(h->type),
                   h->flags & DCD_HDR_REPLY ? " reply" : "", h->nfds, need);
        return NULL;
    }

    l = layout_of(h->type, h->flags);
    m = dcd_msg_new(h->type, h->flags, h->id, h->len);
    m->hdr.version = h->version;
    memcpy(m->payload, payload, h->len);
    swap_payload(m->payload, h->len, l, false);
    if (!check_size(h, l, m->payload, &err) ||
        !check_payload(h, m->payload, &err)) {
        dcd_msg_free(m);
        g_propagate_error(errp, g_steal_pointer(&err));
        return NULL;
    }
    for (unsigned i = 0; i < h->nfds; i++) {
        m->fds[i] = fds[i];
        fds[i] = -1;
    }
    m->hdr.nfds = h->nfds;
    return m;
}

bool dcd_hello_pick_version(const struct dcd_hello *h, uint16_t *version,
                            GError **errp)
{
    uint16_t hi = MIN(h->version_max, DCD_PROTO_VERSION);

    if (hi < DCD_PROTO_VERSION_MIN || hi < h->version_min) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_VERSION,
                    "no common version: host speaks %u..%u, broker %u..%u",
                    h->version_min, h->version_max, DCD_PROTO_VERSION_MIN,
                    DCD_PROTO_VERSION);
        return false;
    }
    *version = hi;
    return true;
}
