/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics.h - the metrics endpoint (--metrics ADDR): Prometheus text over
 * HTTP, read-only and unauthenticated (docs/metrics.md).
 *
 * Owns: the address's syntax, the HTTP server (libsoup's SoupServer on
 * the main loop) and the text of every metric.  What it exports comes
 * from the core in one call (dcd_broker_metrics()); the core knows
 * nothing of HTTP.
 */
#ifndef DCD_METRICS_H
#define DCD_METRICS_H

#include "core/broker.h"

typedef struct DcdMetrics DcdMetrics;

/*
 * Check addr: HOST:PORT, HOST an IPv4 literal, an IPv6 literal in
 * brackets, or localhost (127.0.0.1 and ::1); PORT 0 to 65535 (0: any
 * free port, dcd_metrics_url() says which).
 */
bool dcd_metrics_check_addr(const char *addr, GError **errp);

/* Listen on addr and serve b's metrics on the main loop. */
DcdMetrics *dcd_metrics_new(DcdBroker *b, const char *addr, GError **errp);
void dcd_metrics_free(DcdMetrics *m);

/* Where they are served: "http://127.0.0.1:9464/metrics". */
const char *dcd_metrics_url(const DcdMetrics *m);

/* The text served at /metrics (exposition format 0.0.4). */
char *dcd_metrics_text(const DcdBrokerMetrics *bm);

#endif
