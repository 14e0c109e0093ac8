/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * host.c - bring-up and decoder programming.
 */
#include <string.h>

#include "dcd-host/driver.h"
#include "err.h"

static void memdev_free(gpointer p)
{
    g_free(p);
}

static bool memdev_probe(DcdDriver *h, DcdPciDev *d, GError **errp)
{
    DcdHostIo *io = h->io;
    g_autofree DcdMemdev *md = g_new0(DcdMemdev, 1);
    uint64_t mbox;

    md->host = h;
    md->pci = d;
    md->comp = dcd_cxl_locate_block(io, d, CXL_RB_COMPONENT);
    md->regs = dcd_cxl_locate_block(io, d, CXL_RB_MEMDEV);
    if (!md->comp || !md->regs) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND,
            "%02x:%02x.%x: register locator lacks component or device "
            "registers", DCD_BDF_BUS(d->bdf), DCD_BDF_DEV(d->bdf),
            DCD_BDF_FN(d->bdf));
        return false;
    }
    if (h->plat.keep_setup) {
        dcd_pci_enable(io, d);
    }
    md->hdm = dcd_cxl_find_hdm(io, md->comp);
    mbox = dcd_cxl_find_devcap(io, md->regs, CXL_DEVCAP_MAILBOX);
    md->status = dcd_cxl_find_devcap(io, md->regs, CXL_DEVCAP_MEMDEV);
    if (!dcd_io_check(io, errp)) {
        return false;
    }
    if (!md->hdm || !mbox || !md->status) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND,
            "memory device lacks HDM decoders, mailbox or status register");
        return false;
    }
    if (!dcd_mbox_init(&md->mbox, io, mbox, errp) ||
        !dcd_memdev_ready(md, errp) ||
        !dcd_identify(&md->mbox, &md->id, errp)) {
        return false;
    }
    /* a device without dynamic capacity answers "unsupported" */
    if (!dcd_get_config(&md->mbox, &md->dc, NULL)) {
        memset(&md->dc, 0, sizeof(md->dc));
    }
    /* ACPI tells which register block is the host bridge's */
    md->hb = 0;
    if (h->plat.chbs_bus_known) {
        unsigned i;

        for (i = 0; i < h->plat.n_chbs; i++) {
            if (h->plat.chbs_bus[i] == d->root_bus) {
                break;
            }
        }
        if (i == h->plat.n_chbs) {
            ERR(errp, DCD_HOST_ERR_NOTFOUND, "no CXL host bridge register "
                "block for root bus %02x", d->root_bus);
            return false;
        }
        md->hb = i;
    }

    g_ptr_array_add(h->memdevs, g_steal_pointer(&md));
    return true;
}

DcdDriver *dcd_driver_new(DcdHostIo *io, const DcdPlatform *plat, GError **errp)
{
    g_autoptr(DcdDriver) h = g_new0(DcdDriver, 1);
    unsigned cxl_roots = 0;
    int last_root = -1;

    h->io = io;
    h->plat = *plat;
    for (unsigned i = 0; i < plat->n_windows; i++) {
        for (unsigned j = 0; j < plat->windows[i].ways; j++) {
            h->plat.windows[i].targets[j] =
                g_strdup(plat->windows[i].targets[j]);
        }
    }
    h->memdevs = g_ptr_array_new_with_free_func(memdev_free);

    if (plat->keep_setup) {
        h->pci = dcd_pci_scan(io, plat->root_buses, plat->n_root_buses, errp);
    } else {
        dcd_pci_q35_enable_ecam(io, plat->ecam_base, plat->ecam_buses);
        h->pci = dcd_pci_setup(io, plat->root_buses, plat->n_root_buses,
                               plat->mmio_base, plat->mmio_end, errp);
    }
    if (!h->pci) {
        return NULL;
    }

    /* every host bridge block must look like one before we trust it */
    for (unsigned i = 0; i < plat->n_chbs; i++) {
        h->hb_hdm[i] = dcd_cxl_find_hdm(io, plat->chbs[i]);
        if (!dcd_io_check(io, errp)) {
            return NULL;
        }
        if (!h->hb_hdm[i]) {
            ERR(errp, DCD_HOST_ERR_NOTFOUND,
                "no HDM decoders at host bridge block 0x%" G_GINT64_MODIFIER
                "x (passthrough host bridge without hdm_for_passthrough?)",
                plat->chbs[i]);
            return NULL;
        }
    }

    for (unsigned n = 0;; n++) {
        DcdPciDev *d = dcd_pci_find_class(h->pci, CXL_MEMDEV_CLASS, n);

        if (!d) {
            break;
        }
        if (d->root_bus != last_root) {
            cxl_roots++;
            last_root = d->root_bus;
        }
        if (!memdev_probe(h, d, errp)) {
            return NULL;
        }
    }
    /*
     * Which block belongs to which host bridge is told by ACPI (CHBS
     * UID = _UID); without it only one host bridge is unambiguous.
     */
    if (cxl_roots > 1 && plat->n_chbs > 1 && !plat->chbs_bus_known) {
        ERR(errp, DCD_HOST_ERR_INVALID,
            "memory devices below %u host bridges: cannot tell their "
            "register blocks apart without ACPI", cxl_roots);
        return NULL;
    }
    return g_steal_pointer(&h);
}

