/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.c - sticky-error register helpers and PCI configuration access
 * (ECAM, or the legacy CF8/CFC mechanism for the first 256 bytes).
 */
#include <string.h>

#include "dcd-host/io.h"

G_DEFINE_QUARK(dcd-host-error-quark, dcd_host_error)

#define PCI_CONF_ADDR 0xcf8
#define PCI_CONF_DATA 0xcfc

void dcd_io_free(DcdHostIo *io)
{
    if (!io) {
        return;
    }
    g_clear_error(&io->error);
    io->ops->free(io);
}

bool dcd_io_check(DcdHostIo *io, GError **errp)
{
    if (io->error) {
        g_propagate_error(errp, io->error);
        io->error = NULL;
        return false;
    }
    return true;
}

bool dcd_io_failed(DcdHostIo *io)
{
    return io->error != NULL;
}

static uint64_t rd(DcdHostIo *io, uint64_t addr, unsigned size)
{
    uint64_t val = 0;

    if (io->error || !io->ops->read(io, addr, size, &val, &io->error)) {
        return UINT64_MAX >> (64 - 8 * size);
    }
    return val;
}

static void wr(DcdHostIo *io, uint64_t addr, unsigned size, uint64_t val)
{
    if (!io->error) {
        io->ops->write(io, addr, size, val, &io->error);
    }
}

uint8_t dcd_io_rd8(DcdHostIo *io, uint64_t addr) { return rd(io, addr, 1); }
uint16_t dcd_io_rd16(DcdHostIo *io, uint64_t addr) { return rd(io, addr, 2); }
uint32_t dcd_io_rd32(DcdHostIo *io, uint64_t addr) { return rd(io, addr, 4); }
uint64_t dcd_io_rd64(DcdHostIo *io, uint64_t addr) { return rd(io, addr, 8); }

void dcd_io_wr8(DcdHostIo *io, uint64_t addr, uint8_t val)
{
    wr(io, addr, 1, val);
}

void dcd_io_wr16(DcdHostIo *io, uint64_t addr, uint16_t val)
{
    wr(io, addr, 2, val);
}

void dcd_io_wr32(DcdHostIo *io, uint64_t addr, uint32_t val)
{
    wr(io, addr, 4, val);
}

void dcd_io_wr64(DcdHostIo *io, uint64_t addr, uint64_t val)
{
    wr(io, addr, 8, val);
}

void dcd_io_read(DcdHostIo *io, uint64_t addr, void *buf, size_t len)
{
    if (io->error || !len ||
        !io->ops->read_block(io, addr, buf, len, &io->error)) {
        memset(buf, 0xff, len);
    }
}

void dcd_io_write(DcdHostIo *io, uint64_t addr, const void *buf, size_t len)
{
    if (!io->error && len) {
        io->ops->write_block(io, addr, buf, len, &io->error);
    }
}

uint32_t dcd_io_in(DcdHostIo *io, uint16_t port, unsigned size)
{
    uint32_t val = 0;

    if (io->error || !io->ops->port_read(io, port, size, &val, &io->error)) {
        return UINT32_MAX >> (32 - 8 * size);
    }
    return val;
}

void dcd_io_out(DcdHostIo *io, uint16_t port, unsigned size, uint32_t val)
{
    if (!io->error) {
        io->ops->port_write(io, port, size, val, &io->error);
    }
}

void dcd_io_wait(DcdHostIo *io, uint64_t ns)
{
    if (!io->error) {
        io->ops->wait(io, ns, &io->error);
    }
}

void dcd_io_set_ecam(DcdHostIo *io, uint64_t base, unsigned buses)
{
    io->ecam_base = base;
    io->ecam_buses = buses;
}

static bool cfg_use_ecam(DcdHostIo *io, uint16_t bdf)
{
    return io->ecam_base && DCD_BDF_BUS(bdf) < io->ecam_buses;
}

static uint32_t cf8_addr(uint16_t bdf, uint16_t off)
{
    return 0x80000000u | (uint32_t)bdf << 8 | (off & 0xfc);
}

uint32_t dcd_cfg_read(DcdHostIo *io, uint16_t bdf, uint16_t off,
                      unsigned size)
{
    if (io->ops->cfg_read) {
        uint32_t val = UINT32_MAX >> (32 - 8 * size);

        if (!io->error &&
            !io->ops->cfg_read(io, bdf, off, size, &val, &io->error)) {
            return UINT32_MAX >> (32 - 8 * size);
        }
        return val;
    }
    if (cfg_use_ecam(io, bdf)) {
        return rd(io, io->ecam_base + ((uint64_t)bdf << 12) + off, size);
    }
    if (off >= 256) {
        /* CF8/CFC cannot reach extended space: reads as absent */
        return UINT32_MAX >> (32 - 8 * size);
    }
    dcd_io_out(io, PCI_CONF_ADDR, 4, cf8_addr(bdf, off));
    return dcd_io_in(io, PCI_CONF_DATA + (off & 3), size);
}

void dcd_cfg_write(DcdHostIo *io, uint16_t bdf, uint16_t off, unsigned size,
                   uint32_t val)
{
    if (io->ops->cfg_write) {
        if (!io->error) {
            io->ops->cfg_write(io, bdf, off, size, val, &io->error);
        }
        return;
    }
    if (cfg_use_ecam(io, bdf)) {
        wr(io, io->ecam_base + ((uint64_t)bdf << 12) + off, size, val);
        return;
    }
    if (off >= 256) {
        return;
    }
    dcd_io_out(io, PCI_CONF_ADDR, 4, cf8_addr(bdf, off));
    dcd_io_out(io, PCI_CONF_DATA + (off & 3), size, val);
}
