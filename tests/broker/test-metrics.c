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

#include "scrape.h"

#define ACCEPTED "dcd_extents{state=\"accepted\"}"
#define PENDING "dcd_extents{state=\"pending\"}"
#define RELEASING "dcd_extents{state=\"releasing\"}"
#define REVOKING "dcd_extents{state=\"revoking\"}"
#define REQUESTS "dcd_store_requests_total{backend=\"journal\"}"
#define ERRORS "dcd_store_errors_total{backend=\"journal\"}"
#define ADDS "dcd_add_latency_seconds_count"
#define RELEASES "dcd_release_latency_seconds_count"

static void test_scrape(void)
{
    TBroker *b = tbroker_start(NULL, "--metrics=127.0.0.1:0", NULL);
    g_autoptr(SoupSession) s = soup_session_new();
    g_autofree char *url = tmetrics_url(b);
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
    t = tmetrics_scrape(s, url);
    g_assert_cmpfloat(tmetrics_value(t, build), ==, 1);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_pools"), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_pool_bytes"), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_hosts_connected"), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, ACCEPTED), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, ADDS), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, ERRORS), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_store_available"), ==, 1);
    /* No shared device: no numbers made up for one. */
    g_assert_null(strstr(t, "dcd_device_bytes"));
    saved = tmetrics_value(t, REQUESTS);

    h = thost_start(b, 0, NULL);
    g_free(thost_ok(h, "wait-connected 5000"));
    tag = tpool(b, "{\"size\": 4194304}");
    g_clear_pointer(&t, g_free);
    t = tmetrics_scrape(s, url);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_pools"), ==, 1);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_pool_bytes"), ==, 4194304);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_hosts"), ==, 1);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_hosts_connected"), ==, 1);
    /* The host's record and the pool's were written. */
    g_assert_cmpfloat(tmetrics_value(t, REQUESTS), >=, saved + 2);
    saved = tmetrics_value(t, REQUESTS);

    added = tcall(b, "extent-add", "{\"host-id\": 0, \"tag\": \"%s\","
                  " \"wait\": true}", tag);
    ext = json_object_get_array_member(json_node_get_object(added),
                                       "extents");
    g_assert_cmpuint(json_array_get_length(ext), >=, 1);
    g_assert_cmpstr(json_object_get_string_member(
        json_array_get_object_element(ext, 0), "state"), ==, "accepted");
    g_clear_pointer(&t, g_free);
    t = tmetrics_scrape(s, url);
    g_assert_cmpfloat(tmetrics_value(t, ACCEPTED), ==,
                      json_array_get_length(ext));
    g_assert_cmpfloat(tmetrics_value(t, PENDING), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, ADDS), ==, 1);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_add_latency_seconds_bucket"
                                     "{le=\"+Inf\"}"), ==, 1);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_add_latency_seconds_sum"), >=, 0);
    g_assert_cmpfloat(tmetrics_value(t, RELEASES), ==, 0);
    /* Offered, then accepted: each saved before anyone heard of it. */
    g_assert_cmpfloat(tmetrics_value(t, REQUESTS), >=, saved + 2);

    released = tcall(b, "extent-release", "{\"host-id\": 0, \"tag\": \"%s\","
                     " \"wait\": true}", tag);
    g_clear_pointer(&t, g_free);
    t = tmetrics_scrape(s, url);
    g_assert_cmpfloat(tmetrics_value(t, ACCEPTED), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, RELEASING), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, REVOKING), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, RELEASES), ==, 1);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_release_latency_seconds_bucket"
                                     "{le=\"+Inf\"}"), ==, 1);
    g_assert_cmpfloat(tmetrics_value(t, ADDS), ==, 1);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_pools"), ==, 1);

    /* The host goes; the broker hears of it in its own time. */
    thost_quit(h);
    deadline = g_get_monotonic_time() + b->wait_us;
    for (;;) {
        g_clear_pointer(&t, g_free);
        t = tmetrics_scrape(s, url);
        v = tmetrics_value(t, "dcd_hosts_connected");
        if (v == 0 || g_get_monotonic_time() > deadline) {
            break;
        }
        g_usleep(20000);
    }
    g_assert_cmpfloat(v, ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_hosts"), ==, 1);
    tbroker_free(b);
}

/* Only GET (and HEAD) of /metrics. */
static void test_other_requests(void)
{
    TBroker *b = tbroker_start(NULL, "--metrics=127.0.0.1:0", NULL);
    g_autoptr(SoupSession) s = soup_session_new();
    g_autofree char *url = tmetrics_url(b);
    g_autofree char *root = g_strndup(url, strlen(url) - strlen("metrics"));
    g_autofree char *other = g_strconcat(url, "/x", NULL);
    g_autofree char *allow = NULL, *body = NULL;

    g_assert_cmpuint(tmetrics_request(s, "GET", root, NULL, NULL, NULL), ==,
                     404);
    g_assert_cmpuint(tmetrics_request(s, "GET", other, NULL, NULL, NULL), ==,
                     404);
    g_assert_cmpuint(tmetrics_request(s, "POST", url, NULL, NULL, &allow), ==,
                     405);
    g_assert_cmpstr(allow, ==, "GET, HEAD");
    g_assert_cmpuint(tmetrics_request(s, "DELETE", url, NULL, NULL, NULL), ==,
                     405);
    g_assert_cmpuint(tmetrics_request(s, "HEAD", url, &body, NULL, NULL), ==,
                     200);
    g_assert_true(!body || !*body);
    /* The broker serves on. */
    g_free(tmetrics_scrape(s, url));
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
    g_autofree char *url = tmetrics_url(b);
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
