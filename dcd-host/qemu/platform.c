/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * platform.c - CHBS and CFMWS discovery for QEMU's q35 under qtest.
 *
 * Facts from QEMU 10.2.2 this relies on:
 * - hw/i386/pc.c (pc_memory_init) maps a 1 MiB container "cxl_host_reg"
 *   and rounds up to 256 MiB before placing the fixed windows;
 *   hw/pci-bridge/pci_expander_bridge.c (pxb_cxl_hook_up_registers) puts
 *   each CXL host bridge's 64 KiB component block in it, region name
 *   "pxb-cxl-host".
 * - hw/cxl/cxl-host.c (cxl_fmws_set_memmap) gives the windows ascending
 *   bases in cxl-fmw index order; each is an I/O region named
 *   "cxl-fixed-memory-region" (cxl_fmw_realize).
 * - include/hw/pci-host/q35.h: PCIEXBAR at 0xb0000000 is what firmware
 *   programs (MCH_HOST_BRIDGE_PCIEXBAR_DEFAULT); 256 buses.
 * The names are only used to find addresses; every address is checked
 * against registers before use (see host.c).
 */
#include <stdio.h>
#include <string.h>

#include "dcd-host/qemu-platform.h"
#include "err.h"

/* q35 memory map below 4 GiB: ECAM, then a hole up to the IOAPIC */
#define Q35_ECAM_BASE 0xb0000000ull
#define Q35_ECAM_BUSES 256
#define Q35_MMIO_BASE 0xc0000000ull
#define Q35_MMIO_END 0xfec00000ull

unsigned dcd_mtree_find(const char *mtree, const char *name, uint64_t *base,
                        uint64_t *size, unsigned max)
{
    g_auto(GStrv) lines = g_strsplit(mtree, "\n", -1);
    g_autofree char *suffix = g_strdup_printf(": %s", name);
    bool in_memory = false, in_headers = false;
    unsigned n = 0;

    for (char **l = lines; *l; l++) {
        uint64_t start, end;

        g_strchomp(*l);     /* HMP output ends lines with CR LF */
        /* address spaces sharing a root are listed as one header group */
        if (g_str_has_prefix(*l, "address-space:")) {
            if (!in_headers) {
                if (in_memory) {
                    break;  /* the system map is listed once */
                }
                in_headers = true;
            }
            in_memory |= g_str_equal(*l, "address-space: memory");
            continue;
        }
        /* later "memory-region:" sections may repeat the system map */
        if (g_str_has_prefix(*l, "memory-region:")) {
            break;
        }
        in_headers = false;
        if (!in_memory || !g_str_has_suffix(*l, suffix)) {
            continue;
        }
        if (sscanf(*l, " %" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x",
                   &start, &end) != 2 || end < start) {
            continue;
        }
        if (n < max) {
            base[n] = start;
            if (size) {
                size[n] = end - start + 1;
            }
        }
        n++;
    }
    return MIN(n, max);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

bool dcd_platform_from_qmp(DcdPlatform *p, DcdQmp *q, GError **errp)
{
    g_autofree char *mtree = NULL;
    g_autoptr(JsonNode) fmw = NULL, pci = NULL;
    uint64_t wbase[DCD_MAX_WINDOWS], wsize[DCD_MAX_WINDOWS];
    unsigned nwin;
    JsonArray *a;

    memset(p, 0, sizeof(*p));
    p->ecam_base = Q35_ECAM_BASE;
    p->ecam_buses = Q35_ECAM_BUSES;
    p->mmio_base = Q35_MMIO_BASE;
    p->mmio_end = Q35_MMIO_END;

    /* query-pci lists root buses at the top, bridges' buses inside */
    pci = dcd_qmp_execute(q, "query-pci", NULL, errp);
    if (!pci) {
        return false;
    }
    for (guint i = 0; i < json_array_get_length(json_node_get_array(pci)) &&
                      p->n_root_buses < G_N_ELEMENTS(p->root_buses); i++) {
        JsonObject *b = json_array_get_object_element(
            json_node_get_array(pci), i);

        p->root_buses[p->n_root_buses++] = json_object_get_int_member(b,
                                                                      "bus");
    }

    mtree = dcd_qmp_hmp(q, "info mtree", errp);
    if (!mtree) {
        return false;
    }
    p->n_chbs = dcd_mtree_find(mtree, "pxb-cxl-host", p->chbs, NULL,
                               DCD_MAX_CHBS);
    qsort(p->chbs, p->n_chbs, sizeof(p->chbs[0]), cmp_u64);
    if (!p->n_chbs) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND,
            "no CXL host bridge register block in the memory map");
        return false;
    }

    nwin = dcd_mtree_find(mtree, "cxl-fixed-memory-region", wbase, wsize,
                          DCD_MAX_WINDOWS);
    fmw = dcd_qmp_execute(q, "qom-get",
                          dcd_qmp_args("s:path", "/machine",
                                       "s:property", "cxl-fmw", NULL), errp);
    if (!fmw) {
        return false;
    }
    if (!JSON_NODE_HOLDS_ARRAY(fmw)) {
        ERR(errp, DCD_HOST_ERR_INVALID, "cxl-fmw is not a list");
        return false;
    }
    a = json_node_get_array(fmw);
    if (json_array_get_length(a) != nwin) {
        ERR(errp, DCD_HOST_ERR_INVALID,
            "%u fixed windows configured but %u mapped",
            json_array_get_length(a), nwin);
        return false;
    }
    for (unsigned i = 0; i < nwin; i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        JsonArray *t = json_object_get_array_member(o, "targets");
        DcdWindow *w = &p->windows[i];

        /* mapped in index order, so the i-th by address is index i */
        if ((uint64_t)json_object_get_int_member(o, "size") != wsize[i]) {
            ERR(errp, DCD_HOST_ERR_INVALID,
                "window %u: configured size differs from mapped size", i);
            dcd_platform_clear(p);
            return false;
        }
        w->base = wbase[i];
        w->size = wsize[i];
        w->granularity = json_object_get_int_member_with_default(
            o, "interleave-granularity", 256);
        w->ways = MIN(json_array_get_length(t), DCD_MAX_WAYS);
        for (unsigned j = 0; j < w->ways; j++) {
            w->targets[j] = g_strdup(json_array_get_string_element(t, j));
        }
    }
    p->n_windows = nwin;
    return true;
}
