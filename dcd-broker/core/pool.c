/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pool.c - pool memory.  memfds are sealed against shrink and grow so no
 * host can truncate memory another host maps (a SIGBUS there would take
 * down someone else's VM).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcd/proto.h"
#include "core/pool.h"

#define POOL_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static DcdPool *pool_alloc(const DcdTag *tag, uint64_t size,
                           DcdBacking backing)
{
    DcdPool *p = g_new0(DcdPool, 1);

    p->tag = *tag;
    dcd_tag_unparse(tag, p->tag_str);
    p->size = size;
    p->backing = backing;
    p->fd = -1;
    p->fd_size = size;
    p->segments = g_array_new(FALSE, FALSE, sizeof(DcdSegment));
    cds_lfht_node_init(&p->node);
    return p;
}

static int make_memfd(const DcdPool *p, GError **errp)
{
    unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    g_autofree char *name = g_strdup_printf("dcd-pool-%s", p->tag_str);
    int fd;

    if (p->backing == DCD_BACKING_HUGETLB) {
        flags |= MFD_HUGETLB;
    }
    fd = memfd_create(name, flags);
    if (fd < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "memfd_create: %s",
                    g_strerror(errno));
        return -1;
    }
    if (ftruncate(fd, p->size) < 0) {
        g_set_error(errp, DCD_ERROR,
                    errno == EINVAL ? DCD_ERR_INVAL : DCD_ERR_NOSPC,
                    "cannot size %s pool to %" G_GUINT64_FORMAT " bytes: %s%s",
                    dcd_backing_name(p->backing), p->size, g_strerror(errno),
                    p->backing == DCD_BACKING_HUGETLB ?
                    " (size must be a multiple of the huge page size)" : "");
        close(fd);
        return -1;
    }
    /*
     * Huge pages are reserved at mmap, not at ftruncate; a shared
     * mapping's reservation stays with the file, so map once here and a
     * shortage is an error now rather than a SIGBUS in some VM later.
     */
    if (p->backing == DCD_BACKING_HUGETLB) {
        void *m = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                       0);

        if (m == MAP_FAILED) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_NOSPC,
                        "cannot reserve %" G_GUINT64_FORMAT " bytes of huge"
                        " pages: %s (see /proc/sys/vm/nr_hugepages)",
                        p->size, g_strerror(errno));
            close(fd);
            return -1;
        }
        munmap(m, p->size);
    }
    if (fcntl(fd, F_ADD_SEALS, POOL_SEALS) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "sealing pool: %s",
                    g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int open_file(const char *path, uint64_t size, bool create,
                     GError **errp)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0),
                  0600);
    struct stat st;

    if (fd < 0) {
        g_set_error(errp, DCD_ERROR, errno == EEXIST ? DCD_ERR_EXIST :
                    DCD_ERR_IO, "pool file %s: %s", path, g_strerror(errno));
        return -1;
    }
    /*
     * Reserve every block now: a sparse file lets the pool dir fill up
     * later, and the host that first writes past the free space dies of
     * SIGBUS (a QEMU, so a VM).
     */
    if (create && (errno = posix_fallocate(fd, 0, size)) != 0) {
        g_set_error(errp, DCD_ERROR, errno == ENOSPC ? DCD_ERR_NOSPC :
                    DCD_ERR_IO, "cannot reserve %" G_GUINT64_FORMAT " bytes"
                    " for %s: %s", size, path, g_strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < size) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO,
                    "pool file %s is shorter than %" G_GUINT64_FORMAT " bytes",
                    path, size);
        close(fd);
        return -1;
    }
    /* A file from before blocks were reserved may still have holes. */
    if (!create && (errno = posix_fallocate(fd, 0, size)) != 0) {
        g_warning("pool file %s: cannot reserve its blocks (%s); a host"
                  " writing to a hole may die of SIGBUS", path,
                  g_strerror(errno));
    }
    return fd;
}

DcdPool *dcd_pool_create(const DcdTag *tag, uint64_t size, DcdBacking backing,
                         const char *pool_dir, GError **errp)
{
    g_autoptr(GError) err = NULL;
    DcdPool *p;

    /* No DC region could ever take a pool of any other size. */
    if (size == 0 || size % DCD_MIN_BLOCK || size > DCD_MAX_DPA) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "pool size %"
                    G_GUINT64_FORMAT " is not a multiple of the smallest DC"
                    " block (%u bytes) from %u to 2^62", size, DCD_MIN_BLOCK,
                    DCD_MIN_BLOCK);
        return NULL;
    }
    p = pool_alloc(tag, size, backing);
    if (backing == DCD_BACKING_FILE) {
        if (!pool_dir) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_NOTSUP,
                        "file pools need the broker started with --pool-dir");
            dcd_pool_free(p);
            return NULL;
        }
        p->path = dcd_pool_file_path(pool_dir, tag);
        p->fd = open_file(p->path, size, true, &err);
    } else {
        p->fd = make_memfd(p, &err);
        p->sealed = p->fd >= 0;
    }
    if (p->fd < 0) {
        g_propagate_error(errp, g_steal_pointer(&err));
        g_clear_pointer(&p->path, g_free); /* never unlink what we did not make */
        dcd_pool_free(p);
        return NULL;
    }
    return p;
}

