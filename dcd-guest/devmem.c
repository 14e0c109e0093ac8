/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * devmem.c - registers through /dev/mem, configuration space through
 * sysfs.  Registers are mapped a 64 KiB chunk at a time and kept mapped:
 * a driver touches the same few blocks again and again.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dcd-guest/devmem.h"

#define CHUNK (64u << 10)
#define DEVMEM "/dev/mem"

typedef struct DevmemIo {
    DcdHostIo io;
    int fd;                 /* O_SYNC: uncached mappings */
    GHashTable *chunks;     /* chunk base -> mapping */
    GHashTable *cfg;        /* bdf -> config fd + 1 (0: not opened) */
} DevmemIo;

#define IO_ERR(errp, ...) \
    g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_IO, __VA_ARGS__)

static volatile uint8_t *reg(DevmemIo *d, uint64_t addr, unsigned size,
                             GError **errp)
{
    uint64_t base = addr & ~(uint64_t)(CHUNK - 1);
    void *p;

    if ((addr & (size - 1)) || addr - base + size > CHUNK) {
        IO_ERR(errp, "unaligned register access at 0x%" G_GINT64_MODIFIER
               "x", addr);
        return NULL;
    }
    p = g_hash_table_lookup(d->chunks, &base);
    if (!p) {
        uint64_t *key;

        p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
                 (off_t)base);
        if (p == MAP_FAILED) {
            IO_ERR(errp, "mapping 0x%" G_GINT64_MODIFIER "x of " DEVMEM
                   " failed: %s%s", base, g_strerror(errno),
                   errno == EPERM ? " (a kernel driver owns it, or the "
                   "kernel is locked down)" : "");
            return NULL;
        }
        key = g_new(uint64_t, 1);
        *key = base;
        g_hash_table_insert(d->chunks, key, p);
    }
    return (volatile uint8_t *)p + (addr - base);
}

static bool dm_read(DcdHostIo *io, uint64_t addr, unsigned size,
                    uint64_t *val, GError **errp)
{
    volatile uint8_t *p = reg((DevmemIo *)io, addr, size, errp);

    if (!p) {
        return false;
    }
    switch (size) {
    case 1: *val = *p; break;
    case 2: *val = *(volatile uint16_t *)p; break;
    case 4: *val = *(volatile uint32_t *)p; break;
    default: *val = *(volatile uint64_t *)p; break;
    }
    return true;
}

static bool dm_write(DcdHostIo *io, uint64_t addr, unsigned size,
                     uint64_t val, GError **errp)
{
    volatile uint8_t *p = reg((DevmemIo *)io, addr, size, errp);

    if (!p) {
        return false;
    }
    switch (size) {
    case 1: *p = val; break;
    case 2: *(volatile uint16_t *)p = val; break;
    case 4: *(volatile uint32_t *)p = val; break;
    default: *(volatile uint64_t *)p = val; break;
    }
    return true;
}

/* Register blocks (mailbox payloads) a dword at a time, never wider. */
static bool dm_read_block(DcdHostIo *io, uint64_t addr, void *buf,
                          size_t len, GError **errp)
{
    uint8_t *b = buf;

    for (size_t i = 0; i < len;) {
        unsigned n = (addr + i) % 4 || len - i < 4 ? 1 : 4;
        uint64_t v;

        if (!dm_read(io, addr + i, n, &v, errp)) {
            return false;
        }
        memcpy(b + i, &v, n);   /* little-endian host */
        i += n;
    }
    return true;
}

static bool dm_write_block(DcdHostIo *io, uint64_t addr, const void *buf,
                           size_t len, GError **errp)
{
    const uint8_t *b = buf;

    for (size_t i = 0; i < len;) {
        unsigned n = (addr + i) % 4 || len - i < 4 ? 1 : 4;
        uint64_t v = 0;

        memcpy(&v, b + i, n);
        if (!dm_write(io, addr + i, n, v, errp)) {
            return false;
        }
        i += n;
    }
    return true;
}

static bool dm_port(DcdHostIo *io, uint16_t port, GError **errp)
{
    IO_ERR(errp, "port I/O 0x%x: not used in a guest", port);
    return false;
}

static bool dm_port_read(DcdHostIo *io, uint16_t port, unsigned size,
                         uint32_t *val, GError **errp)
{
    return dm_port(io, port, errp);
}

static bool dm_port_write(DcdHostIo *io, uint16_t port, unsigned size,
                          uint32_t val, GError **errp)
{
    return dm_port(io, port, errp);
}

