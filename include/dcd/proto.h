/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd/proto.h - dcd-broker host protocol, version 3.
 *
 * Owns: the byte layout of every message on the host socket (between
 * dcd-broker and a host: a QEMU CXL Type 3 device or dcd-hostsim), the
 * limits a receiver enforces, and the codec that turns bytes into checked
 * messages and back.  docs/protocol.md is the specification; keep the two
 * in step.
 *
 * Every message is a 24-byte header and a payload of hdr.len bytes.  All
 * integers are little-endian.  File descriptors travel as SCM_RIGHTS on
 * the sendmsg() that carries the message's first byte; hdr.nfds says how
 * many.  Requests carry a non-zero id chosen by the sender; the reply
 * repeats it with DCD_HDR_REPLY set, either as the same type (success) or
 * as DCD_MSG_ERROR.
 */
#ifndef DCD_PROTO_H
#define DCD_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "dcd/types.h"

G_BEGIN_DECLS

#define DCD_PROTO_MAGIC 0x42444344u /* bytes "DCDB" */
/*
 * Protocol versions (negotiated in HELLO).  2 makes every one-way
 * transition acknowledged: WITHDRAW of an offer, and RELEASED after a
 * forced RELEASE.  1 confirmed neither, so a host that may still map a
 * range could not be told from one that does not: it is refused.  3
 * lets HELLO carry the host's limits (the most extents in one group).
 * The header's own version field is the header format, always 1.
 */
#define DCD_PROTO_VERSION 3
#define DCD_PROTO_VERSION_MIN 2
#define DCD_HDR_VERSION 1

/* Limits: a receiver refuses anything larger before allocating. */
#define DCD_HDR_SIZE 24
#define DCD_MAX_PAYLOAD 65536
#define DCD_MAX_EXTENTS 1024 /* per OFFER/RELEASE/HOLD message */
#define DCD_MAX_RANGES 1024  /* per ACCEPT/RELEASED/ADD_REQ/RELEASE_REQ */
#define DCD_MAX_REGIONS 8    /* CXL allows 1 to 8 DC regions */
#define DCD_MAX_FDS 1        /* only POOL carries an fd */
#define DCD_MAX_TEXT 512     /* ERROR text, bytes */
#define DCD_NAME_LEN 32      /* HELLO device name, NUL-padded */
#define DCD_MIN_BLOCK 4096   /* smallest DC region block size */
/*
 * A DC region ends at or below this DPA, so every DPA and length fits a
 * JSON integer on the control socket and in saved state.
 */
#define DCD_MAX_DPA (UINT64_C(1) << 62)

/* hdr.flags */
#define DCD_HDR_REPLY (1u << 0)

typedef enum DcdMsgType {
    DCD_MSG_HELLO = 1,       /* host -> broker, request */
    DCD_MSG_ERROR = 2,       /* reply; or unsolicited (id 0) before close */
    DCD_MSG_PING = 3,        /* either way, keepalive */
    DCD_MSG_POOL = 4,        /* broker -> host: pool fd; host -> broker on
                              * reconnect, handing the fd back */
    DCD_MSG_OFFER = 5,       /* broker -> host: (part of) an extent group */
    DCD_MSG_ACCEPT = 6,      /* host -> broker: accepted subset of a group */
    DCD_MSG_RELEASE = 7,     /* broker -> host: please release extents */
    DCD_MSG_RELEASED = 8,    /* host -> broker: extents are released */
    DCD_MSG_ADD_REQ = 9,     /* host -> broker: add capacity by tag */
    DCD_MSG_RELEASE_REQ = 10, /* host -> broker: release capacity by tag */
    DCD_MSG_HOLD = 11,       /* host -> broker: extents still held */
    DCD_MSG_WITHDRAW = 12,   /* broker -> host: an offer is taken back */
    DCD_MSG__MAX,
} DcdMsgType;

