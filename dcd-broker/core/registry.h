/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * registry.h - tag -> pool and host-id -> host.
 *
 * Owns: two RCU lock-free hash tables.  The main loop is the only writer;
 * readers (listings, lookups) may run on any registered RCU thread inside
 * rcu_read_lock().  Removed entries are freed after a grace period.
 */
#ifndef DCD_REGISTRY_H
#define DCD_REGISTRY_H

#include "core/host.h"
#include "core/pool.h"

typedef struct DcdRegistry {
    struct cds_lfht *pools;
    struct cds_lfht *hosts;
    unsigned npools;     /* lfht can only count by walking */
} DcdRegistry;

void dcd_registry_init(DcdRegistry *r);
/* Frees every pool and host (no reader may be left). */
void dcd_registry_fini(DcdRegistry *r);

DcdPool *dcd_registry_pool(DcdRegistry *r, const DcdTag *tag);
bool dcd_registry_add_pool(DcdRegistry *r, DcdPool *p);
void dcd_registry_del_pool(DcdRegistry *r, DcdPool *p);

DcdHost *dcd_registry_host(DcdRegistry *r, uint16_t id);
bool dcd_registry_add_host(DcdRegistry *r, DcdHost *h);

/* Snapshots sorted by tag / host-id (borrowed pointers). */
GPtrArray *dcd_registry_pools(DcdRegistry *r);
GPtrArray *dcd_registry_hosts(DcdRegistry *r);

#endif
