/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scrape.h - reading a broker's --metrics in tests: the URL from its
 * ready line, requests with libsoup, the text's form and its values.
 */
#ifndef DCD_TEST_SCRAPE_H
#define DCD_TEST_SCRAPE_H

#include <libsoup/soup.h>

#include "harness.h"

/* The URL from the broker's ready line ("... metrics URL"). */
char *tmetrics_url(TBroker *b);
/* One request; returns the status, and the body, its type, Allow if asked. */
guint tmetrics_request(SoupSession *s, const char *method,
                       const char *url, char **body, char **type,
                       char **allow);
/*
 * GET url, which must answer 200 with text/plain; version=0.0.4 in which
 * every sample's family has HELP and TYPE before it; returns the text.
 */
char *tmetrics_scrape(SoupSession *s, const char *url);
/* The value of one series ("dcd_pools", "dcd_extents{state=\"accepted\"}"). */
bool tmetrics_find(const char *text, const char *series, double *v);
/* The same, which must be there. */
double tmetrics_value(const char *text, const char *series);

#endif
