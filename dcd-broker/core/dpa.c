/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dpa.c - the free runs of a DC region in a balanced tree.  Runs are
 * merged on release, so a region that is mostly full or mostly empty has
 * few of them and first-fit stays cheap at 100k extents.
 */
#include "core/dpa.h"

typedef struct DcdDpaRun {
    uint64_t start;
    uint64_t end;        /* exclusive */
} DcdDpaRun;

static gint run_cmp(gconstpointer a, gconstpointer b, gpointer unused)
{
    uint64_t x = ((const DcdDpaRun *)a)->start;
    uint64_t y = ((const DcdDpaRun *)b)->start;

    return x < y ? -1 : x > y;
}

static DcdDpaRun *run_of(GTreeNode *n)
{
    return n ? g_tree_node_key(n) : NULL;
}

/* The run that starts at or before dpa (it may end before dpa). */
static GTreeNode *run_at_or_before(const DcdSpace *s, uint64_t dpa)
{
    DcdDpaRun probe = { .start = dpa };
    GTreeNode *n = g_tree_upper_bound(s->free, &probe);

    return n ? g_tree_node_previous(n) : g_tree_node_last(s->free);
}

static void run_insert(DcdSpace *s, uint64_t start, uint64_t end)
{
    DcdDpaRun *r = g_new(DcdDpaRun, 1);

    r->start = start;
    r->end = end;
    g_tree_insert(s->free, r, r);
}

void dcd_space_init(DcdSpace *s, uint64_t base, uint64_t len, uint64_t block,
                    bool sharable)
{
    s->base = base;
    s->len = len;
    s->block = block;
    s->sharable = sharable;
    s->nfree = len / block;
    s->free = g_tree_new_full(run_cmp, NULL, g_free, NULL);
    if (len) {
        run_insert(s, base, base + len);
    }
}

void dcd_space_fini(DcdSpace *s)
{
    g_clear_pointer(&s->free, g_tree_destroy);
}

bool dcd_space_valid(const DcdSpace *s, uint64_t dpa, uint64_t len)
{
    return len > 0 && dpa % s->block == 0 && len % s->block == 0 &&
           dpa >= s->base && dpa - s->base <= s->len &&
           len <= s->len - (dpa - s->base);
}

bool dcd_space_is_free(const DcdSpace *s, uint64_t dpa, uint64_t len)
{
    DcdDpaRun *r = run_of(run_at_or_before(s, dpa));

    return r && r->end > dpa && r->end - dpa >= len;
}

void dcd_space_take(DcdSpace *s, uint64_t dpa, uint64_t len)
{
    GTreeNode *n = run_at_or_before(s, dpa);
    DcdDpaRun *r = run_of(n);
    uint64_t end = dpa + len;

    g_return_if_fail(r && r->end >= end && r->start <= dpa);
    s->nfree -= len / s->block;
    if (r->start == dpa && r->end == end) {
        g_tree_remove(s->free, r);
    } else if (r->start == dpa) {
        r->start = end;  /* still between its neighbours: order holds */
    } else {
        uint64_t old_end = r->end;

        r->end = dpa;
        if (end < old_end) {
            run_insert(s, end, old_end);
        }
    }
}

void dcd_space_put(DcdSpace *s, uint64_t dpa, uint64_t len)
{
    uint64_t end = dpa + len;
    GTreeNode *pn = run_at_or_before(s, dpa);
    GTreeNode *nn = pn ? g_tree_node_next(pn) : g_tree_node_first(s->free);
    DcdDpaRun *prev = run_of(pn), *next = run_of(nn);

    /* Putting back what is free would count it twice. */
    g_return_if_fail(!(prev && prev->end > dpa) &&
                     !(next && next->start < end));
    s->nfree += len / s->block;
    if (prev && prev->end == dpa) {
        prev->end = end;
        if (next && next->start == end) {
            prev->end = next->end;
            g_tree_remove(s->free, next);
        }
    } else if (next && next->start == end) {
        next->start = dpa;  /* still after prev: order holds */
    } else {
        run_insert(s, dpa, end);
    }
}

bool dcd_space_find_contig(const DcdSpace *s, uint64_t len, uint64_t *dpa)
{
    if (len == 0 || len / s->block > s->nfree) {
        return false;
    }
    for (GTreeNode *n = g_tree_node_first(s->free); n;
         n = g_tree_node_next(n)) {
        DcdDpaRun *r = run_of(n);

        if (r->end - r->start >= len) {
            *dpa = r->start;
            return true;
        }
    }
    return false;
}

bool dcd_space_find_free(const DcdSpace *s, uint64_t len, GArray *out)
{
    uint64_t need = len;

    if (len == 0 || len / s->block > s->nfree || len % s->block) {
        return false;
    }
    for (GTreeNode *n = g_tree_node_first(s->free); n && need;
         n = g_tree_node_next(n)) {
        DcdDpaRun *r = run_of(n);
        DcdDpaRange got = { .dpa = r->start,
                            .len = MIN(r->end - r->start, need) };

        g_array_append_val(out, got);
        need -= got.len;
    }
    return true;
}

unsigned dcd_space_nruns(const DcdSpace *s)
{
    return g_tree_nnodes(s->free);
}