struct dcd_hdr {
    uint32_t magic;     /* DCD_PROTO_MAGIC */
    uint16_t version;   /* DCD_HDR_VERSION (HELLO may carry any) */
    uint16_t type;      /* DcdMsgType */
    uint16_t flags;     /* DCD_HDR_* */
    uint16_t nfds;      /* fds sent with this message */
    uint32_t id;        /* request id; 0 only for unsolicited ERROR */
    uint32_t len;       /* payload bytes, <= DCD_MAX_PAYLOAD */
    uint32_t reserved;  /* 0 */
};

/* A DPA range; len > 0. */
struct dcd_range {
    uint64_t dpa;
    uint64_t len;
};

/* One DC extent as the broker sees it for one host; 48 bytes. */
struct dcd_extent {
    uint64_t dpa;          /* start DPA on this host */
    uint64_t len;          /* bytes, > 0 */
    uint8_t tag[16];       /* pool tag */
    uint16_t shared_seq;   /* position in the tag's layout, 0..n-1 */
    uint8_t region;        /* DC region index */
    uint8_t flags;         /* 0 */
    uint32_t reserved;     /* 0 */
    uint64_t pool_offset;  /* where in the pool's fd this extent lives */
};

/* DC region layout as the host declares it; 32 bytes. */
#define DCD_REGION_SHARABLE (1u << 0)
struct dcd_region {
    uint64_t base;         /* DPA of the region start */
    uint64_t len;          /* bytes, multiple of block_size */
    uint64_t block_size;   /* power of two, >= 4 KiB */
    uint32_t flags;        /* DCD_REGION_* */
    uint32_t reserved;     /* 0 */
};

/*
 * HELLO request: 40 bytes + nregions * 32, then with DCD_HELLO_LIMITS (only
 * in a HELLO whose version_min is 3 or more) an 8-byte struct
 * dcd_hello_limits.
 */
#define DCD_HELLO_RECONNECT (1u << 0) /* host holds extents; HOLD follows */
#define DCD_HELLO_LIMITS (1u << 1)    /* struct dcd_hello_limits follows */
#define DCD_HELLO_LIMITS_VERSION 3
struct dcd_hello {
    uint16_t version_min;
    uint16_t version_max;
    uint16_t host_id;
    uint8_t nregions;      /* 1..DCD_MAX_REGIONS */
    uint8_t flags;         /* DCD_HELLO_* */
    char name[DCD_NAME_LEN]; /* printable ASCII, NUL-padded */
    struct dcd_region regions[];
};

/* What a host takes at most; after the regions of a HELLO. */
struct dcd_hello_limits {
    uint16_t max_group;    /* extents in one offered group, >= 1 */
    uint16_t reserved;     /* 0 */
    uint32_t reserved2;    /* 0 */
};

/* HELLO reply: 32 bytes. */
struct dcd_hello_reply {
    uint16_t version;      /* chosen version */
    uint16_t reserved;
    uint32_t flags;        /* 0 */
    uint8_t broker_id[16]; /* stable for one state dir */
    uint64_t epoch;        /* counts broker starts on that state dir */
};

/* ERROR: 8 bytes + text_len. */
struct dcd_error {
    uint32_t code;         /* DcdErr */
    uint32_t text_len;     /* <= DCD_MAX_TEXT; UTF-8, no NUL */
    char text[];
};

/* POOL: 32 bytes, with exactly one fd. */
#define DCD_POOL_SEALED (1u << 0) /* F_SEAL_SHRINK|F_SEAL_GROW are set */
struct dcd_pool {
    uint8_t tag[16];
    uint64_t size;         /* bytes the fd holds, > 0 */
    uint32_t backing;      /* DcdBacking */
    uint32_t flags;        /* DCD_POOL_* */
};

/* OFFER: 16 bytes + count * 48. */
#define DCD_GROUP_MORE (1u << 0) /* another message of this group follows */
struct dcd_offer {
    uint64_t group;        /* broker-chosen, unique per host session */
    uint16_t count;        /* 1..DCD_MAX_EXTENTS */
    uint16_t flags;        /* DCD_GROUP_MORE */
    uint32_t reserved;
    struct dcd_extent extents[];
};

