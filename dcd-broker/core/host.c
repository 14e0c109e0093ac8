/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * host.c - a host's extents and groups.  Every path that ends an extent
 * goes through dcd_host_end_extent() so the DPA space and the pool's
 * holder count can never drift apart.
 */
#include <string.h>

#include "core/host.h"

static void group_free(gpointer p)
{
    DcdGroup *g = p;

    if (g->timer) {
        g_source_remove(g->timer);
    }
    g_ptr_array_unref(g->extents);
    g_array_unref(g->waiters);
    g_free(g);
}

DcdHost *dcd_host_new(uint16_t id, const char *name,
                      const struct dcd_region *regions, unsigned nregions)
{
    DcdHost *h = g_new0(DcdHost, 1);

    h->id = id;
    g_strlcpy(h->name, name ? name : "", sizeof(h->name));
    h->extents = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                       g_free);
    h->groups = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                      group_free);
    h->handed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_queue_init(&h->history);
    dcd_host_set_regions(h, regions, nregions);
    cds_lfht_node_init(&h->node);
    return h;
}

void dcd_host_free(DcdHost *h)
{
    if (!h) {
        return;
    }
    g_hash_table_unref(h->groups);
    g_hash_table_unref(h->extents);
    g_hash_table_unref(h->handed);
    g_queue_clear_full(&h->history, g_free);
    for (unsigned i = 0; i < h->nregions; i++) {
        dcd_space_fini(&h->regions[i]);
    }
    g_free(h);
}

bool dcd_host_connected(const DcdHost *h)
{
    return h->link != NULL;
}

bool dcd_host_regions_equal(const DcdHost *h,
                            const struct dcd_region *regions,
                            unsigned nregions)
{
    if (nregions != h->nregions) {
        return false;
    }
    for (unsigned i = 0; i < nregions; i++) {
        const DcdSpace *s = &h->regions[i];

        if (s->base != regions[i].base || s->len != regions[i].len ||
            s->block != regions[i].block_size ||
            s->sharable != !!(regions[i].flags & DCD_REGION_SHARABLE)) {
            return false;
        }
    }
    return true;
}

void dcd_host_set_regions(DcdHost *h, const struct dcd_region *regions,
                          unsigned nregions)
{
    for (unsigned i = 0; i < h->nregions; i++) {
        dcd_space_fini(&h->regions[i]);
    }
    h->nregions = MIN(nregions, DCD_MAX_REGIONS);
    for (unsigned i = 0; i < h->nregions; i++) {
        dcd_space_init(&h->regions[i], regions[i].base, regions[i].len,
                       regions[i].block_size,
                       regions[i].flags & DCD_REGION_SHARABLE);
    }
}

DcdExtent *dcd_host_extent(const DcdHost *h, uint64_t dpa)
{
    return g_hash_table_lookup(h->extents, &dpa);
}

DcdExtent *dcd_host_add_extent(DcdHost *h, DcdPool *pool, uint8_t region,
                               uint64_t dpa, uint64_t len, uint16_t seq,
                               DcdExtentState state)
{
    DcdExtent *e = g_new0(DcdExtent, 1);

    e->dpa = dpa;
    e->len = len;
    e->region = region;
    e->seq = seq;
    e->tag = pool->tag;
    e->pool = pool;
    e->state = state;
    dcd_space_take(&h->regions[region], dpa, len);
    pool->holders++;
    g_hash_table_insert(h->extents, &e->dpa, e);
    return e;
}

void dcd_host_end_extent(DcdHost *h, DcdExtent *e, DcdExtentState state)
{
    g_assert(g_hash_table_lookup(h->extents, &e->dpa) == e);

    dcd_space_put(&h->regions[e->region], e->dpa, e->len);
    e->pool->holders--;
    e->pool = NULL;
    e->state = state;
    g_hash_table_steal(h->extents, &e->dpa);
    g_queue_push_tail(&h->history, e);
}

void dcd_host_undo_extent(DcdHost *h, DcdExtent *e)
{
    dcd_host_end_extent(h, e, DCD_EXTENT_RECLAIMED);
    g_queue_remove(&h->history, e);
    g_free(e);
}

void dcd_host_trim_history(DcdHost *h)
{
    while (h->history.length > DCD_HOST_HISTORY) {
        g_free(g_queue_pop_head(&h->history));
    }
}

static gint by_dpa(gconstpointer a, gconstpointer b)
{
    const DcdExtent *x = *(DcdExtent * const *)a;
    const DcdExtent *y = *(DcdExtent * const *)b;

    return x->dpa < y->dpa ? -1 : x->dpa > y->dpa;
}

GPtrArray *dcd_host_extents_of(const DcdHost *h, const DcdTag *tag)
{
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, h->extents);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        DcdExtent *e = v;

        if (!tag || dcd_tag_equal(&e->tag, tag)) {
            g_ptr_array_add(out, e);
        }
    }
    g_ptr_array_sort(out, by_dpa);
    return out;
}

unsigned dcd_host_count_state(const DcdHost *h, DcdExtentState state)
{
    GHashTableIter it;
    gpointer v;
    unsigned n = 0;

    g_hash_table_iter_init(&it, h->extents);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        n += ((const DcdExtent *)v)->state == state;
    }
    return n;
}

bool dcd_host_holds(const DcdHost *h, const DcdPool *p)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, h->extents);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        if (((DcdExtent *)v)->pool == p) {
            return true;
        }
    }
    return false;
}

DcdGroup *dcd_host_group(const DcdHost *h, uint64_t id)
{
    return g_hash_table_lookup(h->groups, &id);
}

DcdGroup *dcd_host_new_group(DcdHost *h)
{
    DcdGroup *g = g_new0(DcdGroup, 1);

    g->id = ++h->next_group;
    g->extents = g_ptr_array_new();
    g->waiters = g_array_new(FALSE, FALSE, sizeof(DcdGroupWaiter));
    g_hash_table_insert(h->groups, &g->id, g);
    return g;
}

void dcd_host_close_group(DcdHost *h, DcdGroup *g)
{
    uint64_t id = g->id;

    /* Waiters see the final states; extents ended here stay in history. */
    for (guint i = 0; i < g->waiters->len; i++) {
        DcdGroupWaiter *w = &g_array_index(g->waiters, DcdGroupWaiter, i);

        w->fn(h, id, g->extents, w->opaque);
    }
    g_hash_table_remove(h->groups, &id);
    dcd_host_trim_history(h);
}

void dcd_extent_to_wire(const DcdExtent *e, struct dcd_extent *w)
{
    memset(w, 0, sizeof(*w));
    w->dpa = e->dpa;
    w->len = e->len;
    memcpy(w->tag, e->tag.b, sizeof(w->tag));
    w->shared_seq = e->seq;
    w->region = e->region;
    w->pool_offset = e->pool ?
                     dcd_pool_segment(e->pool, e->seq)->fd_offset : 0;
}
