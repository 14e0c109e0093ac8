/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * forward.h - commands other brokers of the cluster send for hosts of
 * this node (docs/cluster.md, Commands across nodes).
 *
 * Owns: the requests in progress here: each runs on a control connection
 * of its own (a socket pair), exactly as a local dcdctl's would, and its
 * reply goes back to the sender as a message through the store.  The
 * sending side is ctl.c's: a client whose command names another node's
 * host waits for that reply.
 */
#ifndef DCD_FORWARD_H
#define DCD_FORWARD_H

#include "core/broker.h"
#include "server/ctl.h"

/* At most this many requests of other brokers run here at once. */
#define DCD_FORWARD_MAX 64

/* Commands that may be carried out for another broker. */
bool dcd_forward_allowed(const char *command);

typedef struct DcdForward DcdForward;

DcdForward *dcd_forward_new(DcdBroker *b, DcdCtl *ctl);
void dcd_forward_free(DcdForward *f);
/*
 * Request "req-<id>" from node from (json: {"command", "arguments"}):
 * run it here; the reply goes to from as "rep-<id>".
 */
void dcd_forward_serve(DcdForward *f, const char *from, const char *name,
                       const char *json);

#endif
