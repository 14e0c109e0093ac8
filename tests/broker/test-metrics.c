/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * --metrics: a real broker serves Prometheus text at /metrics, scraped
 * here with libsoup, and the values follow what it does (a pool, a
 * host, an extent added and released); every sample's family has HELP
 * and TYPE; other paths are 404, other methods 405; a bad address stops
 * the start with a usage error, a port in use with an error.
 */
#include <stdlib.h>
#include <string.h>
#include <libsoup/soup.h>

#include "harness.h"

/* The URL from the broker's ready line ("... metrics URL"). */
static char *metrics_url(TBroker *b)
{
    const char *m = strstr(b->ready, " metrics http://");

    g_assert_nonnull(m);
    m += strlen(" metrics ");
    return g_strndup(m, strcspn(m, " "));
}

/* One request; returns the status, the body and its type if asked. */
static guint request(SoupSession *s, const char *method, const char *url,
                     char **body, char **type, char **allow)
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
static bool find(const char *text, const char *series, double *v)
{
    g_autofree char *key = g_strconcat("\n", series, " ", NULL);
    const char *at = strstr(text, key);

    if (!at) {
        return false;
    }
    *v = g_ascii_strtod(at + strlen(key), NULL);
    return true;
}

static double value(const char *text, const char *series)
{
    double v;

    if (!find(text, series, &v)) {
        g_error("no %s in:\n%s", series, text);
    }
    return v;
}

/* Scrape; the text passes check_format(). */
static char *scrape(SoupSession *s, const char *url)
{
    g_autofree char *type = NULL;
    char *text = NULL;

    g_assert_cmpuint(request(s, "GET", url, &text, &type, NULL), ==, 200);
    g_assert_nonnull(type);
    g_assert_true(g_str_has_prefix(type, "text/plain"));
    g_assert_nonnull(strstr(type, "version=0.0.4"));
    check_format(text);
    return text;
}

#define ACCEPTED "dcd_extents{state=\"accepted\"}"
#define PENDING "dcd_extents{state=\"pending\"}"
#define RELEASING "dcd_extents{state=\"releasing\"}"
#define REVOKING "dcd_extents{state=\"revoking\"}"
#define REQUESTS "dcd_store_requests_total{backend=\"journal\"}"

static void test_scrape(void)
{
    TBroker *b = tbroker_start(NULL, "--metrics=127.0.0.1:0", NULL);
    g_autoptr(SoupSession) s = soup_session_new();
    g_autofree char *url = metrics_url(b);
    g_autofree char *t = NULL, *tag = NULL;
    g_autoptr(JsonNode) added = NULL;
    g_autoptr(JsonNode) released = NULL;
    g_autofree char *build = g_strdup_printf("dcd_build_info{version=\"%s\"}",
                                             PACKAGE_VERSION);
    JsonArray *ext;
    double saved, v;
    gint64 deadline;
    THost *h;

    g_assert_true(g_str_has_prefix(url, "http://127.0.0.1:"));
    g_assert_false(g_str_has_prefix(url, "http://127.0.0.1:0/"));
    t = scrape(s, url);
    g_assert_cmpfloat(value(t, build), ==, 1);
    g_assert_cmpfloat(value(t, "dcd_pools"), ==, 0);
    g_assert_cmpfloat(value(t, "dcd_pool_bytes"), ==, 0);
    g_assert_cmpfloat(value(t, "dcd_hosts_connected"), ==, 0);
    g_assert_cmpfloat(value(t, ACCEPTED), ==, 0);
    g_assert_cmpfloat(value(t, "dcd_add_latency_seconds_count"), ==, 0);
    g_assert_cmpfloat(value(t, "dcd_store_errors_total{backend=\"journal\"}"),
                      ==, 0);
    g_assert_cmpfloat(value(t, "dcd_store_available"), ==, 1);
    /* No shared device: no numbers made up for one. */
    g_assert_null(strstr(t, "dcd_device_bytes"));
    saved = value(t, REQUESTS);

    h = thost_start(b, 0, NULL);
    g_free(thost_ok(h, "wait-connected 5000"));
    tag = tpool(b, "{\"size\": 4194304}");
    g_clear_pointer(&t, g_free);
    t = scrape(s, url);
    g_assert_cmpfloat(value(t, "dcd_pools"), ==, 1);
    g_assert_cmpfloat(value(t, "dcd_pool_bytes"), ==, 4194304);
    g_assert_cmpfloat(value(t, "dcd_hosts"), ==, 1);
    g_assert_cmpfloat(value(t, "dcd_hosts_connected"), ==, 1);
    /* The host's record and the pool's were written. */
    g_assert_cmpfloat(value(t, REQUESTS), >=, saved + 2);
    saved = value(t, REQUESTS);

    added = tcall(b, "extent-add", "{\"host-id\": 0, \"tag\": \"%s\","
                  " \"wait\": true}", tag);
    ext = json_object_get_array_member(json_node_get_object(added),
                                       "extents");
    g_assert_cmpuint(json_array_get_length(ext), >=, 1);
    g_assert_cmpstr(json_object_get_string_member(
        json_array_get_object_element(ext, 0), "state"), ==, "accepted");
    g_clear_pointer(&t, g_free);
    t = scrape(s, url);
    g_assert_cmpfloat(value(t, ACCEPTED), ==, json_array_get_length(ext));
    g_assert_cmpfloat(value(t, PENDING), ==, 0);
    g_assert_cmpfloat(value(t, "dcd_add_latency_seconds_count"), ==, 1);
    g_assert_cmpfloat(value(t, "dcd_add_latency_seconds_bucket{le=\"+Inf\"}"),
                      ==, 1);
    g_assert_cmpfloat(value(t, "dcd_add_latency_seconds_sum"), >=, 0);
    g_assert_cmpfloat(value(t, "dcd_release_latency_seconds_count"), ==, 0);
    /* Offered, then accepted: each saved before anyone heard of it. */
    g_assert_cmpfloat(value(t, REQUESTS), >=, saved + 2);

    released = tcall(b, "extent-release", "{\"host-id\": 0, \"tag\": \"%s\","
                     " \"wait\": true}", tag);
    g_clear_pointer(&t, g_free);
    t = scrape(s, url);
    g_assert_cmpfloat(value(t, ACCEPTED), ==, 0);
    g_assert_cmpfloat(value(t, RELEASING), ==, 0);
    g_assert_cmpfloat(value(t, REVOKING), ==, 0);
    g_assert_cmpfloat(value(t, "dcd_release_latency_seconds_count"), ==, 1);
    g_assert_cmpfloat(value(t, "dcd_release_latency_seconds_bucket"
                            "{le=\"+Inf\"}"), ==, 1);
    g_assert_cmpfloat(value(t, "dcd_add_latency_seconds_count"), ==, 1);
    g_assert_cmpfloat(value(t, "dcd_pools"), ==, 1);

    /* The host goes; the broker hears of it in its own time. */
    thost_quit(h);
    deadline = g_get_monotonic_time() + b->wait_us;
    for (;;) {
        g_clear_pointer(&t, g_free);
        t = scrape(s, url);
        v = value(t, "dcd_hosts_connected");
        if (v == 0 || g_get_monotonic_time() > deadline) {
            break;
        }
        g_usleep(20000);
    }
    g_assert_cmpfloat(v, ==, 0);
    g_assert_cmpfloat(value(t, "dcd_hosts"), ==, 1);
    tbroker_free(b);
}

