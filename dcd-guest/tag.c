/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tag.c - holding and mapping a tag.  The mapping reserves the whole
 * range first and maps each extent into it, so the tag is one pointer.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dcd-guest/devmem.h"
#include "dcd-guest/state.h"
#include "dcd-guest/tag.h"
#include "dcd-host/alloc.h"

struct DcdGuestTag {
    int lock_fd;
    void *base;
    uint64_t size;
    unsigned n_extents;
};

#define ERR(errp, code, ...) \
    g_set_error(errp, DCD_HOST_ERROR, code, __VA_ARGS__)

int dcd_guest_tag_lock(const DcdTag *tag, int op, GError **errp)
{
    char name[DCD_TAG_STR_LEN];
    g_autofree char *dir = dcd_guest_path("tags");
    g_autofree char *path = NULL;
    int fd;

    dcd_tag_unparse(tag, name);
    path = g_build_filename(dir, name, NULL);
    g_mkdir_with_parents(dir, 0755);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        ERR(errp, DCD_HOST_ERR_IO, "%s: %s", path, g_strerror(errno));
        return -1;
    }
    while (flock(fd, op) < 0) {
        if (errno == EINTR) {
            continue;
        }
        ERR(errp, errno == EWOULDBLOCK ? DCD_HOST_ERR_TIMEOUT :
            DCD_HOST_ERR_IO, "tag %s: %s", name,
            errno == EWOULDBLOCK ? "in use" : g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The tag's allocation from the published state, on one device. */
static DcdAllocation *tag_allocation(const DcdTag *tag, GError **errp)
{
    g_autofree char *path = dcd_guest_path("state");
    g_autoptr(DcdGuestState) s = dcd_guest_state_load(path, errp);
    g_autoptr(GArray) ext = g_array_new(FALSE, TRUE, sizeof(DcdDevExtent));
    g_autoptr(GArray) maps = g_array_new(FALSE, TRUE, sizeof(DcdMapping));
    char name[DCD_TAG_STR_LEN];
    int dev = -1;

    if (!s) {
        return NULL;
    }
    dcd_tag_unparse(tag, name);
    for (guint i = 0; i < s->extents->len; i++) {
        const DcdGuestExtent *e = &g_array_index(s->extents, DcdGuestExtent, i);

        if (!dcd_tag_equal((const DcdTag *)e->ext.tag, tag)) {
            continue;
        }
        if (e->state != DCD_GUEST_ACCEPTED) {
            ERR(errp, DCD_HOST_ERR_INVALID, "tag %s is %s", name,
                dcd_guest_extent_state_name(e->state));
            return NULL;
        }
        if (dev >= 0 && e->dev != (unsigned)dev) {
            ERR(errp, DCD_HOST_ERR_INVALID, "tag %s spans two devices", name);
            return NULL;
        }
        dev = e->dev;
        g_array_append_val(ext, e->ext);
    }
    if (dev < 0) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "no accepted extent has tag %s",
            name);
        return NULL;
    }
    for (guint i = 0; i < s->regions->len; i++) {
        const DcdGuestRegion *r = &g_array_index(s->regions, DcdGuestRegion, i);
        DcdMapping m = { .hpa = r->hpa, .dpa = r->dpa, .size = r->len };

        if (r->dev == (unsigned)dev) {
            g_array_append_val(maps, m);
        }
    }
    return dcd_allocation_build(tag->b, (DcdDevExtent *)ext->data, ext->len,
                                (DcdMapping *)maps->data, maps->len, errp);
}

DcdGuestTag *dcd_guest_tag_open(const DcdTag *tag, GError **errp)
{
    g_autoptr(DcdGuestTag) t = g_new0(DcdGuestTag, 1);
    g_autoptr(DcdAllocation) a = NULL;

    t->lock_fd = dcd_guest_tag_lock(tag, LOCK_SH, errp);
    if (t->lock_fd < 0 || !(a = tag_allocation(tag, errp))) {
        return NULL;
    }
    if (a->size > SIZE_MAX) {
        ERR(errp, DCD_HOST_ERR_INVALID, "tag too large to map");
        return NULL;
    }
    t->base = mmap(NULL, a->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
                   MAP_NORESERVE, -1, 0);
    if (t->base == MAP_FAILED) {
        t->base = NULL;
        ERR(errp, DCD_HOST_ERR_IO, "reserving %" G_GUINT64_FORMAT " bytes: %s",
            a->size, g_strerror(errno));
        return NULL;
    }
    t->size = a->size;
    for (guint i = 0; i < a->parts->len; i++) {
        const DcdPart *p = &g_array_index(a->parts, DcdPart, i);

        if (!dcd_devmem_map(p->hpa, p->extent.len,
                            (uint8_t *)t->base + p->logical, errp)) {
            return NULL;
        }
    }
    t->n_extents = a->parts->len;
    return g_steal_pointer(&t);
}

void dcd_guest_tag_close(DcdGuestTag *t)
{
    if (!t) {
        return;
    }
    if (t->base) {
        munmap(t->base, t->size);
    }
    if (t->lock_fd >= 0) {
        close(t->lock_fd);
    }
    g_free(t);
}

void *dcd_guest_tag_data(const DcdGuestTag *t)
{
    return t->base;
}

uint64_t dcd_guest_tag_size(const DcdGuestTag *t)
{
    return t->size;
}

unsigned dcd_guest_tag_extents(const DcdGuestTag *t)
{
    return t->n_extents;
}
