/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcdstore.h - the store in etcd (docs/cluster.md): the broker's state
 * outlives its server, and brokers on several servers can share it.
 *
 * Owns: the key schema under DCD_ETCD_PREFIX: PREFIX "node/<name>" bound
 * to this broker's lease; PREFIX "state/<name>/<record key>" for the
 * records only that node changes; PREFIX "shared/<record key>" for the
 * shared device's (devpool:<tag>, device), which any node changes.  Also
 * the revision of every record key of ours or shared that this broker
 * last read, wrote or was told of, the lease and its keepalive timer,
 * whether this broker may write at all, and the watch that tells it what
 * other brokers change.  Every commit is one etcd transaction whose compares are: each
 * touched key at the revision this broker knows (0: absent), and the
 * node key still bound to this broker's lease (a broker that lost its
 * lease changes nothing, even late).  While etcd cannot be reached or the
 * lease may have run out, commits fail at once with DCD_ERR_UNAVAIL; the
 * keepalive timer finds out when it may write again.
 */
#ifndef DCD_ETCDSTORE_H
#define DCD_ETCDSTORE_H

#include <json-glib/json-glib.h>

#include "core/store.h"

#define DCD_ETCD_PREFIX "/dcd/v1/"
#define DCD_ETCD_NODES DCD_ETCD_PREFIX "node/"
#define DCD_ETCD_DEFAULT_TTL_S 10
#define DCD_ETCD_DEFAULT_TIMEOUT_MS 2000

/*
 * Connects, takes the node's name (waiting up to the lease's TTL for an
 * earlier holder's lease to run out; DCD_ERR_BUSY if it does not) and
 * keeps its lease alive on the main loop.  Brokers of other names share
 * the store.
 */
DcdStore *dcd_etcd_store_open(const DcdStoreConfig *cfg, GError **errp);

/*
 * The records of a range answer under DCD_ETCD_PREFIX, as node loads
 * them: record key -> JSON text; *dropped counts what could not be read.
 * For the fuzz target (fuzz-etcd).
 */
GHashTable *dcd_etcd_store_records(JsonObject *range, const char *node,
                                   unsigned *dropped);

#endif
