/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dpa.c - block bitmap of a DC region.  A region of 1 TiB in 2 MiB blocks
 * is 64 KiB of bitmap; searches skip whole words, which keeps first-fit
 * cheap at 100k extents.
 */
#include <string.h>

#include "dpa.h"

#define WORD_BITS 64

static void bits_assign(uint64_t *m, uint64_t first, uint64_t n, bool set)
{
    for (uint64_t i = first; i < first + n; i++) {
        if (set) {
            m[i / WORD_BITS] |= 1ull << (i % WORD_BITS);
        } else {
            m[i / WORD_BITS] &= ~(1ull << (i % WORD_BITS));
        }
    }
}

/* Next block >= i whose bit equals want, or nblocks. */
static uint64_t bit_next(const DcdSpace *s, uint64_t i, bool want)
{
    while (i < s->nblocks) {
        uint64_t w = s->used[i / WORD_BITS];

        if (!want) {
            w = ~w;
        }
        w &= ~0ull << (i % WORD_BITS);
        if (w) {
            uint64_t r = (i & ~(uint64_t)(WORD_BITS - 1)) + __builtin_ctzll(w);
            return MIN(r, s->nblocks);
        }
        i = (i | (WORD_BITS - 1)) + 1;
    }
    return s->nblocks;
}

void dcd_space_init(DcdSpace *s, uint64_t base, uint64_t len, uint64_t block,
                    bool sharable)
{
    memset(s, 0, sizeof(*s));
    s->base = base;
    s->len = len;
    s->block = block;
    s->sharable = sharable;
    s->nblocks = len / block;
    s->nfree = s->nblocks;
    s->used = g_new0(uint64_t, (s->nblocks + WORD_BITS - 1) / WORD_BITS);
}

void dcd_space_fini(DcdSpace *s)
{
    g_clear_pointer(&s->used, g_free);
}

bool dcd_space_valid(const DcdSpace *s, uint64_t dpa, uint64_t len)
{
    return len > 0 && dpa % s->block == 0 && len % s->block == 0 &&
           dpa >= s->base && dpa - s->base <= s->len &&
           len <= s->len - (dpa - s->base);
}

bool dcd_space_is_free(const DcdSpace *s, uint64_t dpa, uint64_t len)
{
    uint64_t first = (dpa - s->base) / s->block;
    uint64_t n = len / s->block;

    return bit_next(s, first, true) >= first + n;
}

void dcd_space_take(DcdSpace *s, uint64_t dpa, uint64_t len)
{
    uint64_t first = (dpa - s->base) / s->block;

    bits_assign(s->used, first, len / s->block, true);
    s->nfree -= len / s->block;
    if (s->hint >= first && s->hint < first + len / s->block) {
        s->hint = first + len / s->block;
    }
}

void dcd_space_put(DcdSpace *s, uint64_t dpa, uint64_t len)
{
    uint64_t first = (dpa - s->base) / s->block;

    bits_assign(s->used, first, len / s->block, false);
    s->nfree += len / s->block;
    s->hint = MIN(s->hint, first);
}

bool dcd_space_find_contig(const DcdSpace *s, uint64_t len, uint64_t *dpa)
{
    uint64_t need = len / s->block;
    uint64_t i = s->hint;

    if (need == 0 || need > s->nfree) {
        return false;
    }
    for (;;) {
        uint64_t start = bit_next(s, i, false);
        uint64_t end;

        if (start + need > s->nblocks) {
            return false;
        }
        end = bit_next(s, start, true);
        if (end - start >= need) {
            *dpa = s->base + start * s->block;
            return true;
        }
        i = end;
    }
}

bool dcd_space_find_free(const DcdSpace *s, uint64_t len, GArray *out)
{
    uint64_t need = len / s->block;
    uint64_t i = s->hint;
    guint mark = out->len;

    if (need == 0 || need > s->nfree) {
        return false;
    }
    while (need) {
        uint64_t start = bit_next(s, i, false);
        uint64_t end, n;
        DcdDpaRange r;

        if (start >= s->nblocks) {
            g_array_set_size(out, mark);
            return false;
        }
        end = bit_next(s, start, true);
        n = MIN(end - start, need);
        r.dpa = s->base + start * s->block;
        r.len = n * s->block;
        g_array_append_val(out, r);
        need -= n;
        i = end;
    }
    return true;
}
