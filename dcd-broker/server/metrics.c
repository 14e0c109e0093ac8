/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics.c - Prometheus text at GET /metrics, from a SoupServer on the
 * main loop.  Each scrape reads the core once and writes the text whole;
 * nothing is kept between scrapes.
 */
#include <string.h>
#include <libsoup/soup.h>

#include "dcd/types.h"
#include "server/metrics.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct DcdMetrics {
    DcdBroker *b;
    SoupServer *server;
    char *url;
};

/* ---- the address ------------------------------------------------------ */

/* *inet NULL: localhost, both loopbacks. */
static bool parse_addr(const char *addr, GInetAddress **inet, guint *port,
                       GError **errp)
{
    g_autofree char *host = NULL;
    const char *colon;
    guint64 p;

    *inet = NULL;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');

        colon = end && end[1] == ':' ? end + 1 : NULL;
        host = end ? g_strndup(addr + 1, end - addr - 1) : NULL;
    } else {
        colon = strrchr(addr, ':');
        host = colon ? g_strndup(addr, colon - addr) : NULL;
    }
    if (!colon || !host || !*host ||
        !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &p, NULL)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--metrics '%s': expected"
                    " HOST:PORT (127.0.0.1:9464, [::1]:9464,"
                    " localhost:9464)", addr);
        return false;
    }
    *port = p;
    if (addr[0] != '[' && g_str_equal(host, "localhost")) {
        return true;
    }
    *inet = g_inet_address_new_from_string(host);
    /* A bare IPv6 literal would make the port ambiguous. */
    if (!*inet || (addr[0] == '[') !=
        (g_inet_address_get_family(*inet) == G_SOCKET_FAMILY_IPV6)) {
        g_clear_object(inet);
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "--metrics '%s': the"
                    " host must be an IPv4 address, an IPv6 address in"
                    " brackets, or localhost (no names are looked up)",
                    addr);
        return false;
    }
    return true;
}

bool dcd_metrics_check_addr(const char *addr, GError **errp)
{
    g_autoptr(GInetAddress) inet = NULL;
    guint port;

    return parse_addr(addr, &inet, &port, errp);
}

/* ---- the text --------------------------------------------------------- */

static void family(GString *t, const char *name, const char *type,
                   const char *help)
{
    g_string_append_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                           name, type);
}

static void gauge(GString *t, const char *name, const char *help,
                  uint64_t v)
{
    family(t, name, "gauge", help);
    g_string_append_printf(t, "%s %" G_GUINT64_FORMAT "\n", name, v);
}

static void histogram(GString *t, const char *name, const char *help,
                      const DcdLatency *l)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE];
    uint64_t below = 0;

    family(t, name, "histogram", help);
    for (unsigned i = 0; i < DCD_LATENCY_BOUNDS; i++) {
        below += l->buckets[i];
        g_string_append_printf(t, "%s_bucket{le=\"%s\"} %" G_GUINT64_FORMAT
                               "\n", name, g_ascii_formatd(num, sizeof(num),
                               "%g", dcd_latency_bounds[i]), below);
    }
    g_string_append_printf(t, "%s_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT
                           "\n", name, l->count);
    g_string_append_printf(t, "%s_sum %s\n", name,
                           g_ascii_formatd(num, sizeof(num), "%.9g",
                                           l->sum_s));
    g_string_append_printf(t, "%s_count %" G_GUINT64_FORMAT "\n", name,
                           l->count);
}

