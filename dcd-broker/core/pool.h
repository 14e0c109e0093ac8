/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pool.h - a tagged memory pool and its backing.
 *
 * Owns: the pool's fd (memfd, file in the pool dir, hugetlb memfd, or
 * the shared device), sealing, the device ranges of a device pool, the
 * tag's layout (which pool bytes each shared_seq covers, and where they
 * are in the fd) and the count of extents that hold the pool.  A pool
 * whose memory was lost in a broker restart (memfd) has fd -1 until a
 * host hands it back.
 */
#ifndef DCD_POOL_H
#define DCD_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "dcd/types.h"
#include "core/device.h"

typedef struct DcdSegment {
    uint16_t seq;
    uint64_t offset;   /* in the pool */
    uint64_t len;
    uint64_t fd_offset;  /* in the pool's fd: offset, or a device offset */
} DcdSegment;

typedef struct DcdPool {
    DcdTag tag;
    char tag_str[DCD_TAG_STR_LEN];
    uint64_t size;
    DcdBacking backing;
    char *path;          /* file backing only */
    int fd;              /* -1: memory lost, waiting for a host */
    uint64_t fd_size;    /* what the fd holds: size, or the device's */
    GArray *ranges;      /* DcdDevRange in pool order: device pools only */
    bool sealed;
    GArray *segments;    /* DcdSegment, index == shared_seq */
    unsigned holders;    /* extents on hosts not yet released */
    GArray *requesters;  /* uint16_t host-ids that may ask for it
                          * themselves (ADD_REQ); NULL: any host */
    bool dead;           /* destroyed; freed after an RCU grace period */

    struct cds_lfht_node node;
    struct rcu_head rcu;
} DcdPool;

#define DCD_POOL_FILE_SUFFIX ".pool"

/* Where a file pool of tag lives in pool_dir (NULL if no pool dir). */
char *dcd_pool_file_path(const char *pool_dir, const DcdTag *tag);

/* Make a pool with fresh memory of size bytes. */
DcdPool *dcd_pool_create(const DcdTag *tag, uint64_t size, DcdBacking backing,
                         const char *pool_dir, GError **errp);
/*
 * A pool of size bytes carved out of the shared device: its ranges are
 * taken and zeroed.
 */
DcdPool *dcd_pool_create_on_device(const DcdTag *tag, uint64_t size,
                                   DcdDevice *d, GError **errp);
/* A device pool from saved state: takes its ranges (ranges is taken). */
DcdPool *dcd_pool_restore_on_device(const DcdTag *tag, uint64_t size,
                                    DcdDevice *d, GArray *ranges,
                                    GError **errp);
/* A pool known from saved state: reopen its file, or wait for a host. */
DcdPool *dcd_pool_restore(const DcdTag *tag, uint64_t size, DcdBacking backing,
                          const char *path, GError **errp);
/*
 * Take memory a host hands back (a pool whose fd was lost): fd must be a
 * memfd or regular file of at least size bytes.  Takes fd on success.
 */
bool dcd_pool_adopt_fd(DcdPool *p, int fd, GError **errp);
/* Is fd the pool's own memory (same file), not a copy or another pool? */
bool dcd_pool_same_memory(const DcdPool *p, int fd);
/*
 * Fresh, empty memory for a memfd or hugetlb pool whose memory was lost
 * and that no host can hand back.
 */
bool dcd_pool_renew(DcdPool *p, GError **errp);
/* Remove the file backing from the pool dir (destroy). */
void dcd_pool_unlink(DcdPool *p);
void dcd_pool_free(DcdPool *p);

bool dcd_pool_has_memory(const DcdPool *p);
/* The backing hosts are told (POOL): a device pool is a file to them. */
DcdBacking dcd_pool_wire_backing(const DcdPool *p);
/* Sum of the layout's lengths: 0 before the first add. */
uint64_t dcd_pool_laid_out(const DcdPool *p);
/*
 * Bytes from pool offset off to the end of its device range (a segment
 * lies in one); G_MAXUINT64 for pools that are one run of their fd.
 */
uint64_t dcd_pool_run_left(const DcdPool *p, uint64_t off);
/* Set the layout from lengths in shared_seq order (sum must be size). */
bool dcd_pool_set_layout(DcdPool *p, const uint64_t *lens, unsigned n,
                         GError **errp);
const DcdSegment *dcd_pool_segment(const DcdPool *p, unsigned seq);
/* May host host_id ask for this pool itself? */
bool dcd_pool_may_request(const DcdPool *p, uint16_t host_id);
unsigned dcd_pool_nsegments(const DcdPool *p);

#endif
