/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd.c - payload layouts of the DC commands and event records.  All
 * fields are little-endian; offsets are written out once here.
 */
#include <string.h>

#include "dcd-host/dcd.h"
#include "err.h"

#define EVENT_RECORD_SIZE 0x80
#define EVENT_PAYLOAD_HDR 0x20
#define EXTENT_RAW_SIZE 0x28
#define UPDATE_ENTRY_SIZE 0x18

/* CXL r3.1 Table 8-50: Dynamic Capacity Event Record UUID */
static const uint8_t dc_event_uuid[16] = {
    0xca, 0x95, 0xaf, 0xa7, 0xf1, 0x83, 0x40, 0x18,
    0x8c, 0x2f, 0x95, 0x26, 0x8e, 0x10, 0x1a, 0x2a,
};

static uint16_t ld16(const uint8_t *p)
{
    return p[0] | p[1] << 8;
}

static uint32_t ld32(const uint8_t *p)
{
    return ld16(p) | (uint32_t)ld16(p + 2) << 16;
}

static uint64_t ld64(const uint8_t *p)
{
    return ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static void st16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void st32(uint8_t *p, uint32_t v)
{
    st16(p, v);
    st16(p + 2, v >> 16);
}

static void st64(uint8_t *p, uint64_t v)
{
    st32(p, v);
    st32(p + 4, v >> 32);
}

/* CXL r3.1 Table 8-51: Dynamic Capacity Extent */
static void parse_extent(const uint8_t *p, DcdDevExtent *e)
{
    e->dpa = ld64(p);
    e->len = ld64(p + 8);
    memcpy(e->tag, p + 0x10, 16);
    e->shared_seq = ld16(p + 0x20);
}

bool dcd_identify(DcdMbox *m, DcdIdentity *id, GError **errp)
{
    uint8_t out[0x45] = { 0 };
    size_t len = 0x12;
    GError *err = NULL;

    memset(id, 0, sizeof(*id));
    /*
     * Identify (0001h): vendor, device, ..., component type at 0x11.
     * Optional on a memory device's primary mailbox (QEMU only offers
     * it on its other CCIs), so "unsupported" is not an error.
     */
    id->vendor = id->device = 0xffff;
    id->component_type = 0xff;
    if (dcd_mbox_cmd(m, CXL_OP_IDENTIFY, NULL, 0, out, &len, &err)) {
        id->vendor = ld16(out);
        id->device = ld16(out + 2);
        id->component_type = len > 0x11 ? out[0x11] : 0xff;
    } else if (g_error_matches(err, DCD_HOST_ERROR, DCD_HOST_ERR_MBOX) &&
               m->last_rc == CXL_MBOX_UNSUPPORTED) {
        g_clear_error(&err);
    } else {
        g_propagate_error(errp, err);
        return false;
    }

    memset(out, 0, sizeof(out));
    len = sizeof(out);
    if (!dcd_mbox_cmd(m, CXL_OP_IDENTIFY_MEMDEV, NULL, 0, out, &len, errp)) {
        return false;
    }
    if (len < 0x43) {
        ERR(errp, DCD_HOST_ERR_INVALID, "Identify Memory Device: short reply");
        return false;
    }
    memcpy(id->fw_revision, out, 16);
    /* capacities are in 256 MiB units */
    id->total_capacity = ld64(out + 0x10) << 28;
    id->volatile_capacity = ld64(out + 0x18) << 28;
    id->persistent_capacity = ld64(out + 0x20) << 28;
    id->dc_event_log_size = len >= 0x45 ? ld16(out + 0x43) : 0;
    return true;
}

bool dcd_get_config(DcdMbox *m, DcdConfig *c, GError **errp)
{
    uint8_t in[2] = { DCD_MAX_REGIONS, 0 };
    uint8_t out[8 + DCD_MAX_REGIONS * 0x28 + 16] = { 0 };
    size_t len = sizeof(out);
    unsigned got;
    const uint8_t *x;

    memset(c, 0, sizeof(*c));
    if (!dcd_mbox_cmd(m, CXL_OP_DC_CONFIG, in, sizeof(in), out, &len, errp)) {
        return false;
    }
    got = out[1];
    if (got > DCD_MAX_REGIONS || len < 8 + got * 0x28u + 16) {
        ERR(errp, DCD_HOST_ERR_INVALID, "Get DC Config: malformed reply");
        return false;
    }
    c->n_regions = out[0];
    for (unsigned i = 0; i < got; i++) {
        const uint8_t *r = out + 8 + i * 0x28;

        c->region[i].base = ld64(r);
        /* decode length is in 256 MiB units */
        c->region[i].decode_len = ld64(r + 8) << 28;
        c->region[i].len = ld64(r + 0x10);
        c->region[i].block_size = ld64(r + 0x18);
        c->region[i].dsmad_handle = ld32(r + 0x20);
        c->region[i].flags = r[0x24];
    }
    x = out + 8 + got * 0x28;
    c->extents_supported = ld32(x);
    c->extents_available = ld32(x + 4);
    c->tags_supported = ld32(x + 8);
    c->tags_available = ld32(x + 12);
    return true;
}

GArray *dcd_get_extents(DcdMbox *m, uint32_t *generation, GError **errp)
{
    g_autoptr(GArray) all = NULL;
    g_autofree uint8_t *out = g_malloc(m->payload_max);
    unsigned per_page = (m->payload_max - 16) / EXTENT_RAW_SIZE;
    unsigned tries = 0;

restart:
    if (all) {
        g_array_set_size(all, 0);
    } else {
        all = g_array_new(FALSE, TRUE, sizeof(DcdDevExtent));
    }
    for (uint32_t start = 0, total = 1, gen = 0; start < total;) {
        uint8_t in[8];
        size_t len = m->payload_max;
        uint32_t count, g;

        st32(in, per_page);
        st32(in + 4, start);
        if (!dcd_mbox_cmd(m, CXL_OP_DC_EXTENT_LIST, in, sizeof(in), out, &len,
                          errp)) {
            return NULL;
        }
        if (len < 16) {
            ERR(errp, DCD_HOST_ERR_INVALID, "Get DC Extent List: short reply");
            return NULL;
        }
        count = ld32(out);
        total = ld32(out + 4);
        g = ld32(out + 8);
        if (start && g != gen) {
            /* the list changed under us: read it again from the start */
            if (++tries > 8) {
                ERR(errp, DCD_HOST_ERR_INVALID,
                    "Get DC Extent List: the generation keeps changing");
                return NULL;
            }
            goto restart;
        }
        gen = g;
        if (generation) {
            *generation = g;
        }
        /* trust only records that exist in the accepted list */
        count = MIN(count, total - MIN(total, start));
        count = MIN(count, (len - 16) / EXTENT_RAW_SIZE);
        for (uint32_t i = 0; i < count; i++) {
            DcdDevExtent e;

            parse_extent(out + 16 + i * EXTENT_RAW_SIZE, &e);
            g_array_append_val(all, e);
        }
        if (!count) {
            break;
        }
        start += count;
    }
    return g_steal_pointer(&all);
}

/*
 * CXL r3.1 Table 8-168 / 8-170: count, flags, then (dpa, len) entries.
 * With @chain, more entries than one payload holds go out as several
 * commands, each but the last with the "More" flag (bit 0 of flags).
 */
static bool update_extents(DcdMbox *m, uint16_t op, const DcdDevExtent *ext,
                           unsigned n, bool chain, GError **errp)
{
    size_t per = (m->payload_max - 8) / UPDATE_ENTRY_SIZE;
    unsigned off = 0;

    if (n > per && !chain) {
        ERR(errp, DCD_HOST_ERR_INVALID, "%u extents do not fit one payload",
            n);
        return false;
    }
    do {
        unsigned cnt = MIN(n - off, per);
        bool more = off + cnt < n;
        size_t len = 8 + cnt * UPDATE_ENTRY_SIZE;
        g_autofree uint8_t *in = g_malloc0(len);

        st32(in, cnt);
        in[4] = more;
        for (unsigned i = 0; i < cnt; i++) {
            st64(in + 8 + i * UPDATE_ENTRY_SIZE, ext[off + i].dpa);
            st64(in + 16 + i * UPDATE_ENTRY_SIZE, ext[off + i].len);
        }
        if (!dcd_mbox_cmd(m, op, in, len, NULL, NULL, errp)) {
            return false;
        }
        off += cnt;
    } while (off < n);
    return true;
}

bool dcd_add_response(DcdMbox *m, const DcdDevExtent *ext, unsigned n,
                      GError **errp)
{
    return update_extents(m, CXL_OP_DC_ADD_RESPONSE, ext, n, true, errp);
}

bool dcd_release(DcdMbox *m, const DcdDevExtent *ext, unsigned n, GError **errp)
{
    return update_extents(m, CXL_OP_DC_RELEASE, ext, n, true, errp);
}

bool dcd_get_events(DcdMbox *m, unsigned log, GArray *events, bool *more,
                    unsigned *other, GError **errp)
{
    g_autofree uint8_t *out = g_malloc0(m->payload_max);
    size_t len = m->payload_max;
    uint8_t in = log;
    unsigned count;

    if (!dcd_mbox_cmd(m, CXL_OP_GET_EVENTS, &in, 1, out, &len, errp)) {
        return false;
    }
    if (len < EVENT_PAYLOAD_HDR) {
        ERR(errp, DCD_HOST_ERR_INVALID, "Get Event Records: short reply");
        return false;
    }
    count = ld16(out + 0x14);
    if (EVENT_PAYLOAD_HDR + count * (size_t)EVENT_RECORD_SIZE > len) {
        ERR(errp, DCD_HOST_ERR_INVALID, "Get Event Records: %u records in "
            "%zu bytes", count, len);
        return false;
    }
    *more = out[0] & 2;
    if (other) {
        *other = 0;
    }
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *r = out + EVENT_PAYLOAD_HDR + i * EVENT_RECORD_SIZE;
        DcdEvent ev = { 0 };

        ev.handle = ld16(r + 0x14);
        if (memcmp(r, dc_event_uuid, 16) != 0) {
            /* still reported so that the caller can clear it */
            ev.type = 0xff;
            if (other) {
                (*other)++;
            }
            g_array_append_val(events, ev);
            continue;
        }
        /* CXL r3.1 Table 8-50, from the end of the common header */
        ev.type = r[0x30];
        ev.host_id = ld16(r + 0x32);
        ev.region = r[0x34];
        ev.more = r[0x35] & 1;
        parse_extent(r + 0x38, &ev.extent);
        ev.extents_available = ld32(r + 0x78);
        g_array_append_val(events, ev);
    }
    return true;
}

