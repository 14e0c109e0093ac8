/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cluster.h - what this broker knows of the other brokers sharing its
 * store (docs/cluster.md): their nodes, and their hosts and extents.
 *
 * Owns: the other nodes' liveness records and their host and extent
 * records as the store reports them (read like any peer input, kept
 * decoded).  Only their own brokers change them; this one reads them to
 * list the whole cluster, to refuse a host-id another node has, and to
 * count who holds a shared pool.  Knows nothing of the store or etcd.
 */
#ifndef DCD_CLUSTER_H
#define DCD_CLUSTER_H

#include <stdbool.h>
#include <glib.h>

#include "core/record.h"

typedef struct DcdRemoteHost {
    char *node;
    DcdSavedHost h;
} DcdRemoteHost;

typedef struct DcdRemoteExtent {
    char *node;
    DcdSavedExtent e;
} DcdRemoteExtent;

typedef struct DcdCluster {
    GHashTable *nodes;       /* name -> liveness JSON text */
    GHashTable *hosts;       /* "node/host:<id>" -> DcdRemoteHost */
    GHashTable *extents;     /* "node/extent:<id>:<dpa>" -> DcdRemoteExtent */
} DcdCluster;

void dcd_cluster_init(DcdCluster *c);
void dcd_cluster_fini(DcdCluster *c);

/* A node's liveness record changed (json NULL: its lease is gone). */
void dcd_cluster_node(DcdCluster *c, const char *node, const char *json);
/*
 * A record of another node changed (json NULL: deleted).  Records that
 * are no host or extent, or do not read, are left out (with a warning).
 */
void dcd_cluster_record(DcdCluster *c, const char *node, const char *key,
                        const char *json);

/* The other node that has host id, or NULL. */
const char *dcd_cluster_host_node(const DcdCluster *c, uint16_t id);
/* Other nodes' hosts holding live extents of tag (uint16_t host-ids). */
void dcd_cluster_holders(const DcdCluster *c, const DcdTag *tag,
                         GArray *ids, unsigned *extents);
/* Sorted names of the nodes with a live broker. */
GPtrArray *dcd_cluster_node_names(const DcdCluster *c);

#endif
