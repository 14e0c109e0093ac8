/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.h - the register-access interface the host driver sits on.
 *
 * Owns: DcdHostIo (physical memory reads and writes of 1/2/4/8 bytes,
 * block transfers, port I/O, letting device time pass) and PCI
 * configuration access through ECAM or the CF8/CFC ports.  A backend
 * fills in DcdHostIoOps; qtest.c is the first one, a guest-side backend
 * can follow without touching the driver.
 *
 * Errors are sticky, like a PCI master abort: after the first failure
 * reads return all ones and writes are dropped, and callers check once
 * per operation with dcd_io_check().
 */
#ifndef DCD_HOST_IO_H
#define DCD_HOST_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#define DCD_HOST_ERROR (dcd_host_error_quark())
GQuark dcd_host_error_quark(void);

typedef enum DcdHostErr {
    DCD_HOST_ERR_IO,        /* the register access path failed */
    DCD_HOST_ERR_QMP,       /* QEMU refused a QMP command */
    DCD_HOST_ERR_MBOX,      /* the device returned a mailbox error */
    DCD_HOST_ERR_NOTFOUND,  /* a device, capability or window is missing */
    DCD_HOST_ERR_INVALID,   /* bad argument or malformed device data */
    DCD_HOST_ERR_TIMEOUT,
} DcdHostErr;

/* a must be a power of two */
#define DCD_ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))

typedef struct DcdHostIo DcdHostIo;

typedef struct DcdHostIoOps {
    /* size is 1, 2, 4 or 8; values are little-endian register values */
    bool (*read)(DcdHostIo *io, uint64_t addr, unsigned size, uint64_t *val,
                 GError **errp);
    bool (*write)(DcdHostIo *io, uint64_t addr, unsigned size, uint64_t val,
                  GError **errp);
    bool (*read_block)(DcdHostIo *io, uint64_t addr, void *buf, size_t len,
                       GError **errp);
    bool (*write_block)(DcdHostIo *io, uint64_t addr, const void *buf,
                        size_t len, GError **errp);
    bool (*port_read)(DcdHostIo *io, uint16_t port, unsigned size,
                      uint32_t *val, GError **errp);
    bool (*port_write)(DcdHostIo *io, uint16_t port, unsigned size,
                       uint32_t val, GError **errp);
    /* Let ns of device time pass (background mailbox commands). */
    bool (*wait)(DcdHostIo *io, uint64_t ns, GError **errp);
    /*
     * Optional: configuration space through the OS (a booted kernel
     * owns ECAM).  An absent device reads as all ones.  When set, it
     * is used instead of ECAM and CF8/CFC.
     */
    bool (*cfg_read)(DcdHostIo *io, uint16_t bdf, uint16_t off,
                     unsigned size, uint32_t *val, GError **errp);
    bool (*cfg_write)(DcdHostIo *io, uint16_t bdf, uint16_t off,
                      unsigned size, uint32_t val, GError **errp);
    void (*free)(DcdHostIo *io);
} DcdHostIoOps;

struct DcdHostIo {
    const DcdHostIoOps *ops;
    GError *error;          /* first failure, kept until checked */
    uint64_t ecam_base;     /* 0: configuration through CF8/CFC */
    unsigned ecam_buses;
};

void dcd_io_free(DcdHostIo *io);
/* Connect to a unix socket QEMU listens on ("what" names it in errors). */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdHostIo, dcd_io_free)

/* Move a pending error to errp; true when there was none. */
bool dcd_io_check(DcdHostIo *io, GError **errp);
bool dcd_io_failed(DcdHostIo *io);

uint8_t dcd_io_rd8(DcdHostIo *io, uint64_t addr);
uint16_t dcd_io_rd16(DcdHostIo *io, uint64_t addr);
uint32_t dcd_io_rd32(DcdHostIo *io, uint64_t addr);
uint64_t dcd_io_rd64(DcdHostIo *io, uint64_t addr);
void dcd_io_wr8(DcdHostIo *io, uint64_t addr, uint8_t val);
void dcd_io_wr16(DcdHostIo *io, uint64_t addr, uint16_t val);
void dcd_io_wr32(DcdHostIo *io, uint64_t addr, uint32_t val);
void dcd_io_wr64(DcdHostIo *io, uint64_t addr, uint64_t val);
void dcd_io_read(DcdHostIo *io, uint64_t addr, void *buf, size_t len);
void dcd_io_write(DcdHostIo *io, uint64_t addr, const void *buf, size_t len);
uint32_t dcd_io_in(DcdHostIo *io, uint16_t port, unsigned size);
void dcd_io_out(DcdHostIo *io, uint16_t port, unsigned size, uint32_t val);
void dcd_io_wait(DcdHostIo *io, uint64_t ns);

/* PCI configuration space; bdf is bus << 8 | dev << 3 | fn. */
#define DCD_BDF(bus, dev, fn) (((bus) << 8) | ((dev) << 3) | (fn))
#define DCD_BDF_BUS(bdf) (((bdf) >> 8) & 0xff)
#define DCD_BDF_DEV(bdf) (((bdf) >> 3) & 0x1f)
#define DCD_BDF_FN(bdf) ((bdf) & 7)

/* Use ECAM at base for buses 0..buses-1 (extended space needs it). */
void dcd_io_set_ecam(DcdHostIo *io, uint64_t base, unsigned buses);
uint32_t dcd_cfg_read(DcdHostIo *io, uint16_t bdf, uint16_t off,
                      unsigned size);
void dcd_cfg_write(DcdHostIo *io, uint16_t bdf, uint16_t off, unsigned size,
                   uint32_t val);

#endif