void dcd_driver_free(DcdDriver *h)
{
    if (!h) {
        return;
    }
    if (h->memdevs) {
        g_ptr_array_free(h->memdevs, TRUE);
    }
    dcd_pci_free(h->pci);
    dcd_platform_clear(&h->plat);
    g_free(h);
}

DcdMemdev *dcd_driver_memdev(DcdDriver *h, unsigned n)
{
    return n < h->memdevs->len ? h->memdevs->pdata[n] : NULL;
}

bool dcd_memdev_ready(DcdMemdev *md, GError **errp)
{
    uint64_t st = dcd_io_rd64(md->host->io, md->status);

    if (!dcd_io_check(md->host->io, errp)) {
        return false;
    }
    if (!CXL_MEMDEV_MBOX_READY(st) || CXL_MEMDEV_MEDIA_STATUS(st) != 1) {
        ERR(errp, DCD_HOST_ERR_INVALID,
            "memory device not ready (status 0x%" G_GINT64_MODIFIER "x)", st);
        return false;
    }
    return true;
}

/* The ports above md, nearest first, ending at its root port; 0 if none. */
static unsigned upstream_ports(DcdMemdev *md, DcdPciDev **ports,
                               GError **errp)
{
    unsigned n = 0;

    for (DcdPciDev *p = md->pci->parent; p && n < 4; p = p->parent) {
        ports[n++] = p;
    }
    if (!n || ports[n - 1]->pcie_type != DCD_PCIE_ROOT_PORT) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "memory device not below a root "
            "port");
        return 0;
    }
    return n;
}

static void mapping_init(DcdMapping *map, DcdMemdev *md, unsigned window,
                         uint64_t hpa, uint64_t dpa, uint64_t size)
{
    memset(map, 0, sizeof(*map));
    map->md = md;
    map->window = window;
    map->hpa = hpa;
    map->dpa = dpa;
    map->size = size;
    map->dev_decoder = map->hb_decoder = -1;
}

int dcd_memdev_adopt(DcdMemdev *md, unsigned window, uint64_t hpa,
                     uint64_t dpa, uint64_t size, DcdMapping *map,
                     GError **errp)
{
    DcdDriver *h = md->host;
    DcdHostIo *io = h->io;
    DcdPciDev *ports[4];
    unsigned nports, want = 2, found = 0;
    int slot;

    mapping_init(map, md, window, hpa, dpa, size);
    if (!(nports = upstream_ports(md, ports, errp))) {
        return -1;
    }
    map->hb_decoder = dcd_hdm_find(io, h->hb_hdm[md->hb], hpa, size);
    found += map->hb_decoder >= 0;
    for (int i = nports - 1; i >= 0; i--) {
        uint64_t comp = dcd_cxl_locate_block(io, ports[i], CXL_RB_COMPONENT);
        uint64_t hdm = comp ? dcd_cxl_find_hdm(io, comp) : 0;

        if (!hdm) {
            continue;
        }
        want++;
        slot = dcd_hdm_find(io, hdm, hpa, size);
        if (slot >= 0) {
            map->port_hdm[map->n_ports] = hdm;
            map->port_decoder[map->n_ports++] = slot;
            found++;
        }
    }
    slot = dcd_hdm_find(io, md->hdm, hpa, size);
    if (slot >= 0) {
        DcdDecoder d;

        dcd_hdm_read(io, md->hdm, slot, &d);
        if (dcd_hdm_dpa_end(io, md->hdm, slot) + d.skip != dpa) {
            slot = -1;      /* the range, but not from this DPA */
        }
    }
    map->dev_decoder = slot;
    found += slot >= 0;
    if (!dcd_io_check(io, errp)) {
        return -1;
    }
    return found == want ? 1 : 0;
}