char *dcd_metrics_text(const DcdBrokerMetrics *m)
{
    static const DcdExtentState live[] = {
        DCD_EXTENT_PENDING, DCD_EXTENT_ACCEPTED, DCD_EXTENT_RELEASING,
        DCD_EXTENT_REVOKING,
    };
    GString *t = g_string_new(NULL);

    family(t, "dcd_build_info", "gauge", "The broker's version (always 1).");
    g_string_append_printf(t, "dcd_build_info{version=\"%s\"} 1\n",
                           PACKAGE_VERSION);
    gauge(t, "dcd_pools", "Pools.", m->stats.pools);
    gauge(t, "dcd_pool_bytes", "The pools' sizes, summed, in bytes.",
          m->pool_bytes);
    if (m->device) {
        family(t, "dcd_device_bytes", "gauge",
               "The shared device's bytes, free or in pools.");
        g_string_append_printf(t, "dcd_device_bytes{state=\"free\"} %"
                               G_GUINT64_FORMAT "\n", m->device_free);
        g_string_append_printf(t, "dcd_device_bytes{state=\"used\"} %"
                               G_GUINT64_FORMAT "\n", m->device_used);
    }
    family(t, "dcd_extents", "gauge", "Live extents, by state.");
    for (unsigned i = 0; i < G_N_ELEMENTS(live); i++) {
        g_string_append_printf(t, "dcd_extents{state=\"%s\"} %u\n",
                               dcd_extent_state_name(live[i]),
                               m->extents[live[i]]);
    }
    gauge(t, "dcd_hosts", "Hosts the broker knows, connected or not.",
          m->stats.hosts);
    gauge(t, "dcd_hosts_connected", "Hosts connected now.",
          m->stats.hosts_connected);
    histogram(t, "dcd_add_latency_seconds", "From an extent add to the"
              " host's answer (accepted or rejected).", &m->add_latency);
    histogram(t, "dcd_release_latency_seconds", "From an extent release to"
              " the host's RELEASED of its last extent.",
              &m->release_latency);
    if (m->store) {
        family(t, "dcd_store_requests_total", "counter", "Journal writes,"
               " or round trips to etcd, made to save the state.");
        g_string_append_printf(t, "dcd_store_requests_total{backend=\"%s\"} %"
                               G_GUINT64_FORMAT "\n", m->store,
                               m->store_requests);
        family(t, "dcd_store_errors_total", "counter",
               "Of those, the ones that failed.");
        g_string_append_printf(t, "dcd_store_errors_total{backend=\"%s\"} %"
                               G_GUINT64_FORMAT "\n", m->store,
                               m->store_errors);
        gauge(t, "dcd_store_available", "1 if changes can be saved now;"
              " 0: they fail with unavail.", m->store_available);
    }
    return g_string_free(t, FALSE);
}

/* ---- HTTP ------------------------------------------------------------- */

static void on_request(SoupServer *server, SoupServerMessage *msg,
                       const char *path, GHashTable *query, gpointer opaque)
{
    DcdMetrics *m = opaque;
    const char *method = soup_server_message_get_method(msg);
    DcdBrokerMetrics bm;
    char *text;

    if (!g_str_equal(path, "/metrics")) {
        soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
        return;
    }
    if (strcmp(method, SOUP_METHOD_GET) && strcmp(method, SOUP_METHOD_HEAD)) {
        soup_message_headers_replace(
            soup_server_message_get_response_headers(msg), "Allow",
            "GET, HEAD");
        soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
                                       NULL);
        return;
    }
    dcd_broker_metrics(m->b, &bm);
    text = dcd_metrics_text(&bm);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, CONTENT_TYPE, SOUP_MEMORY_TAKE,
                                     text, strlen(text));
}

DcdMetrics *dcd_metrics_new(DcdBroker *b, const char *addr, GError **errp)
{
    g_autoptr(GInetAddress) inet = NULL;
    g_autoptr(GError) err = NULL;
    DcdMetrics *m;
    GSList *uris;
    guint port;
    bool ok;

    if (!parse_addr(addr, &inet, &port, errp)) {
        return NULL;
    }
    m = g_new0(DcdMetrics, 1);
    m->b = b;
    m->server = soup_server_new("server-header", "dcd-broker ", NULL);
    soup_server_add_handler(m->server, NULL, on_request, m, NULL);
    if (inet) {
        g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(inet, port);

        ok = soup_server_listen(m->server, sa, 0, &err);
    } else {
        ok = soup_server_listen_local(m->server, port, 0, &err);
    }
    if (!ok) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "--metrics %s: %s", addr,
                    err->message);
        dcd_metrics_free(m);
        return NULL;
    }
    /* The first listener; with port 0, the port it got. */
    uris = soup_server_get_uris(m->server);
    if (uris) {
        g_autofree char *base = g_uri_to_string(uris->data);

        m->url = g_strconcat(base, g_str_has_suffix(base, "/") ? "" : "/",
                             "metrics", NULL);
    }
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    if (!m->url) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "--metrics %s: listening"
                    " on nothing", addr);
        dcd_metrics_free(m);
        return NULL;
    }
    return m;
}

void dcd_metrics_free(DcdMetrics *m)
{
    if (!m) {
        return;
    }
    soup_server_disconnect(m->server);
    g_object_unref(m->server);
    g_free(m->url);
    g_free(m);
}

const char *dcd_metrics_url(const DcdMetrics *m)
{
    return m->url;
}
