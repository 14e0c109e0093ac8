/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pci.c - enumeration and resource assignment.  Where firmware ran,
 * dcd_pci_scan() only reads what it set up.  Otherwise a deliberately simple
 * allocator: one bump pointer per walk, BARs aligned to their size,
 * bridge windows to 1 MiB, no prefetchable or I/O windows (CXL
 * register BARs are plain 64-bit memory).
 */
#include <string.h>

#include "dcd-host/pci.h"
#include "err.h"

#define PCI_VENDOR_ID 0x00
#define PCI_COMMAND 0x04
#define  PCI_COMMAND_MEMORY 0x2
#define  PCI_COMMAND_MASTER 0x4
#define PCI_STATUS 0x06
#define  PCI_STATUS_CAP_LIST 0x10
#define PCI_CLASS_REVISION 0x08
#define PCI_HEADER_TYPE 0x0e
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_PRIMARY_BUS 0x18
#define PCI_SECONDARY_BUS 0x19
#define PCI_SUBORDINATE_BUS 0x1a
#define PCI_IO_BASE 0x1c
#define PCI_MEMORY_BASE 0x20
#define PCI_MEMORY_LIMIT 0x22
#define PCI_PREF_MEMORY_BASE 0x24
#define PCI_PREF_MEMORY_LIMIT 0x26
#define PCI_PREF_BASE_UPPER32 0x28
#define PCI_PREF_LIMIT_UPPER32 0x2c
#define PCI_CAPABILITY_LIST 0x34
#define PCI_CAP_ID_EXP 0x10
#define PCI_EXT_CAP_ID_DVSEC 0x23

#define WINDOW_ALIGN (1ull << 20)

/* q35 MCH register (include/hw/pci-host/q35.h: MCH_HOST_BRIDGE_PCIEXBAR) */
#define Q35_PCIEXBAR 0x60

void dcd_pci_q35_enable_ecam(DcdHostIo *io, uint64_t base, unsigned buses)
{
    uint16_t mch = DCD_BDF(0, 0, 0);
    /* length field: 0 = 256 buses, 1 = 128, 2 = 64 */
    uint32_t len = buses >= 256 ? 0 : buses >= 128 ? 1 : 2;

    io->ecam_base = 0;      /* the MCH itself through CF8/CFC */
    dcd_cfg_write(io, mch, Q35_PCIEXBAR + 4, 4, base >> 32);
    dcd_cfg_write(io, mch, Q35_PCIEXBAR, 4, (uint32_t)base | len << 1 | 1);
    dcd_io_set_ecam(io, base, buses);
}

static bool present(DcdHostIo *io, uint16_t bdf)
{
    uint16_t v = dcd_cfg_read(io, bdf, PCI_VENDOR_ID, 2);

    return v != 0xffff && v != 0;
}

