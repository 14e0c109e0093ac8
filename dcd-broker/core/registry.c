/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * registry.c - liburcu lfht tables.  Tags are caller-chosen UUIDs, so hash
 * all 16 bytes rather than trust them to be random.
 */
#include <stddef.h>
#include <string.h>

#include "core/registry.h"

static unsigned long tag_hash(const DcdTag *t)
{
    uint64_t h = 1469598103934665603ull;  /* FNV-1a */

    for (unsigned i = 0; i < sizeof(t->b); i++) {
        h = (h ^ t->b[i]) * 1099511628211ull;
    }
    return h;
}

static unsigned long host_hash(uint16_t id)
{
    return (id + 1) * 0x9e3779b97f4a7c15ull;
}

static int pool_match(struct cds_lfht_node *node, const void *key)
{
    return dcd_tag_equal(&caa_container_of(node, DcdPool, node)->tag, key);
}

static int host_match(struct cds_lfht_node *node, const void *key)
{
    return caa_container_of(node, DcdHost, node)->id == *(const uint16_t *)key;
}

void dcd_registry_init(DcdRegistry *r)
{
    r->pools = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE, NULL);
    r->hosts = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE, NULL);
}

/*
 * Empty ht, freeing each entry.  The iterator moves on before its node is
 * freed, and no container_of is taken of the NULL that ends the walk
 * (cds_lfht_for_each_entry does both).
 */
static void drain(struct cds_lfht *ht, size_t node_offset,
                  void (*free_fn)(void *))
{
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;

    cds_lfht_first(ht, &it);
    while ((n = cds_lfht_iter_get_node(&it))) {
        cds_lfht_next(ht, &it);
        cds_lfht_del(ht, n);
        free_fn((char *)n - node_offset);
    }
}

static void free_host(void *h)
{
    dcd_host_free(h);
}

static void free_pool(void *p)
{
    dcd_pool_free(p);
}

void dcd_registry_fini(DcdRegistry *r)
{
    synchronize_rcu();
    /* Extents hold pools; drop the hosts before the pools. */
    drain(r->hosts, offsetof(DcdHost, node), free_host);
    drain(r->pools, offsetof(DcdPool, node), free_pool);
    cds_lfht_destroy(r->pools, NULL);
    cds_lfht_destroy(r->hosts, NULL);
}

DcdPool *dcd_registry_pool(DcdRegistry *r, const DcdTag *tag)
{
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;

    rcu_read_lock();
    cds_lfht_lookup(r->pools, tag_hash(tag), pool_match, tag, &it);
    n = cds_lfht_iter_get_node(&it);
    rcu_read_unlock();
    return n ? caa_container_of(n, DcdPool, node) : NULL;
}

bool dcd_registry_add_pool(DcdRegistry *r, DcdPool *p)
{
    struct cds_lfht_node *n;

    rcu_read_lock();
    n = cds_lfht_add_unique(r->pools, tag_hash(&p->tag), pool_match, &p->tag,
                            &p->node);
    rcu_read_unlock();
    r->npools += n == &p->node;
    return n == &p->node;
}

static void pool_free_rcu(struct rcu_head *head)
{
    dcd_pool_free(caa_container_of(head, DcdPool, rcu));
}

void dcd_registry_del_pool(DcdRegistry *r, DcdPool *p)
{
    rcu_read_lock();
    cds_lfht_del(r->pools, &p->node);
    rcu_read_unlock();
    r->npools--;
    p->dead = true;
    call_rcu(&p->rcu, pool_free_rcu);
}

DcdHost *dcd_registry_host(DcdRegistry *r, uint16_t id)
{
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;

    rcu_read_lock();
    cds_lfht_lookup(r->hosts, host_hash(id), host_match, &id, &it);
    n = cds_lfht_iter_get_node(&it);
    rcu_read_unlock();
    return n ? caa_container_of(n, DcdHost, node) : NULL;
}

bool dcd_registry_add_host(DcdRegistry *r, DcdHost *h)
{
    struct cds_lfht_node *n;

    rcu_read_lock();
    n = cds_lfht_add_unique(r->hosts, host_hash(h->id), host_match, &h->id,
                            &h->node);
    rcu_read_unlock();
    return n == &h->node;
}

static gint pool_cmp(gconstpointer a, gconstpointer b)
{
    const DcdPool *x = *(DcdPool * const *)a, *y = *(DcdPool * const *)b;

    return memcmp(x->tag.b, y->tag.b, sizeof(x->tag.b));
}

static gint host_cmp(gconstpointer a, gconstpointer b)
{
    const DcdHost *x = *(DcdHost * const *)a, *y = *(DcdHost * const *)b;

    return (int)x->id - (int)y->id;
}

/* Every entry of ht, as the structs that embed the nodes, sorted. */
static GPtrArray *snapshot(struct cds_lfht *ht, size_t node_offset,
                           GCompareFunc cmp)
{
    GPtrArray *out = g_ptr_array_new();
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;

    rcu_read_lock();
    cds_lfht_for_each(ht, &it, n) {
        g_ptr_array_add(out, (char *)n - node_offset);
    }
    rcu_read_unlock();
    g_ptr_array_sort(out, cmp);
    return out;
}

GPtrArray *dcd_registry_pools(DcdRegistry *r)
{
    return snapshot(r->pools, offsetof(DcdPool, node), pool_cmp);
}

GPtrArray *dcd_registry_hosts(DcdRegistry *r)
{
    return snapshot(r->hosts, offsetof(DcdHost, node), host_cmp);
}
