/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * types.c - tags, canonical names and sizes shared by every component.
 */
#include <errno.h>
#include <string.h>

#include "dcd/types.h"

G_DEFINE_QUARK(dcd-error-quark, dcd_error)

bool dcd_tag_parse(const char *s, DcdTag *tag)
{
    uuid_t u;

    if (!s || strlen(s) != 36 || uuid_parse(s, u) != 0) {
        return false;
    }
    memcpy(tag->b, u, sizeof(tag->b));
    return true;
}

void dcd_tag_unparse(const DcdTag *tag, char out[DCD_TAG_STR_LEN])
{
    uuid_unparse_lower(tag->b, out);
}

bool dcd_tag_is_null(const DcdTag *tag)
{
    return uuid_is_null(tag->b);
}

bool dcd_tag_equal(const DcdTag *a, const DcdTag *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

void dcd_tag_generate(DcdTag *tag)
{
    uuid_generate_random(tag->b);
}

static const char *const policy_names[DCD_POLICY__MAX] = {
    [DCD_POLICY_FREE] = "free",
    [DCD_POLICY_CONTIGUOUS] = "contiguous",
    [DCD_POLICY_PRESCRIPTIVE] = "prescriptive",
    [DCD_POLICY_ENABLE_SHARED] = "enable-shared-access",
};

static const char *const removal_names[DCD_REMOVAL__MAX] = {
    [DCD_REMOVAL_TAG] = "tag-based",
    [DCD_REMOVAL_PRESCRIPTIVE] = "prescriptive",
};

static const char *const backing_names[DCD_BACKING__MAX] = {
    [DCD_BACKING_MEMFD] = "memfd",
    [DCD_BACKING_FILE] = "file",
    [DCD_BACKING_HUGETLB] = "hugetlb",
    [DCD_BACKING_DEVICE] = "device",
};

static const char *const state_names[DCD_EXTENT_STATE__MAX] = {
    [DCD_EXTENT_PENDING] = "pending",
    [DCD_EXTENT_ACCEPTED] = "accepted",
    [DCD_EXTENT_RELEASING] = "releasing",
    [DCD_EXTENT_REVOKING] = "revoking",
    [DCD_EXTENT_REJECTED] = "rejected",
    [DCD_EXTENT_RELEASED] = "released",
    [DCD_EXTENT_RECLAIMED] = "reclaimed",
};

static const char *const err_names[DCD_ERR__MAX] = {
    [DCD_ERR_OK] = "ok",
    [DCD_ERR_PROTO] = "proto",
    [DCD_ERR_VERSION] = "version",
    [DCD_ERR_INVAL] = "inval",
    [DCD_ERR_NOENT] = "noent",
    [DCD_ERR_EXIST] = "exist",
    [DCD_ERR_BUSY] = "busy",
    [DCD_ERR_NOSPC] = "nospc",
    [DCD_ERR_PERM] = "perm",
    [DCD_ERR_STATE] = "state",
    [DCD_ERR_NOTSUP] = "notsup",
    [DCD_ERR_IO] = "io",
    [DCD_ERR_UNAVAIL] = "unavail",
    [DCD_ERR_TIMEOUT] = "timeout",
};

static const char *name_of(const char *const *names, unsigned n, unsigned v)
{
    return v < n && names[v] ? names[v] : "unknown";
}

static bool parse_name(const char *const *names, unsigned n, const char *s,
                       unsigned *out)
{
    for (unsigned i = 0; s && i < n; i++) {
        if (names[i] && strcmp(names[i], s) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

#define NAMES(a) (a), G_N_ELEMENTS(a)

const char *dcd_policy_name(DcdPolicy p)
{
    return name_of(NAMES(policy_names), p);
}

bool dcd_policy_parse(const char *s, DcdPolicy *p)
{
    unsigned v;

    if (!parse_name(NAMES(policy_names), s, &v)) {
        return false;
    }
    *p = v;
    return true;
}

const char *dcd_removal_name(DcdRemoval r)
{
    return name_of(NAMES(removal_names), r);
}

bool dcd_removal_parse(const char *s, DcdRemoval *r)
{
    unsigned v;

    if (!parse_name(NAMES(removal_names), s, &v)) {
        return false;
    }
    *r = v;
    return true;
}

const char *dcd_backing_name(DcdBacking b)
{
    return name_of(NAMES(backing_names), b);
}

bool dcd_backing_parse(const char *s, DcdBacking *b)
{
    unsigned v;

    if (!parse_name(NAMES(backing_names), s, &v)) {
        return false;
    }
    *b = v;
    return true;
}

const char *dcd_extent_state_name(DcdExtentState s)
{
    return name_of(NAMES(state_names), s);
}

bool dcd_extent_state_parse(const char *s, DcdExtentState *st)
{
    unsigned v;

    if (!parse_name(NAMES(state_names), s, &v)) {
        return false;
    }
    *st = v;
    return true;
}

const char *dcd_err_name(DcdErr e)
{
    return name_of(NAMES(err_names), e);
}

DcdErr dcd_err_parse(const char *s)
{
    unsigned v;

    return parse_name(NAMES(err_names), s, &v) ? (DcdErr)v : DCD_ERR_INVAL;
}

bool dcd_size_parse(const char *s, uint64_t *out)
{
    char *end;
    guint64 v;
    unsigned shift = 0;

    if (!s || !g_ascii_isdigit(*s)) {
        return false;
    }
    /* Decimal, or hex with 0x: a leading 0 is not octal. */
    errno = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        if (!g_ascii_isxdigit(s[2])) {
            return false;
        }
        v = g_ascii_strtoull(s + 2, &end, 16);
    } else {
        v = g_ascii_strtoull(s, &end, 10);
    }
    if (errno) {
        return false;
    }
    switch (g_ascii_toupper(*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && g_ascii_toupper(*end) == 'I') {
        end++;
    }
    if (shift && g_ascii_toupper(*end) == 'B') {
        end++;
    }
    if (*end != '\0' || (shift && v > (G_MAXUINT64 >> shift))) {
        return false;
    }
    *out = v << shift;
    return true;
}

char *dcd_size_format(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "KMGT";
    int i = -1;
    uint64_t unit = 1;

    while (i < 3 && v >= (unit << 10)) {
        unit <<= 10;
        i++;
    }
    if (i < 0) {
        g_snprintf(buf, len, "%" G_GUINT64_FORMAT, v);
    } else if (v % unit == 0) {
        g_snprintf(buf, len, "%" G_GUINT64_FORMAT "%c", v / unit, units[i]);
    } else {
        g_snprintf(buf, len, "%.1f%c", (double)v / unit, units[i]);
    }
    return buf;
}

void dcd_pattern_fill(void *buf, size_t len, unsigned seed)
{
    uint8_t *p = buf;
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = x >> 16;
    }
}
