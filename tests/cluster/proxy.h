/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy.h - a TCP relay in front of etcd that can keep etcd's answers
 * back while letting requests through: a request that etcd applied but
 * whose answer never came (the unknown outcome of a timed-out txn).
 *
 * Owns: a listening loopback port, each relayed connection and the two
 * threads that pump it, and the hold switch.
 */
#ifndef DCD_TEST_PROXY_H
#define DCD_TEST_PROXY_H

#include <stdbool.h>
#include <glib.h>

typedef struct TProxy TProxy;

/* Relay 127.0.0.1:<port()> to 127.0.0.1:target_port. */
TProxy *tproxy_new(unsigned target_port);
unsigned tproxy_port(const TProxy *p);
/* While held, answers are dropped; requests still reach etcd. */
void tproxy_hold(TProxy *p, bool hold);
/* Close every connection and stop. */
void tproxy_free(TProxy *p);

#endif