static bool dm_wait(DcdHostIo *io, uint64_t ns, GError **errp)
{
    g_usleep(MAX(ns / 1000, 1));
    return true;
}

/* The config file of bdf (segment 0); -1 if the device is absent. */
static int cfg_fd(DevmemIo *d, uint16_t bdf)
{
    int fd = GPOINTER_TO_INT(g_hash_table_lookup(d->cfg,
                                                 GUINT_TO_POINTER(bdf)));

    if (!fd) {
        g_autofree char *path = g_strdup_printf(
            "/sys/bus/pci/devices/0000:%02x:%02x.%x/config",
            DCD_BDF_BUS(bdf), DCD_BDF_DEV(bdf), DCD_BDF_FN(bdf));

        fd = open(path, O_RDWR | O_CLOEXEC) + 1;
        g_hash_table_insert(d->cfg, GUINT_TO_POINTER(bdf),
                            GINT_TO_POINTER(fd ? fd : -1));
    }
    return fd > 0 ? fd - 1 : -1;
}

static bool dm_cfg_read(DcdHostIo *io, uint16_t bdf, uint16_t off,
                        unsigned size, uint32_t *val, GError **errp)
{
    int fd = cfg_fd((DevmemIo *)io, bdf);
    uint32_t v = 0;

    if (fd < 0) {
        return true;    /* absent: all ones, as the caller preset */
    }
    if (pread(fd, &v, size, off) != (ssize_t)size) {
        /* beyond what the device implements */
        return true;
    }
    *val = v;
    return true;
}

static bool dm_cfg_write(DcdHostIo *io, uint16_t bdf, uint16_t off,
                         unsigned size, uint32_t val, GError **errp)
{
    int fd = cfg_fd((DevmemIo *)io, bdf);

    if (fd >= 0 && pwrite(fd, &val, size, off) != (ssize_t)size) {
        IO_ERR(errp, "writing configuration space of %02x:%02x.%x at 0x%x: "
               "%s", DCD_BDF_BUS(bdf), DCD_BDF_DEV(bdf), DCD_BDF_FN(bdf),
               off, g_strerror(errno));
        return false;
    }
    return true;
}

static void unmap_chunk(gpointer p)
{
    munmap(p, CHUNK);
}

static void close_cfg(gpointer key, gpointer value, gpointer user)
{
    if (GPOINTER_TO_INT(value) > 0) {
        close(GPOINTER_TO_INT(value) - 1);
    }
}

static void dm_free(DcdHostIo *io)
{
    DevmemIo *d = (DevmemIo *)io;

    g_hash_table_destroy(d->chunks);
    g_hash_table_foreach(d->cfg, close_cfg, NULL);
    g_hash_table_destroy(d->cfg);
    close(d->fd);
    g_free(d);
}

static const DcdHostIoOps devmem_ops = {
    .read = dm_read,
    .write = dm_write,
    .read_block = dm_read_block,
    .write_block = dm_write_block,
    .port_read = dm_port_read,
    .port_write = dm_port_write,
    .wait = dm_wait,
    .cfg_read = dm_cfg_read,
    .cfg_write = dm_cfg_write,
    .free = dm_free,
};

DcdHostIo *dcd_devmem_io_new(GError **errp)
{
    DevmemIo *d;
    int fd = open(DEVMEM, O_RDWR | O_SYNC | O_CLOEXEC);

    if (fd < 0) {
        IO_ERR(errp, "opening " DEVMEM ": %s", g_strerror(errno));
        return NULL;
    }
    d = g_new0(DevmemIo, 1);
    d->io.ops = &devmem_ops;
    d->fd = fd;
    d->chunks = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                      unmap_chunk);
    d->cfg = g_hash_table_new(NULL, NULL);
    return &d->io;
}

void *dcd_devmem_map(uint64_t phys, size_t len, void *at, GError **errp)
{
    int fd = open(DEVMEM, O_RDWR | O_CLOEXEC);
    void *p;

    if (fd < 0) {
        IO_ERR(errp, "opening " DEVMEM ": %s", g_strerror(errno));
        return NULL;
    }
    p = mmap(at, len, PROT_READ | PROT_WRITE,
             MAP_SHARED | (at ? MAP_FIXED : 0), fd, (off_t)phys);
    close(fd);
    if (p == MAP_FAILED) {
        IO_ERR(errp, "mapping %zu bytes at 0x%" G_GINT64_MODIFIER "x of "
               DEVMEM ": %s", len, phys, g_strerror(errno));
        return NULL;
    }
    return p;
}