bool dcd_clear_events(DcdMbox *m, unsigned log, const uint16_t *handles,
                      unsigned n, GError **errp)
{
    g_autofree uint8_t *in = g_malloc0(6 + 2 * n);

    if (n > 255) {
        ERR(errp, DCD_HOST_ERR_INVALID, "too many handles");
        return false;
    }
    in[0] = log;
    in[2] = n;
    for (unsigned i = 0; i < n; i++) {
        st16(in + 6 + 2 * i, handles[i]);
    }
    return dcd_mbox_cmd(m, CXL_OP_CLEAR_EVENTS, in, 6 + 2 * n, NULL, NULL,
                        errp);
}

static bool group_has(GArray *group, const DcdEvent *ev)
{
    for (guint i = 0; i < group->len; i++) {
        const DcdEvent *g = &g_array_index(group, DcdEvent, i);

        if (g->handle == ev->handle && g->type == ev->type &&
            g->extent.dpa == ev->extent.dpa && g->extent.len == ev->extent.len) {
            return true;
        }
    }
    return false;
}

static bool group_closed(GArray *group)
{
    return group->len && !g_array_index(group, DcdEvent, group->len - 1).more;
}

bool dcd_group_read(DcdMbox *m, GArray *group, DcdGroupSave save,
                    void *opaque, bool *complete, GError **errp)
{
    *complete = group_closed(group);
    while (!*complete) {
        g_autoptr(GArray) evs = g_array_new(FALSE, TRUE, sizeof(DcdEvent));
        g_autofree uint16_t *handles = NULL;
        bool more = false, added = false;
        unsigned n;

        if (!dcd_get_events(m, CXL_EVENT_LOG_DC, evs, &more, NULL, errp)) {
            return false;
        }
        if (!evs->len) {
            return true;    /* empty log, or the rest not there yet */
        }
        /* take records up to the one that closes the group */
        for (n = 0; n < evs->len && !*complete; n++) {
            DcdEvent *ev = &g_array_index(evs, DcdEvent, n);

            if (ev->type == 0xff || group_has(group, ev)) {
                continue;
            }
            g_array_append_val(group, *ev);
            added = true;
            *complete = !ev->more;
        }
        if (added && save && !save(group, opaque, errp)) {
            return false;
        }
        handles = g_new(uint16_t, n);
        for (unsigned i = 0; i < n; i++) {
            handles[i] = g_array_index(evs, DcdEvent, i).handle;
        }
        if (!dcd_clear_events(m, CXL_EVENT_LOG_DC, handles, n, errp)) {
            return false;
        }
    }
    return true;
}

GArray *dcd_next_group(DcdMbox *m, GError **errp)
{
    g_autoptr(GArray) group = g_array_new(FALSE, TRUE, sizeof(DcdEvent));
    bool complete;

    if (!dcd_group_read(m, group, NULL, NULL, &complete, errp)) {
        return NULL;
    }
    if (group->len && !complete) {
        ERR(errp, DCD_HOST_ERR_INVALID, "DC event group ends with More set");
        return NULL;
    }
    return g_steal_pointer(&group);
}
