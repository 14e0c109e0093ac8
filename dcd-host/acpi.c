/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * acpi.c - the platform from ACPI tables, as a guest finds it in
 * /sys/firmware/acpi/tables.  Layouts (all little-endian):
 *   common header: signature 4, length 4 at 4, ... 36 bytes in all;
 *   CEDT (CXL 3.1 9.18.1): records of type 1, reserved 1, length 2;
 *     CHBS (type 0, 32 bytes): UID 4 at 4, CXL version 4 at 8,
 *       base 8 at 16, length 8 at 24;
 *     CFMWS (type 1, 36 + 4 * ways): base 8 at 8, size 8 at 16, encoded
 *       ways 1 at 24, arithmetic 1 at 25, encoded granularity 4 at 28,
 *       restrictions 2 at 32, QTG 2 at 34, target UIDs 4 each at 36;
 *   MCFG: 8 reserved bytes, then 16-byte entries: base 8, segment 2,
 *     start bus 1, end bus 1.
 */
#include <string.h>

#include "dcd-host/platform.h"
#include "err.h"

#define ACPI_HDR 36
#define CEDT_CHBS 0
#define CEDT_CFMWS 1
#define CHBS_LEN 32
#define CFMWS_LEN 36
#define MCFG_ENTRY 16

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = n; i-- > 0;) {
        v = v << 8 | p[i];
    }
    return v;
}

/* The table's own length, if it is a whole table of that signature. */
static bool table_ok(const uint8_t *t, size_t len, const char *sig,
                     size_t *tlen, GError **errp)
{
    if (len < ACPI_HDR || memcmp(t, sig, 4) != 0) {
        ERR(errp, DCD_HOST_ERR_INVALID, "%s: not an ACPI %s table", sig, sig);
        return false;
    }
    *tlen = le(t + 4, 4);
    if (*tlen < ACPI_HDR || *tlen > len) {
        ERR(errp, DCD_HOST_ERR_INVALID, "%s: length %zu, but %zu bytes", sig,
            *tlen, len);
        return false;
    }
    return true;
}

/* Encoded interleave ways (CXL 3.1 Table 9-22): 2^n, or 3 * 2^(n-8). */
static unsigned decode_ways(uint8_t enc)
{
    if (enc <= 4) {
        return 1u << enc;
    }
    if (enc >= 8 && enc <= 10) {
        return 3u << (enc - 8);
    }
    return 0;
}

static bool add_window(DcdPlatform *p, const uint8_t *r, unsigned rlen,
                       GError **errp)
{
    unsigned ways = decode_ways(r[24]);
    uint32_t gran = le(r + 28, 4);
    DcdWindow *w;

    if (!ways || ways > DCD_MAX_WAYS || rlen < CFMWS_LEN + 4 * ways ||
        gran > 6) {
        ERR(errp, DCD_HOST_ERR_INVALID, "CEDT: CFMWS with %u ways"
            " (encoded %u), granularity %u, in %u bytes", ways, r[24], gran,
            rlen);
        return false;
    }
    if (p->n_windows == DCD_MAX_WINDOWS) {
        ERR(errp, DCD_HOST_ERR_INVALID, "CEDT: more than %u windows",
            DCD_MAX_WINDOWS);
        return false;
    }
    w = &p->windows[p->n_windows++];
    w->base = le(r + 8, 8);
    w->size = le(r + 16, 8);
    w->ways = ways;
    w->granularity = 256ull << gran;
    for (unsigned i = 0; i < ways; i++) {
        w->targets[i] = g_strdup_printf("%u", (unsigned)le(r + 36 + 4 * i, 4));
    }
    return true;
}

static bool parse_cedt(DcdPlatform *p, const uint8_t *t, size_t len,
                       GError **errp)
{
    size_t tlen, off = ACPI_HDR;

    if (!table_ok(t, len, "CEDT", &tlen, errp)) {
        return false;
    }
    while (off < tlen) {
        const uint8_t *r = t + off;
        unsigned rlen;

        if (tlen - off < 4 || (rlen = le(r + 2, 2)) < 4 || rlen > tlen - off) {
            ERR(errp, DCD_HOST_ERR_INVALID, "CEDT: record at %zu runs past"
                " the table", off);
            return false;
        }
        if (r[0] == CEDT_CHBS) {
            if (rlen < CHBS_LEN || p->n_chbs == DCD_MAX_CHBS) {
                ERR(errp, DCD_HOST_ERR_INVALID, "CEDT: bad or too many CHBS");
                return false;
            }
            p->chbs_uid[p->n_chbs] = le(r + 4, 4);
            p->chbs[p->n_chbs++] = le(r + 16, 8);
        } else if (r[0] == CEDT_CFMWS) {
            if (rlen < CFMWS_LEN || !add_window(p, r, rlen, errp)) {
                if (errp && !*errp) {
                    ERR(errp, DCD_HOST_ERR_INVALID, "CEDT: short CFMWS");
                }
                return false;
            }
        }
        /* other records (CXIMS, RDPAS, CSDS) say nothing we use */
        off += rlen;
    }
    return true;
}

static bool parse_mcfg(DcdPlatform *p, const uint8_t *t, size_t len,
                       GError **errp)
{
    size_t tlen;

    if (!table_ok(t, len, "MCFG", &tlen, errp)) {
        return false;
    }
    for (size_t off = ACPI_HDR + 8; off + MCFG_ENTRY <= tlen;
         off += MCFG_ENTRY) {
        const uint8_t *e = t + off;

        if (le(e + 8, 2) == 0 && e[10] == 0 && e[11] >= e[10]) {
            p->ecam_base = le(e, 8);
            p->ecam_buses = e[11] - e[10] + 1;
            return true;
        }
    }
    ERR(errp, DCD_HOST_ERR_NOTFOUND, "MCFG: no ECAM for segment 0 from bus 0");
    return false;
}

bool dcd_platform_from_acpi(DcdPlatform *p, const void *cedt, size_t cedt_len,
                            const void *mcfg, size_t mcfg_len, GError **errp)
{
    memset(p, 0, sizeof(*p));
    if (!parse_cedt(p, cedt, cedt_len, errp) ||
        !parse_mcfg(p, mcfg, mcfg_len, errp)) {
        dcd_platform_clear(p);
        return false;
    }
    if (!p->n_chbs || !p->n_windows) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "CEDT: %u host bridges, %u windows:"
            " no CXL memory here", p->n_chbs, p->n_windows);
        dcd_platform_clear(p);
        return false;
    }
    return true;
}