/*
 * The pool's own fd on the device: a host is handed this one.  Not a dup
 * of the device's: that one carries the broker's lock, which hosts would
 * then keep across the broker's restart.
 */
static bool device_fd(DcdPool *p, DcdDevice *d, GError **errp)
{
    p->fd = dcd_device_reopen(d, errp);
    p->fd_size = d->size;
    return p->fd >= 0;
}

DcdPool *dcd_pool_create_on_device(const DcdTag *tag, uint64_t size,
                                   DcdDevice *d, GError **errp)
{
    DcdPool *p;

    if (size == 0 || size % DCD_DEVICE_BLOCK || size > DCD_MAX_DPA) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "pool size %"
                    G_GUINT64_FORMAT " is not a multiple of the shared"
                    " device's block (%u bytes)", size, DCD_DEVICE_BLOCK);
        return NULL;
    }
    p = pool_alloc(tag, size, DCD_BACKING_DEVICE);
    p->ranges = g_array_new(FALSE, FALSE, sizeof(DcdDevRange));
    if (!dcd_device_alloc(d, size, p->ranges, errp)) {
        dcd_pool_free(p);
        return NULL;
    }
    /* A layout can cut a segment at each range: keep within its bound. */
    if (p->ranges->len > DCD_MAX_RANGES) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOSPC, "shared device %s is"
                    " cut into too many free runs for %" G_GUINT64_FORMAT
                    " bytes (%u; at most %u)", d->path, size, p->ranges->len,
                    DCD_MAX_RANGES);
        goto fail;
    }
    if (!dcd_device_zero(d, p->ranges, errp) || !device_fd(p, d, errp)) {
        goto fail;
    }
    return p;

fail:
    dcd_device_put(d, p->ranges);
    dcd_pool_free(p);
    return NULL;
}

DcdPool *dcd_pool_restore_on_device(const DcdTag *tag, uint64_t size,
                                    DcdDevice *d, GArray *ranges,
                                    GError **errp)
{
    DcdPool *p = pool_alloc(tag, size, DCD_BACKING_DEVICE);
    uint64_t sum = 0;

    p->ranges = ranges;
    for (guint i = 0; i < ranges->len; i++) {
        sum += g_array_index(ranges, DcdDevRange, i).len;
    }
    if (sum != size) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "device ranges add up"
                    " to %" G_GUINT64_FORMAT " bytes, the pool has %"
                    G_GUINT64_FORMAT, sum, size);
        dcd_pool_free(p);
        return NULL;
    }
    if (!dcd_device_claim(d, ranges, errp)) {
        dcd_pool_free(p);
        return NULL;
    }
    if (!device_fd(p, d, errp)) {
        dcd_device_put(d, ranges);
        dcd_pool_free(p);
        return NULL;
    }
    return p;
}

DcdPool *dcd_pool_restore(const DcdTag *tag, uint64_t size, DcdBacking backing,
                          const char *path, GError **errp)
{
    DcdPool *p = pool_alloc(tag, size, backing);

    if (backing == DCD_BACKING_FILE) {
        p->path = g_strdup(path);
        p->fd = open_file(path, size, false, errp);
        if (p->fd < 0) {
            g_clear_pointer(&p->path, g_free);
            dcd_pool_free(p);
            return NULL;
        }
    }
    return p;
}

char *dcd_pool_file_path(const char *pool_dir, const DcdTag *tag)
{
    char s[DCD_TAG_STR_LEN];

    if (!pool_dir) {
        return NULL;
    }
    dcd_tag_unparse(tag, s);
    return g_strdup_printf("%s/%s" DCD_POOL_FILE_SUFFIX, pool_dir, s);
}

bool dcd_pool_same_memory(const DcdPool *p, int fd)
{
    struct stat a, b;

    return p->fd >= 0 && fstat(p->fd, &a) == 0 && fstat(fd, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

bool dcd_pool_adopt_fd(DcdPool *p, int fd, GError **errp)
{
    struct stat st;
    int seals;

    if (p->fd >= 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_EXIST,
                    "pool %s already has memory", p->tag_str);
        return false;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "pool %s: handed-back fd is not a memfd or file",
                    p->tag_str);
        return false;
    }
    if ((uint64_t)st.st_size < p->size) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "pool %s: handed-back fd has %lld bytes, pool has %"
                    G_GUINT64_FORMAT, p->tag_str, (long long)st.st_size,
                    p->size);
        return false;
    }
    seals = fcntl(fd, F_GET_SEALS);
    p->sealed = seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) ==
                (F_SEAL_SHRINK | F_SEAL_GROW);
    if (p->backing != DCD_BACKING_FILE && !p->sealed) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "pool %s: handed-back memfd is not sealed", p->tag_str);
        return false;
    }
    p->fd = fd;
    return true;
}

