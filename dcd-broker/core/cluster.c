/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cluster.c - the other nodes, as their records say.
 */
#include <string.h>

#include "dcd/json.h"
#include "core/cluster.h"

static void remote_host_free(gpointer p)
{
    DcdRemoteHost *r = p;

    g_free(r->node);
    g_free(r);
}

static void remote_extent_free(gpointer p)
{
    DcdRemoteExtent *r = p;

    g_free(r->node);
    g_free(r);
}

void dcd_cluster_init(DcdCluster *c)
{
    c->nodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     g_free);
    c->hosts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     remote_host_free);
    c->extents = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       remote_extent_free);
}

void dcd_cluster_fini(DcdCluster *c)
{
    g_clear_pointer(&c->nodes, g_hash_table_unref);
    g_clear_pointer(&c->hosts, g_hash_table_unref);
    g_clear_pointer(&c->extents, g_hash_table_unref);
}

void dcd_cluster_node(DcdCluster *c, const char *node, const char *json)
{
    if (json) {
        g_hash_table_replace(c->nodes, g_strdup(node), g_strdup(json));
    } else {
        g_hash_table_remove(c->nodes, node);
    }
}

void dcd_cluster_record(DcdCluster *c, const char *node, const char *key,
                        const char *json)
{
    g_autofree char *where = g_strdup_printf("%s/%s", node, key);
    g_autoptr(JsonObject) o = json ? dcd_record_parse(json) : NULL;
    g_autoptr(GError) err = NULL;
    GHashTable *table;

    if (g_str_has_prefix(key, "host:")) {
        table = c->hosts;
    } else if (g_str_has_prefix(key, "extent:")) {
        table = c->extents;
    } else {
        return;   /* its meta and node-local pools are its own business */
    }
    if (!json) {
        g_hash_table_remove(table, where);
        return;
    }
    if (table == c->hosts) {
        DcdRemoteHost *r = g_new0(DcdRemoteHost, 1);

        if (!o || !dcd_record_decode_host(o, &r->h, &err)) {
            g_warning("node %s: ignoring %s: %s", node, key,
                      err ? err->message : "not an object");
            g_free(r);
            g_hash_table_remove(table, where);
            return;
        }
        r->node = g_strdup(node);
        g_hash_table_replace(table, g_steal_pointer(&where), r);
    } else {
        DcdRemoteExtent *r = g_new0(DcdRemoteExtent, 1);

        if (!o || !dcd_record_decode_extent(o, &r->e)) {
            g_warning("node %s: ignoring %s, which does not read", node,
                      key);
            g_free(r);
            g_hash_table_remove(table, where);
            return;
        }
        r->node = g_strdup(node);
        g_hash_table_replace(table, g_steal_pointer(&where), r);
    }
}

const char *dcd_cluster_host_node(const DcdCluster *c, uint16_t id)
{
    GHashTableIter it;
    gpointer val;

    g_hash_table_iter_init(&it, c->hosts);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        DcdRemoteHost *r = val;

        if (r->h.id == id) {
            return r->node;
        }
    }
    return NULL;
}

void dcd_cluster_holders(const DcdCluster *c, const DcdTag *tag,
                         GArray *ids, unsigned *extents)
{
    GHashTableIter it;
    gpointer val;

    *extents = 0;
    g_hash_table_iter_init(&it, c->extents);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        DcdRemoteExtent *r = val;
        bool seen = false;

        if (!dcd_tag_equal(&r->e.tag, tag)) {
            continue;
        }
        (*extents)++;
        for (guint i = 0; i < ids->len && !seen; i++) {
            seen = g_array_index(ids, uint16_t, i) == r->e.host_id;
        }
        if (!seen) {
            g_array_append_val(ids, r->e.host_id);
        }
    }
}

static gint by_name(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *dcd_cluster_node_names(const DcdCluster *c)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, c->nodes);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_ptr_array_add(names, g_strdup(key));
    }
    g_ptr_array_sort(names, by_name);
    return names;
}