/* ACCEPT: 16 bytes + count * 16.  count 0 rejects the whole group. */
struct dcd_accept {
    uint64_t group;
    uint16_t count;        /* 0..DCD_MAX_RANGES; each an offered extent */
    uint16_t reserved;
    uint32_t reserved2;
    struct dcd_range ranges[];
};

/* RELEASE: 16 bytes + count * 48. */
/*
 * Forced: the host drops the extents at once, without asking its guest,
 * then confirms with RELEASED.
 */
#define DCD_RELEASE_FORCED (1u << 1)
struct dcd_release {
    uint64_t id;           /* broker-chosen release id */
    uint16_t count;        /* 1..DCD_MAX_EXTENTS */
    uint16_t flags;        /* DCD_GROUP_MORE | DCD_RELEASE_FORCED */
    uint32_t reserved;
    struct dcd_extent extents[];
};

/* RELEASED: 8 bytes + count * 16. */
struct dcd_released {
    uint16_t count;        /* 1..DCD_MAX_RANGES */
    uint16_t flags;        /* 0 */
    uint32_t reserved;
    struct dcd_range ranges[];
};

/* ADD_REQ: 32 bytes + count * 16; ranges are region-relative offsets. */
struct dcd_add_req {
    uint8_t tag[16];
    uint64_t length;       /* 0: the whole pool */
    uint8_t policy;        /* DcdPolicy */
    uint8_t region;
    uint16_t count;        /* ranges, prescriptive/enable-shared only */
    uint32_t reserved;
    struct dcd_range ranges[];
};

/* RELEASE_REQ: 24 bytes + count * 16; ranges are region-relative. */
struct dcd_release_req {
    uint8_t tag[16];
    uint8_t removal;       /* DcdRemoval */
    uint8_t region;
    uint16_t count;        /* ranges, prescriptive only */
    uint16_t flags;        /* DCD_RELEASE_FORCED */
    uint16_t reserved;
    struct dcd_range ranges[];
};

/* HOLD: 8 bytes + count * 48, after a HELLO with DCD_HELLO_RECONNECT. */
struct dcd_hold {
    uint16_t count;        /* 0..DCD_MAX_EXTENTS */
    uint16_t flags;        /* DCD_GROUP_MORE */
    uint32_t reserved;
    struct dcd_extent extents[];
};

/* The reply comes once the host maps none of the group. */
struct dcd_withdraw {
    uint64_t group;        /* an offered group */
    uint64_t reserved;     /* 0 */
};

/*
 * A message in host byte order.  payload is 8-byte aligned and holds
 * hdr.len bytes laid out as the structs above; fds[0..hdr.nfds) are owned
 * by the message and closed by dcd_msg_free() unless taken (set to -1).
 */
typedef struct DcdMsg {
    struct dcd_hdr hdr;
    void *payload;
    int fds[DCD_MAX_FDS];
} DcdMsg;

/* Allocate a message with a zeroed payload of len bytes and no fds. */
DcdMsg *dcd_msg_new(DcdMsgType type, uint16_t flags, uint32_t id, size_t len);
void dcd_msg_free(DcdMsg *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdMsg, dcd_msg_free)

/* Attach fd (ownership passes to the message). */
void dcd_msg_set_fd(DcdMsg *m, int fd);
/* Take fd i out of the message (the caller owns it). */
int dcd_msg_take_fd(DcdMsg *m, unsigned i);

/* Builders: payload sized for count entries, header filled. */
DcdMsg *dcd_msg_new_hello(uint32_t id, uint16_t host_id, const char *name,
                          const struct dcd_region *regions, unsigned nregions,
                          uint8_t flags);
/*
 * Give @hello (from dcd_msg_new_hello()) the host's limits: at most
 * @max_group extents in one group.  It then speaks version 3 and up only.
 */
void dcd_msg_hello_set_limits(DcdMsg *hello, uint16_t max_group);
DcdMsg *dcd_msg_new_hello_reply(uint32_t id, uint16_t version,
                                const uint8_t broker_id[16],
                                uint64_t epoch);