bool dcd_pool_renew(DcdPool *p, GError **errp)
{
    g_return_val_if_fail(p->fd < 0 && p->backing != DCD_BACKING_FILE, false);
    p->fd = make_memfd(p, errp);
    p->sealed = p->fd >= 0;
    return p->fd >= 0;
}

void dcd_pool_unlink(DcdPool *p)
{
    if (p->path && unlink(p->path) < 0 && errno != ENOENT) {
        g_warning("removing %s: %s", p->path, g_strerror(errno));
    }
}

void dcd_pool_free(DcdPool *p)
{
    if (!p) {
        return;
    }
    if (p->fd >= 0) {
        close(p->fd);
    }
    g_free(p->path);
    if (p->ranges) {
        g_array_unref(p->ranges);
    }
    g_array_unref(p->segments);
    if (p->requesters) {
        g_array_unref(p->requesters);
    }
    g_free(p);
}

DcdBacking dcd_pool_wire_backing(const DcdPool *p)
{
    return p->backing == DCD_BACKING_DEVICE ? DCD_BACKING_FILE : p->backing;
}

bool dcd_pool_has_memory(const DcdPool *p)
{
    return p->fd >= 0;
}

uint64_t dcd_pool_laid_out(const DcdPool *p)
{
    uint64_t sum = 0;

    for (guint i = 0; i < p->segments->len; i++) {
        sum += g_array_index(p->segments, DcdSegment, i).len;
    }
    return sum;
}

/* The device range holding pool offset off, and where in it off is. */
static const DcdDevRange *range_at(const DcdPool *p, uint64_t off,
                                   uint64_t *into)
{
    for (guint i = 0; p->ranges && i < p->ranges->len; i++) {
        const DcdDevRange *r = &g_array_index(p->ranges, DcdDevRange, i);

        if (off < r->len) {
            *into = off;
            return r;
        }
        off -= r->len;
    }
    return NULL;
}

uint64_t dcd_pool_run_left(const DcdPool *p, uint64_t off)
{
    uint64_t into = 0;
    const DcdDevRange *r;

    if (!p->ranges) {
        return G_MAXUINT64;
    }
    r = range_at(p, off, &into);
    return r ? r->len - into : 0;
}

/* Where pool offset off is in the pool's fd. */
static uint64_t fd_offset(const DcdPool *p, uint64_t off)
{
    uint64_t into = 0;
    const DcdDevRange *r = p->ranges ? range_at(p, off, &into) : NULL;

    return r ? r->offset + into : off;
}

bool dcd_pool_set_layout(DcdPool *p, const uint64_t *lens, unsigned n,
                         GError **errp)
{
    uint64_t off = 0;

    /* A host accepts a group in one ACCEPT of at most DCD_MAX_RANGES. */
    if (n == 0 || n > DCD_MAX_RANGES) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "a tag holds 1 to %u extents, not %u", DCD_MAX_RANGES, n);
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        if (lens[i] == 0 || lens[i] > p->size - off) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                        "extents add up to more than pool %s (%"
                        G_GUINT64_FORMAT " bytes)", p->tag_str, p->size);
            return false;
        }
        /* One extent is one run of the fd: a host maps it in one go. */
        if (lens[i] > dcd_pool_run_left(p, off)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "shared_seq %u of"
                        " pool %s spans two device ranges", i, p->tag_str);
            return false;
        }
        off += lens[i];
    }
    if (off != p->size) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "extents add up to %" G_GUINT64_FORMAT " bytes but pool %s"
                    " has %" G_GUINT64_FORMAT, off, p->tag_str, p->size);
        return false;
    }
    g_array_set_size(p->segments, 0);
    off = 0;
    for (unsigned i = 0; i < n; i++) {
        DcdSegment s = { .seq = i, .offset = off, .len = lens[i],
                         .fd_offset = fd_offset(p, off) };

        g_array_append_val(p->segments, s);
        off += lens[i];
    }
    return true;
}

const DcdSegment *dcd_pool_segment(const DcdPool *p, unsigned seq)
{
    return seq < p->segments->len ?
           &g_array_index(p->segments, DcdSegment, seq) : NULL;
}

unsigned dcd_pool_nsegments(const DcdPool *p)
{
    return p->segments->len;
}

bool dcd_pool_may_request(const DcdPool *p, uint16_t host_id)
{
    for (guint i = 0; p->requesters && i < p->requesters->len; i++) {
        if (g_array_index(p->requesters, uint16_t, i) == host_id) {
            return true;
        }
    }
    return !p->requesters;
}