/* Only GET (and HEAD) of /metrics. */
static void test_other_requests(void)
{
    TBroker *b = tbroker_start(NULL, "--metrics=127.0.0.1:0", NULL);
    g_autoptr(SoupSession) s = soup_session_new();
    g_autofree char *url = metrics_url(b);
    g_autofree char *root = g_strndup(url, strlen(url) - strlen("metrics"));
    g_autofree char *other = g_strconcat(url, "/x", NULL);
    g_autofree char *allow = NULL, *body = NULL;

    g_assert_cmpuint(request(s, "GET", root, NULL, NULL, NULL), ==, 404);
    g_assert_cmpuint(request(s, "GET", other, NULL, NULL, NULL), ==, 404);
    g_assert_cmpuint(request(s, "POST", url, NULL, NULL, &allow), ==, 405);
    g_assert_cmpstr(allow, ==, "GET, HEAD");
    g_assert_cmpuint(request(s, "DELETE", url, NULL, NULL, NULL), ==, 405);
    g_assert_cmpuint(request(s, "HEAD", url, &body, NULL, NULL), ==, 200);
    g_assert_true(!body || !*body);
    /* The broker serves on. */
    g_free(scrape(s, url));
    json_node_unref(tcall(b, "status", "{}"));
    tbroker_free(b);
}

/* Run a broker that must not start; returns its exit status. */
static int run_broker(char **err, const char *metrics)
{
    g_autofree char *dir = g_dir_make_tmp("dcd-metrics-XXXXXX", NULL);
    g_autofree char *hs = g_strdup_printf("--host-socket=%s/h.sock", dir);
    g_autofree char *cs = g_strdup_printf("--control-socket=%s/c.sock", dir);
    g_autofree char *opt = g_strdup_printf("--metrics=%s", metrics);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) e = NULL;

    p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                         G_SUBPROCESS_FLAGS_STDERR_PIPE, &e,
                         g_getenv("DCD_BROKER"), "--no-state", hs, cs, opt,
                         NULL);
    g_assert_no_error(e);
    g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, NULL, err,
                                                &e));
    g_assert_no_error(e);
    trm_tree(dir);
    g_assert_true(g_subprocess_get_if_exited(p));
    return g_subprocess_get_exit_status(p);
}

static void test_bad_address(void)
{
    static const char *const bad[] = {
        "127.0.0.1", "127.0.0.1:", ":9464", "127.0.0.1:65536",
        "127.0.0.1:-1", "::1:9464", "[::1]", "[127.0.0.1]:9464",
        "example.com:9464", "256.0.0.1:9464", "",
    };
    TBroker *b = tbroker_start(NULL, "--metrics=127.0.0.1:0", NULL);
    g_autofree char *url = metrics_url(b);
    g_autofree char *taken = NULL;
    char *err = NULL;

    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_test_message("--metrics=%s", bad[i]);
        g_assert_cmpint(run_broker(&err, bad[i]), ==, 2);
        g_assert_nonnull(strstr(err, "--metrics"));
        g_assert_nonnull(strstr(err, "see dcd-broker --help"));
        g_clear_pointer(&err, g_free);
    }
    /* Well formed, but another broker has the port. */
    taken = g_strndup(url + strlen("http://"),
                      strcspn(url + strlen("http://"), "/"));
    g_assert_cmpint(run_broker(&err, taken), ==, 1);
    g_assert_nonnull(strstr(err, "--metrics"));
    g_clear_pointer(&err, g_free);
    tbroker_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/metrics/scrape", test_scrape);
    g_test_add_func("/metrics/other-requests", test_other_requests);
    g_test_add_func("/metrics/bad-address", test_bad_address);
    return g_test_run();
}