DcdMsg *dcd_msg_new_error(uint32_t id, DcdErr code, const char *text);
DcdMsg *dcd_msg_new_ack(DcdMsgType type, uint32_t id); /* empty reply */
DcdMsg *dcd_msg_new_pool(uint32_t id, const DcdTag *tag, uint64_t size,
                         DcdBacking backing, uint32_t flags, int fd);
DcdMsg *dcd_msg_new_offer(uint32_t id, uint64_t group, uint16_t flags,
                          const struct dcd_extent *e, unsigned count);
DcdMsg *dcd_msg_new_accept(uint32_t id, uint64_t group,
                           const struct dcd_range *r, unsigned count);
DcdMsg *dcd_msg_new_release(uint32_t id, uint64_t release_id, uint16_t flags,
                            const struct dcd_extent *e, unsigned count);
DcdMsg *dcd_msg_new_released(uint32_t id, const struct dcd_range *r,
                             unsigned count);
DcdMsg *dcd_msg_new_add_req(uint32_t id, const DcdTag *tag, uint64_t length,
                            DcdPolicy policy, uint8_t region,
                            const struct dcd_range *r, unsigned count);
DcdMsg *dcd_msg_new_release_req(uint32_t id, const DcdTag *tag,
                                DcdRemoval removal, uint8_t region,
                                uint16_t flags, const struct dcd_range *r,
                                unsigned count);
DcdMsg *dcd_msg_new_withdraw(uint32_t id, uint64_t group);
DcdMsg *dcd_msg_new_hold(uint32_t id, uint16_t flags,
                         const struct dcd_extent *e, unsigned count);

/*
 * Encode m to wire bytes (header and payload, little-endian).  The fds are
 * not part of the bytes; send them with the first byte.  Returns a new
 * buffer of *len bytes.
 */
uint8_t *dcd_msg_encode(const DcdMsg *m, size_t *len);

/*
 * Check a received header (DCD_HDR_SIZE bytes): magic, version, type,
 * flags, reserved, len <= DCD_MAX_PAYLOAD and nfds <= DCD_MAX_FDS.
 * A HELLO request may carry any version; its payload negotiates.
 */
bool dcd_hdr_decode(const uint8_t *buf, struct dcd_hdr *h, GError **errp);

/*
 * Check a payload against its header and build the message.  Checks
 * every size, count, reserved field, enum and the fd count the type
 * needs.  On success takes the fds (nfds of them) and returns the
 * message; on failure leaves the fds to the caller.
 */
DcdMsg *dcd_msg_decode(const struct dcd_hdr *h, const uint8_t *payload,
                       int *fds, GError **errp);

/*
 * Check a host's DC region layout: 1..DCD_MAX_REGIONS regions, each with a
 * power-of-two block size >= DCD_MIN_BLOCK, base and length multiples of
 * it, ending at or below DCD_MAX_DPA, no unknown flags, disjoint.  HELLO
 * and the saved-state loader both use it, so they never disagree.
 */
bool dcd_regions_check(const struct dcd_region *regions, unsigned n,
                       GError **errp);

/*
 * Version negotiation for a checked HELLO request: the highest version
 * both the host (version_min..version_max) and we speak.  Fails with
 * DCD_ERR_VERSION when there is none.
 */
bool dcd_hello_pick_version(const struct dcd_hello *h, uint16_t *version,
                            GError **errp);
/* The limits of a checked HELLO request, or NULL if it has none. */
const struct dcd_hello_limits *dcd_hello_limits(const struct dcd_hello *h);

/*
 * Typed views of a checked payload.  The payload buffer has one spare
 * NUL byte after hdr.len, so an ERROR's text can be printed as a string.
 */
#define DCD_MSG_VIEW(m, T) ((T *)(m)->payload)

/* Number of entries a variable-size message holds (0 for others). */
unsigned dcd_msg_count(const DcdMsg *m);

const char *dcd_msg_type_name(uint16_t type);

G_END_DECLS

#endif