bool dcd_memdev_map(DcdMemdev *md, unsigned window, uint64_t hpa,
                    uint64_t dpa, uint64_t size, DcdMapping *map,
                    GError **errp)
{
    DcdDriver *h = md->host;
    DcdHostIo *io = h->io;
    const DcdWindow *w;
    DcdDecoder dec = { 0 };
    DcdPciDev *ports[4];
    unsigned nports = 0;
    uint64_t dpa_end;
    int slot;

    mapping_init(map, md, window, hpa, dpa, size);
    if (window >= h->plat.n_windows) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "no fixed window %u", window);
        return false;
    }
    w = &h->plat.windows[window];
    if (hpa < w->base || size > w->size || hpa - w->base > w->size - size) {
        ERR(errp, DCD_HOST_ERR_INVALID, "range is outside window %u", window);
        return false;
    }
    if (w->ways != 1) {
        ERR(errp, DCD_HOST_ERR_INVALID,
            "window %u interleaves %u host bridges; only 1-way is mapped",
            window, w->ways);
        return false;
    }

    /* host bridge: route the range to the root port above the device */
    if (!(nports = upstream_ports(md, ports, errp))) {
        return false;
    }
    slot = dcd_hdm_free_slot(io, h->hb_hdm[md->hb]);
    if (slot < 0) {
        ERR(errp, DCD_HOST_ERR_INVALID, "host bridge decoders all in use");
        return false;
    }
    dec.base = hpa;
    dec.size = size;
    dec.targets_lo = ports[nports - 1]->port_num;
    if (!dcd_hdm_commit(io, h->hb_hdm[md->hb], slot, &dec, false, errp)) {
        return false;
    }
    map->hb_decoder = slot;

    /* ports from the root port down; each targets the port below it */
    for (int i = nports - 1; i >= 0; i--) {
        DcdPciDev *p = ports[i];
        uint64_t comp = dcd_cxl_locate_block(io, p, CXL_RB_COMPONENT);
        uint64_t hdm = comp ? dcd_cxl_find_hdm(io, comp) : 0;

        /* downstream switch ports have no decoders of their own */
        if (!hdm) {
            continue;
        }
        slot = dcd_hdm_free_slot(io, hdm);
        if (slot < 0) {
            ERR(errp, DCD_HOST_ERR_INVALID, "port decoders all in use");
            goto fail;
        }
        dec.targets_lo = i > 0 ? ports[i - 1]->port_num : 0;
        if (!dcd_hdm_commit(io, hdm, slot, &dec, false, errp)) {
            goto fail;
        }
        map->port_hdm[map->n_ports] = hdm;
        map->port_decoder[map->n_ports++] = slot;
    }

    /* device: the decoder's DPA starts where the previous one ended */
    slot = dcd_hdm_free_slot(io, md->hdm);
    if (slot < 0) {
        ERR(errp, DCD_HOST_ERR_INVALID, "device decoders all in use");
        goto fail;
    }
    dpa_end = dcd_hdm_dpa_end(io, md->hdm, slot);
    if (dpa < dpa_end) {
        ERR(errp, DCD_HOST_ERR_INVALID,
            "DPA 0x%" G_GINT64_MODIFIER "x is below what decoder %d may "
            "map (0x%" G_GINT64_MODIFIER "x)", dpa, slot, dpa_end);
        goto fail;
    }
    dec.skip = dpa - dpa_end;
    if (!dcd_hdm_commit(io, md->hdm, slot, &dec, true, errp)) {
        goto fail;
    }
    map->dev_decoder = slot;
    return true;

fail:
    dcd_mapping_unmap(map, NULL);
    return false;
}

bool dcd_mapping_unmap(DcdMapping *map, GError **errp)
{
    DcdDriver *h = map->md->host;
    bool ok = true;

    if (map->dev_decoder >= 0) {
        ok &= dcd_hdm_uncommit(h->io, map->md->hdm, map->dev_decoder,
                               ok ? errp : NULL);
        map->dev_decoder = -1;
    }
    while (map->n_ports) {
        map->n_ports--;
        ok &= dcd_hdm_uncommit(h->io, map->port_hdm[map->n_ports],
                               map->port_decoder[map->n_ports],
                               ok ? errp : NULL);
    }
    if (map->hb_decoder >= 0) {
        ok &= dcd_hdm_uncommit(h->io, h->hb_hdm[map->md->hb],
                               map->hb_decoder, ok ? errp : NULL);
        map->hb_decoder = -1;
    }
    return ok;
}

bool dcd_mapping_hpa(const DcdMapping *map, uint64_t dpa, uint64_t len,
                     uint64_t *hpa)
{
    if (dpa < map->dpa || len > map->size || dpa - map->dpa > map->size - len) {
        return false;
    }
    *hpa = map->hpa + (dpa - map->dpa);
    return true;
}