static uint8_t pcie_type(DcdHostIo *io, uint16_t bdf, uint8_t *port_num)
{
    uint8_t pos;
    unsigned guard = 48;

    if (!(dcd_cfg_read(io, bdf, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST)) {
        return 0xff;
    }
    pos = dcd_cfg_read(io, bdf, PCI_CAPABILITY_LIST, 1) & ~3;
    while (pos && guard--) {
        if (dcd_cfg_read(io, bdf, pos, 1) == PCI_CAP_ID_EXP) {
            /* Link Capabilities, bits 31:24 */
            *port_num = dcd_cfg_read(io, bdf, pos + 0x0c, 4) >> 24;
            return (dcd_cfg_read(io, bdf, pos + 2, 2) >> 4) & 0xf;
        }
        pos = dcd_cfg_read(io, bdf, pos + 1, 1) & ~3;
    }
    return 0xff;
}

uint16_t dcd_pci_find_ext_cap(DcdHostIo *io, uint16_t bdf, uint16_t id)
{
    uint16_t pos = 0x100;
    unsigned guard = 512;

    while (pos && guard--) {
        uint32_t h = dcd_cfg_read(io, bdf, pos, 4);

        if (h == 0 || h == 0xffffffff) {
            return 0;
        }
        if ((h & 0xffff) == id) {
            return pos;
        }
        pos = (h >> 20) & 0xffc;
    }
    return 0;
}

uint16_t dcd_pci_find_dvsec(DcdHostIo *io, uint16_t bdf, uint16_t vendor,
                            uint16_t dvsec_id)
{
    uint16_t pos = 0x100;
    unsigned guard = 512;

    while (pos && guard--) {
        uint32_t h = dcd_cfg_read(io, bdf, pos, 4);

        if (h == 0 || h == 0xffffffff) {
            return 0;
        }
        if ((h & 0xffff) == PCI_EXT_CAP_ID_DVSEC &&
            (dcd_cfg_read(io, bdf, pos + 4, 4) & 0xffff) == vendor &&
            dcd_cfg_read(io, bdf, pos + 8, 2) == dvsec_id) {
            return pos;
        }
        pos = (h >> 20) & 0xffc;
    }
    return 0;
}

static DcdPciDev *dev_new(DcdHostIo *io, uint16_t bdf, uint8_t hdr,
                          uint8_t root, DcdPciDev *up)
{
    DcdPciDev *d = g_new0(DcdPciDev, 1);

    d->bdf = bdf;
    d->vendor = dcd_cfg_read(io, bdf, PCI_VENDOR_ID, 2);
    d->device = dcd_cfg_read(io, bdf, PCI_VENDOR_ID + 2, 2);
    d->class_code = dcd_cfg_read(io, bdf, PCI_CLASS_REVISION, 4) >> 8;
    d->bridge = (hdr & 0x7f) == 1;
    d->pcie_type = pcie_type(io, bdf, &d->port_num);
    d->root_bus = root;
    d->parent = up;
    return d;
}

/* The addresses firmware or the kernel gave the memory BARs. */
static void read_bars(DcdHostIo *io, DcdPciDev *d)
{
    unsigned nbars = d->bridge ? 2 : 6;

    for (unsigned i = 0; i < nbars; i++) {
        uint16_t off = PCI_BASE_ADDRESS_0 + 4 * i;
        uint32_t lo = dcd_cfg_read(io, d->bdf, off, 4);

        if (lo & 1) {
            continue;
        }
        d->bar[i] = lo & ~0xfull;
        if (((lo >> 1) & 3) == 2 && i + 1 < nbars) {
            d->bar[i] |= (uint64_t)dcd_cfg_read(io, d->bdf, off + 4, 4) << 32;
            i++;
        }
    }
}

static void size_bars(DcdHostIo *io, DcdPciDev *d)
{
    unsigned nbars = d->bridge ? 2 : 6;

    for (unsigned i = 0; i < nbars; i++) {
        uint16_t off = PCI_BASE_ADDRESS_0 + 4 * i;
        uint32_t orig = dcd_cfg_read(io, d->bdf, off, 4);
        uint64_t mask;
        bool is64;

        if (orig & 1) {
            continue;       /* I/O BARs are not used by CXL */
        }
        is64 = ((orig >> 1) & 3) == 2;
        dcd_cfg_write(io, d->bdf, off, 4, 0xffffffff);
        mask = dcd_cfg_read(io, d->bdf, off, 4) & ~0xfull;
        if (is64) {
            dcd_cfg_write(io, d->bdf, off + 4, 4, 0xffffffff);
            mask |= (uint64_t)dcd_cfg_read(io, d->bdf, off + 4, 4) << 32;
        } else if (mask) {
            mask |= 0xffffffff00000000ull;
        }
        if (mask) {
            d->bar_size[i] = ~mask + 1;
        }
        if (is64) {
            i++;            /* the upper half is not a BAR of its own */
        }
    }
}

static void place_bars(DcdPci *pci, DcdPciDev *d, uint64_t *cursor)
{
    for (unsigned i = 0; i < DCD_PCI_MAX_BARS; i++) {
        uint16_t off = PCI_BASE_ADDRESS_0 + 4 * i;
        uint64_t size = d->bar_size[i];
        uint32_t lo;

        if (!size) {
            continue;
        }
        *cursor = DCD_ALIGN_UP(*cursor, size);
        d->bar[i] = *cursor;
        *cursor += size;
        lo = dcd_cfg_read(pci->io, d->bdf, off, 4);
        dcd_cfg_write(pci->io, d->bdf, off, 4, (uint32_t)d->bar[i]);
        if (((lo >> 1) & 3) == 2) {
            dcd_cfg_write(pci->io, d->bdf, off + 4, 4, d->bar[i] >> 32);
        }
    }
}

/*
 * The functions present on bus, as new devices (also added to
 * pci->devs), in slot order; a single-function device's other function
 * numbers are not probed.
 */
static GPtrArray *probe_bus(DcdPci *pci, uint8_t bus, uint8_t root,
                            DcdPciDev *up)
{
    GPtrArray *here = g_ptr_array_new();

    for (unsigned dev = 0; dev < 32; dev++) {
        for (unsigned fn = 0; fn < 8; fn++) {
            uint16_t bdf = DCD_BDF(bus, dev, fn);
            DcdPciDev *d;
            uint8_t hdr;

            if (!present(pci->io, bdf)) {
                if (fn == 0) {
                    break;
                }
                continue;
            }
            hdr = dcd_cfg_read(pci->io, bdf, PCI_HEADER_TYPE, 1);
            d = dev_new(pci->io, bdf, hdr, root, up);
            g_ptr_array_add(pci->devs, d);
            g_ptr_array_add(here, d);
            if (fn == 0 && !(hdr & 0x80)) {
                break;      /* single-function device */
            }
        }
    }
    return here;
}

/*
 * Walk bus: number bridges below it from *next_bus (at most last), place
 * BARs from *cursor.  Returns false when bus numbers run out.
 */
static bool walk_bus(DcdPci *pci, uint8_t bus, uint8_t root, DcdPciDev *up,
                     unsigned *next_bus, unsigned last, uint64_t *cursor,
                     GError **errp)
{
    DcdHostIo *io = pci->io;
    g_autoptr(GPtrArray) here = probe_bus(pci, bus, root, up);

    for (guint i = 0; i < here->len; i++) {
        DcdPciDev *d = here->pdata[i];

        /* decode off while sizing and placing */
        dcd_cfg_write(io, d->bdf, PCI_COMMAND, 2, 0);
        size_bars(io, d);
    }

    /* BARs first; bridge windows follow, each on its own 1 MiB */
    for (guint i = 0; i < here->len; i++) {
        place_bars(pci, here->pdata[i], cursor);
    }
    for (guint i = 0; i < here->len; i++) {
        DcdPciDev *d = here->pdata[i];
        uint64_t wstart, wend;

        if (!d->bridge) {
            continue;
        }
        if (*next_bus > last) {
            g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                        "out of bus numbers below bus %u", root);
            return false;
        }
        d->secondary = *next_bus;
        (*next_bus)++;
        dcd_cfg_write(io, d->bdf, PCI_PRIMARY_BUS, 1, bus);
        dcd_cfg_write(io, d->bdf, PCI_SECONDARY_BUS, 1, d->secondary);
        /* open wide while walking below, narrowed afterwards */
        dcd_cfg_write(io, d->bdf, PCI_SUBORDINATE_BUS, 1, last);

        *cursor = DCD_ALIGN_UP(*cursor, WINDOW_ALIGN);
        wstart = *cursor;
        if (!walk_bus(pci, d->secondary, root, d, next_bus, last, cursor,
                      errp)) {
            return false;
        }
        d->subordinate = *next_bus - 1;
        dcd_cfg_write(io, d->bdf, PCI_SUBORDINATE_BUS, 1, d->subordinate);
        *cursor = DCD_ALIGN_UP(*cursor, WINDOW_ALIGN);
        wend = *cursor;
        if (wend > wstart) {
            dcd_cfg_write(io, d->bdf, PCI_MEMORY_BASE, 2,
                          (wstart >> 16) & 0xfff0);
            dcd_cfg_write(io, d->bdf, PCI_MEMORY_LIMIT, 2,
                          ((wend - 1) >> 16) & 0xfff0);
        } else {
            dcd_cfg_write(io, d->bdf, PCI_MEMORY_BASE, 2, 0xfff0);
            dcd_cfg_write(io, d->bdf, PCI_MEMORY_LIMIT, 2, 0);
        }
        /* prefetchable and I/O windows closed (base above limit) */
        dcd_cfg_write(io, d->bdf, PCI_PREF_MEMORY_BASE, 2, 0xfff0);
        dcd_cfg_write(io, d->bdf, PCI_PREF_MEMORY_LIMIT, 2, 0);
        dcd_cfg_write(io, d->bdf, PCI_PREF_BASE_UPPER32, 4, 0);
        dcd_cfg_write(io, d->bdf, PCI_PREF_LIMIT_UPPER32, 4, 0);
        dcd_cfg_write(io, d->bdf, PCI_IO_BASE, 2, 0x00f0);
    }

    for (guint i = 0; i < here->len; i++) {
        DcdPciDev *d = here->pdata[i];

        dcd_cfg_write(io, d->bdf, PCI_COMMAND, 2,
                      PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    }
    return !dcd_io_failed(io);
}

static int cmp_u8(const void *a, const void *b)
{
    return *(const uint8_t *)a - *(const uint8_t *)b;
}

DcdPci *dcd_pci_setup(DcdHostIo *io, const uint8_t *known, unsigned nknown,
                      uint64_t mmio_base, uint64_t mmio_end, GError **errp)
{
    g_autoptr(DcdPci) pci = g_new0(DcdPci, 1);
    uint8_t roots[256];
    unsigned nroots = 0;

    pci->io = io;
    pci->devs = g_ptr_array_new_with_free_func(g_free);
    pci->mmio_next = mmio_base;
    pci->mmio_end = mmio_end;

    if (nknown) {
        memcpy(roots, known, MIN(nknown, 256u));
        nroots = MIN(nknown, 256u);
        qsort(roots, nroots, 1, cmp_u8);
    } else {
        /*
         * Before any bridge has a bus number, only root buses answer:
         * bus 0 and the buses of expander host bridges (what firmware
         * learns from ACPI _BBN, or by probing, as here).
         */
        roots[nroots++] = 0;
        for (unsigned bus = 1; bus < 256 && !dcd_io_failed(io); bus++) {
            for (unsigned dev = 0; dev < 32; dev++) {
                if (present(io, DCD_BDF(bus, dev, 0))) {
                    roots[nroots++] = bus;
                    break;
                }
            }
        }
        if (!dcd_io_check(io, errp)) {
            return NULL;
        }
    }

    for (unsigned r = 0; r < nroots; r++) {
        unsigned next = roots[r] + 1;
        unsigned last = r + 1 < nroots ? roots[r + 1] - 1u : 255u;

        if (!walk_bus(pci, roots[r], roots[r], NULL, &next, last,
                      &pci->mmio_next, errp)) {
            return NULL;
        }
    }
    if (!dcd_io_check(io, errp)) {
        return NULL;
    }
    if (pci->mmio_next > mmio_end) {
        ERR(errp, DCD_HOST_ERR_INVALID, "BARs do not fit below 0x%" 
            G_GINT64_MODIFIER "x", mmio_end);
        return NULL;
    }
    return g_steal_pointer(&pci);
}

/*
 * Walk what is there without writing: bus numbers and BARs as set up.
 * depth bounds a loop in bridge numbering that a bad setup could make.
 */
static void scan_bus(DcdPci *pci, uint8_t bus, uint8_t root, DcdPciDev *up,
                     unsigned depth)
{
    DcdHostIo *io = pci->io;
    g_autoptr(GPtrArray) here = NULL;

    if (depth >= 16) {
        return;
    }
    here = probe_bus(pci, bus, root, up);
    for (guint i = 0; i < here->len; i++) {
        DcdPciDev *d = here->pdata[i];

        read_bars(io, d);
        if (d->bridge) {
            d->secondary = dcd_cfg_read(io, d->bdf, PCI_SECONDARY_BUS, 1);
            d->subordinate = dcd_cfg_read(io, d->bdf, PCI_SUBORDINATE_BUS, 1);
            /* an unnumbered bridge has nothing reachable below it */
            if (d->secondary > bus) {
                scan_bus(pci, d->secondary, root, d, depth + 1);
            }
        }
    }
}

DcdPci *dcd_pci_scan(DcdHostIo *io, const uint8_t *roots, unsigned n,
                     GError **errp)
{
    g_autoptr(DcdPci) pci = g_new0(DcdPci, 1);

    pci->io = io;
    pci->devs = g_ptr_array_new_with_free_func(g_free);
    for (unsigned r = 0; r < n; r++) {
        scan_bus(pci, roots[r], roots[r], NULL, 0);
    }
    if (!dcd_io_check(io, errp)) {
        return NULL;
    }
    return g_steal_pointer(&pci);
}

void dcd_pci_enable(DcdHostIo *io, DcdPciDev *d)
{
    for (; d; d = d->parent) {
        uint16_t cmd = dcd_cfg_read(io, d->bdf, PCI_COMMAND, 2);
        uint16_t want = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

        if ((cmd & want) != want) {
            dcd_cfg_write(io, d->bdf, PCI_COMMAND, 2, cmd | want);
        }
    }
}

void dcd_pci_free(DcdPci *pci)
{
    if (pci) {
        g_ptr_array_free(pci->devs, TRUE);
        g_free(pci);
    }
}

DcdPciDev *dcd_pci_find_class(DcdPci *pci, uint32_t class_code, unsigned n)
{
    for (guint i = 0; i < pci->devs->len; i++) {
        DcdPciDev *d = pci->devs->pdata[i];

        if (d->class_code == class_code && n-- == 0) {
            return d;
        }
    }
    return NULL;
}

DcdPciDev *dcd_pci_find_bdf(DcdPci *pci, uint16_t bdf)
{
    for (guint i = 0; i < pci->devs->len; i++) {
        DcdPciDev *d = pci->devs->pdata[i];

        if (d->bdf == bdf) {
            return d;
        }
    }
    return NULL;
}
