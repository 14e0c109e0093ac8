/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * device.h - the shared device pools are carved from (--shared-device).
 *
 * Owns: the device's fd and usable size, and which of its 2 MiB blocks
 * belong to some pool.  A device pool is a list of device ranges in pool
 * order; the pool holds a dup of the device fd and hands hosts device
 * offsets.  Knows nothing of tags, hosts or saving.
 */
#ifndef DCD_DEVICE_H
#define DCD_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "core/dpa.h"

/* Device ranges are as aligned as DC blocks: a host maps them as such. */
#define DCD_DEVICE_BLOCK (2u << 20)

/* A range of device bytes [offset, offset + len). */
typedef struct DcdDevRange {
    uint64_t offset;
    uint64_t len;
} DcdDevRange;

typedef struct DcdDevice {
    char *path;
    int fd;
    uint64_t size;       /* usable: whole blocks only */
    DcdSpace space;      /* free blocks */
} DcdDevice;

/*
 * Open a regular file or a device-dax character device, read-write.  Its
 * size is cut down to whole blocks; less than one block is refused.
 * shared: brokers of one cluster open it together; otherwise one only.
 */
DcdDevice *dcd_device_open(const char *path, bool shared, GError **errp);
void dcd_device_close(DcdDevice *d);

/*
 * First-fit: ranges adding up to size (a multiple of the block), appended
 * to out and taken.  NOSPC (out untouched) if the device has less free.
 */
bool dcd_device_alloc(DcdDevice *d, uint64_t size, GArray *out,
                      GError **errp);
/*
 * Take ranges a saved pool names: each aligned, inside the device and
 * free.  On failure nothing is taken.
 */
bool dcd_device_claim(DcdDevice *d, const GArray *ranges, GError **errp);
/* Give ranges back (a pool destroyed, or a create undone). */
void dcd_device_put(DcdDevice *d, const GArray *ranges);
/*
 * Zero the ranges: a range reused for another tag must not show the
 * earlier tag's bytes.
 */
bool dcd_device_zero(DcdDevice *d, const GArray *ranges, GError **errp);

/* A new open file of the device (not sharing the broker's lock). */
int dcd_device_reopen(DcdDevice *d, GError **errp);

uint64_t dcd_device_free_bytes(const DcdDevice *d);

#endif
