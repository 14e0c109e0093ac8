/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scrape.c - a broker's --metrics read as Prometheus would (the broker
 * and cluster suites).
 */
#include <string.h>

#include "scrape.h"

/* The URL from the broker's ready line ("... metrics URL"). */
char *tmetrics_url(TBroker *b)
{
    const char *m = strstr(b->ready, " metrics http://");

    g_assert_nonnull(m);
    m += strlen(" metrics ");
    return g_strndup(m, strcspn(m, " "));
}

/* One request; returns the status, the body and its type if asked. */
guint tmetrics_request(SoupSession *s, const char *method,
                       const char *url, char **body, char **type,
                       char **allow)
{
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) bytes = NULL;
    SoupMessageHeaders *hdr;

    g_assert_nonnull(msg);
    bytes = soup_session_send_and_read(s, msg, NULL, &err);
    g_assert_no_error(err);
    hdr = soup_message_get_response_headers(msg);
    if (body) {
        *body = g_strndup(g_bytes_get_data(bytes, NULL),
                          g_bytes_get_size(bytes));
    }
    if (type) {
        *type = g_strdup(soup_message_headers_get_one(hdr, "Content-Type"));
    }
    if (allow) {
        *allow = g_strdup(soup_message_headers_get_one(hdr, "Allow"));
    }
    return soup_message_get_status(msg);
}

/*
 * Every sample belongs to a family announced by HELP and TYPE before it,
 * and its value is a number.
 */
static void check_format(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autoptr(GHashTable) helped = g_hash_table_new_full(g_str_hash,
                                                         g_str_equal, g_free,
                                                         NULL);
    g_autoptr(GHashTable) typed = g_hash_table_new_full(g_str_hash,
                                                        g_str_equal, g_free,
                                                        g_free);

    g_assert_true(g_str_has_suffix(text, "\n"));
    for (char **l = lines; *l; l++) {
        g_autofree char *name = NULL;
        const char *type, *sp;
        char *end;

        if (!**l) {
            continue;
        }
        if (g_str_has_prefix(*l, "# HELP ")) {
            g_hash_table_add(helped, g_strndup(*l + 7, strcspn(*l + 7, " ")));
            continue;
        }
        if (g_str_has_prefix(*l, "# TYPE ")) {
            g_auto(GStrv) w = g_strsplit(*l + 7, " ", 2);

            g_assert_true(g_hash_table_contains(helped, w[0]));
            g_assert_true(g_str_has_prefix(w[0], "dcd_"));
            g_hash_table_insert(typed, g_strdup(w[0]), g_strdup(w[1]));
            continue;
        }
        g_assert_false(g_str_has_prefix(*l, "#"));
        name = g_strndup(*l, strcspn(*l, "{ "));
        type = g_hash_table_lookup(typed, name);
        if (!type) {
            /* A histogram's series: name_bucket, name_sum, name_count. */
            char *u = strrchr(name, '_');

            g_assert_nonnull(u);
            *u = '\0';
            type = g_hash_table_lookup(typed, name);
            g_assert_cmpstr(type, ==, "histogram");
        } else if (g_str_equal(type, "counter")) {
            g_assert_true(g_str_has_suffix(name, "_total"));
        }
        g_assert_nonnull(type);
        sp = strrchr(*l, ' ');
        g_assert_nonnull(sp);
        g_ascii_strtod(sp + 1, &end);
        g_assert_true(end != sp + 1 && *end == '\0');
    }
}

/* The value of one series ("dcd_pools", "dcd_extents{state=\"accepted\"}"). */
bool tmetrics_find(const char *text, const char *series, double *v)
{
    g_autofree char *key = g_strconcat("\n", series, " ", NULL);
    const char *at = strstr(text, key);

    if (!at) {
        return false;
    }
    *v = g_ascii_strtod(at + strlen(key), NULL);
    return true;
}

double tmetrics_value(const char *text, const char *series)
{
    double v;

    if (!tmetrics_find(text, series, &v)) {
        g_error("no %s in:\n%s", series, text);
    }
    return v;
}

/* Scrape; the text passes check_format(). */
char *tmetrics_scrape(SoupSession *s, const char *url)
{
    g_autofree char *type = NULL;
    char *text = NULL;

    g_assert_cmpuint(tmetrics_request(s, "GET", url, &text, &type, NULL), ==,
                     200);
    g_assert_nonnull(type);
    g_assert_true(g_str_has_prefix(type, "text/plain"));
    g_assert_nonnull(strstr(type, "version=0.0.4"));
    check_format(text);
    return text;
}
