/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * device.c - carving pools out of one shared device.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dcd/proto.h"
#include "core/device.h"

/* A device-dax device's size is in sysfs, not in fstat. */
static bool dax_size(const struct stat *st, uint64_t *size, GError **errp)
{
    g_autofree char *attr = g_strdup_printf("/sys/dev/char/%u:%u/size",
                                            major(st->st_rdev),
                                            minor(st->st_rdev));
    g_autofree char *text = NULL;
    char *end;

    if (!g_file_get_contents(attr, &text, NULL, NULL)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "a character device"
                    " without %s is not a device-dax device", attr);
        return false;
    }
    errno = 0;
    *size = g_ascii_strtoull(text, &end, 10);
    if (errno || end == text) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "%s: not a size", attr);
        return false;
    }
    return true;
}

DcdDevice *dcd_device_open(const char *path, bool shared, GError **errp)
{
    g_autoptr(GError) err = NULL;
    DcdDevice *d;
    struct stat st;
    uint64_t size = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "shared device %s: %s",
                    path, g_strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "shared device %s: %s",
                    path, g_strerror(errno));
        goto fail;
    }
    if (S_ISREG(st.st_mode)) {
        size = st.st_size;
    } else if (!S_ISCHR(st.st_mode) || !dax_size(&st, &size, &err)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "shared device %s: %s",
                    path, err ? err->message :
                    "neither a regular file nor a device-dax device");
        goto fail;
    }
    size -= size % DCD_DEVICE_BLOCK;
    if (!size) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "shared device %s is"
                    " smaller than one %u-byte block", path, DCD_DEVICE_BLOCK);
        goto fail;
    }
    /*
     * Two brokers that each believe they own the device would hand the
     * same bytes to two pools.  Brokers of one cluster share it (etcd
     * arbitrates); a broker with its own journal must be alone.
     */
    if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_BUSY, "shared device %s is in"
                    " use by another broker%s", path, shared ? " that keeps"
                    " its own state (not the cluster's)" : "");
        goto fail;
    }
    d = g_new0(DcdDevice, 1);
    d->path = g_strdup(path);
    d->fd = fd;
    d->size = size;
    dcd_space_init(&d->space, 0, size, DCD_DEVICE_BLOCK, false);
    return d;

fail:
    close(fd);
    return NULL;
}

void dcd_device_close(DcdDevice *d)
{
    if (!d) {
        return;
    }
    dcd_space_fini(&d->space);
    close(d->fd);
    g_free(d->path);
    g_free(d);
}

bool dcd_device_alloc(DcdDevice *d, uint64_t size, GArray *out,
                      GError **errp)
{
    g_autoptr(GArray) found = g_array_new(FALSE, FALSE, sizeof(DcdDpaRange));

    if (size == 0 || size % DCD_DEVICE_BLOCK) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "a device pool's size"
                    " is a multiple of %u bytes", DCD_DEVICE_BLOCK);
        return false;
    }
    if (!dcd_space_find_free(&d->space, size, found)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOSPC, "shared device %s has %"
                    G_GUINT64_FORMAT " bytes free, %" G_GUINT64_FORMAT
                    " asked", d->path, dcd_device_free_bytes(d), size);
        return false;
    }
    for (guint i = 0; i < found->len; i++) {
        const DcdDpaRange *r = &g_array_index(found, DcdDpaRange, i);
        DcdDevRange dr = { .offset = r->dpa, .len = r->len };

        dcd_space_take(&d->space, r->dpa, r->len);
        g_array_append_val(out, dr);
    }
    return true;
}

bool dcd_device_claim(DcdDevice *d, const GArray *ranges, GError **errp)
{
    for (guint i = 0; i < ranges->len; i++) {
        const DcdDevRange *r = &g_array_index(ranges, DcdDevRange, i);

        if (!dcd_space_valid(&d->space, r->offset, r->len) ||
            !dcd_space_is_free(&d->space, r->offset, r->len)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "device range 0x%"
                        G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER "x is %s"
                        " (0x%" G_GINT64_MODIFIER "x bytes)", r->offset,
                        r->len,
                        dcd_space_valid(&d->space, r->offset, r->len) ?
                        "in another pool" :
                        "outside the device or not block-aligned", d->size);
            for (guint j = 0; j < i; j++) {
                const DcdDevRange *t = &g_array_index(ranges, DcdDevRange, j);

                dcd_space_put(&d->space, t->offset, t->len);
            }
            return false;
        }
        dcd_space_take(&d->space, r->offset, r->len);
    }
    return true;
}

void dcd_device_put(DcdDevice *d, const GArray *ranges)
{
    for (guint i = 0; i < ranges->len; i++) {
        const DcdDevRange *r = &g_array_index(ranges, DcdDevRange, i);

        dcd_space_put(&d->space, r->offset, r->len);
    }
}

/* Zero one range, keeping its blocks allocated (a hole could SIGBUS). */
static bool zero_range(DcdDevice *d, const DcdDevRange *r, GError **errp)
{
    void *m;

    if (fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                  r->offset, r->len) == 0) {
        return true;
    }
    if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  r->offset, r->len) == 0) {
        if ((errno = posix_fallocate(d->fd, r->offset, r->len)) == 0) {
            return true;
        }
        g_set_error(errp, DCD_ERROR, errno == ENOSPC ? DCD_ERR_NOSPC :
                    DCD_ERR_IO, "shared device %s: cannot reserve 0x%"
                    G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER "x: %s",
                    d->path, r->offset, r->len, g_strerror(errno));
        return false;
    }
    /* device-dax: no fallocate; write the zeros. */
    m = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
             r->offset);
    if (m == MAP_FAILED) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "shared device %s: cannot"
                    " clear 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                    "x: %s", d->path, r->offset, r->len, g_strerror(errno));
        return false;
    }
    memset(m, 0, r->len);
    munmap(m, r->len);
    return true;
}

bool dcd_device_zero(DcdDevice *d, const GArray *ranges, GError **errp)
{
    for (guint i = 0; i < ranges->len; i++) {
        if (!zero_range(d, &g_array_index(ranges, DcdDevRange, i), errp)) {
            return false;
        }
    }
    return true;
}

int dcd_device_reopen(DcdDevice *d, GError **errp)
{
    struct stat a, b;
    int fd = open(d->path, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "shared device %s: %s",
                    d->path, g_strerror(errno));
        return -1;
    }
    /* The path must still name the device the broker opened. */
    if (fstat(fd, &a) < 0 || fstat(d->fd, &b) < 0 || a.st_dev != b.st_dev ||
        a.st_ino != b.st_ino || a.st_rdev != b.st_rdev) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "shared device %s was"
                    " replaced since the broker opened it", d->path);
        close(fd);
        return -1;
    }
    return fd;
}

uint64_t dcd_device_free_bytes(const DcdDevice *d)
{
    return d->space.nfree * d->space.block;
}
