/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pools carved out of one shared device (--shared-device; a file stands
 * for the device): no byte in two pools, hosts reach the device's own
 * bytes, a reused range starts zeroed, a pool cut into several ranges
 * gives extents that each lie in one, and the ranges survive restarts.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "scrape.h"

#define MB ((gint64)1 << 20)

typedef struct Dev {
    char *dir;
    char *path;
    char *arg;          /* --shared-device=PATH */
} Dev;

static Dev *dev_new(uint64_t size)
{
    Dev *d = g_new0(Dev, 1);
    int fd;

    d->dir = g_dir_make_tmp("dcd-dev-XXXXXX", NULL);
    d->path = g_build_filename(d->dir, "device", NULL);
    d->arg = g_strdup_printf("--shared-device=%s", d->path);
    fd = open(d->path, O_RDWR | O_CREAT | O_EXCL, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    return d;
}

static void dev_free(Dev *d)
{
    trm_tree(d->dir);
    g_free(d->dir);
    g_free(d->path);
    g_free(d->arg);
    g_free(d);
}

/* Put or read bytes of the device file itself, as another server would. */
static void dev_write(Dev *d, uint64_t off, const char *s)
{
    int fd = open(d->path, O_RDWR);

    g_assert_cmpint(pwrite(fd, s, strlen(s), off), ==, (ssize_t)strlen(s));
    close(fd);
}

static char *dev_read(Dev *d, uint64_t off, size_t len)
{
    char *buf = g_malloc0(len + 1);
    int fd = open(d->path, O_RDONLY);

    g_assert_cmpint(pread(fd, buf, len, off), ==, (ssize_t)len);
    close(fd);
    return buf;
}

static JsonObject *pool_of(TBroker *b, const char *tag, JsonNode **keep)
{
    *keep = tcall(b, "pool-list", "{\"tag\": \"%s\"}", tag);
    return json_array_get_object_element(json_node_get_array(*keep), 0);
}

/* The pool's device ranges as "off+len,off+len" in MiB. */
static char *ranges_text(TBroker *b, const char *tag)
{
    g_autoptr(JsonNode) n = NULL;
    JsonObject *p = pool_of(b, tag, &n);
    JsonArray *r = json_object_get_array_member(p, "device-ranges");
    GString *s = g_string_new(NULL);

    g_assert_cmpstr(json_object_get_string_member(p, "backing"), ==,
                    "device");
    for (guint i = 0; i < json_array_get_length(r); i++) {
        JsonObject *o = json_array_get_object_element(r, i);

        g_string_append_printf(s, "%s%" G_GINT64_FORMAT "+%" G_GINT64_FORMAT,
                               i ? "," : "",
                               json_object_get_int_member(o, "offset") / MB,
                               json_object_get_int_member(o, "len") / MB);
    }
    return g_string_free(s, FALSE);
}

/* Device offset of each of the tag's segments, "a,b,..." in MiB. */
static char *segments_text(TBroker *b, const char *tag)
{
    g_autoptr(JsonNode) n = NULL;
    JsonObject *p = pool_of(b, tag, &n);
    JsonArray *a = json_object_get_array_member(p, "segments");
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        g_string_append_printf(s, "%s%" G_GINT64_FORMAT "@%" G_GINT64_FORMAT,
                               i ? "," : "",
                               json_object_get_int_member(o, "len") / MB,
                               json_object_get_int_member(o, "device-offset") /
                               MB);
    }
    return g_string_free(s, FALSE);
}

/* Add tag to host h and wait until it holds all n extents. */
static void add_wait(TBroker *b, THost *h, const char *tag,
                     const char *policy, unsigned n)
{
    g_autoptr(JsonNode) r = tcall(b, "extent-add",
        "{\"host-id\": %u, \"tag\": \"%s\", \"policy\": \"%s\","
        " \"wait\": true}", h->id, tag, policy);

    g_free(thost_ok(h, "wait-extents %s %u 5000", tag, n));
    g_assert_cmpuint(tcount(b, h->id, tag, "accepted"), ==, n);
}

static void release_wait(TBroker *b, THost *h, const char *tag)
{
    g_autoptr(JsonNode) n = tcall(b, "extent-release",
        "{\"host-id\": %u, \"tag\": \"%s\", \"wait\": true}", h->id, tag);

    g_assert_cmpuint(tcount(b, h->id, tag, "accepted"), ==, 0);
    g_assert_cmpuint(tcount(b, h->id, tag, "releasing"), ==, 0);
}

/*
 * Two pools side by side on the device; two hosts share one and reach the
 * device's own bytes at the pool's device offset.
 */
static void test_share(void)
{
    Dev *d = dev_new(64 * MB);
    TBroker *b = tbroker_start(NULL, d->arg, "--metrics=127.0.0.1:0", NULL);
    g_autoptr(SoupSession) ss = soup_session_new();
    g_autofree char *url = tmetrics_url(b);
    g_autofree char *t = NULL;
    THost *h0 = thost_start(b, 0, NULL);
    THost *h1 = thost_start(b, 1, NULL);
    g_autofree char *a = tpool(b, "{\"size\": 8388608}");
    g_autofree char *c = tpool(b, "{\"size\": 6291456}");
    g_autofree char *ra = ranges_text(b, a);
    g_autofree char *rc = ranges_text(b, c);
    g_autofree char *r = NULL;
    g_autofree char *seen = NULL;

    g_assert_cmpstr(ra, ==, "0+8");
    g_assert_cmpstr(rc, ==, "8+6");
    t = tmetrics_scrape(ss, url);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_device_bytes{state=\"used\"}"),
                      ==, 14 * MB);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_device_bytes{state=\"free\"}"),
                      ==, 50 * MB);
    g_free(thost_ok(h0, "wait-connected 5000"));
    g_free(thost_ok(h1, "wait-connected 5000"));
    add_wait(b, h0, a, "free", 1);
    add_wait(b, h1, a, "enable-shared-access", 1);
    g_free(thost_ok(h0, "write-str %s 4096 on the device", a));
    r = thost_ok(h1, "read-str %s 4096 13", a);
    g_assert_cmpstr(r, ==, "on the device");
    seen = dev_read(d, 4096, 13);
    g_assert_cmpstr(seen, ==, "on the device");
    /* Bytes another server writes to the device reach the hosts too. */
    dev_write(d, 8192, "from afar");
    g_free(r);
    r = thost_ok(h0, "read-str %s 8192 9", a);
    g_assert_cmpstr(r, ==, "from afar");
    /* The second pool is as far as the first ends. */
    g_clear_pointer(&seen, g_free);
    add_wait(b, h0, c, "free", 1);
    g_free(thost_ok(h0, "write-str %s 0 second pool", c));
    seen = dev_read(d, 8 * MB, 11);
    g_assert_cmpstr(seen, ==, "second pool");
    thost_quit(h0);
    thost_quit(h1);
    tbroker_free(b);
    dev_free(d);
}

/*
 * A range goes to another pool only once no host holds it, and then with
 * none of the earlier tag's bytes; a full device says how full.
 */
static void test_reuse(void)
{
    Dev *d = dev_new(16 * MB);
    TBroker *b = tbroker_start(NULL, d->arg, NULL);
    THost *h = thost_start(b, 0, NULL);
    g_autofree char *a = tpool(b, "{\"size\": 8388608}");
    g_autofree char *c = NULL, *rc = NULL, *r = NULL, *msg = NULL;

    g_free(thost_ok(h, "wait-connected 5000"));
    add_wait(b, h, a, "free", 1);
    g_free(thost_ok(h, "write-str %s 100 secret of a", a));
    msg = tcall_fail(b, DCD_ERR_NOSPC, "pool-create", "{\"size\": %"
                     G_GINT64_FORMAT "}", 10 * MB);
    g_test_message("full: %s", msg);
    g_assert_nonnull(strstr(msg, "8388608 bytes free"));
    g_free(tcall_fail(b, DCD_ERR_BUSY, "pool-destroy", "{\"tag\": \"%s\"}",
                      a));
    release_wait(b, h, a);
    json_node_unref(tcall(b, "pool-destroy", "{\"tag\": \"%s\"}", a));

    c = tpool(b, "{\"size\": 16777216}");
    rc = ranges_text(b, c);
    g_assert_cmpstr(rc, ==, "0+16");
    add_wait(b, h, c, "free", 1);
    r = thost_ok(h, "read %s 100 11", c);
    g_assert_cmpstr(r, ==, "0000000000000000000000");
    thost_quit(h);
    tbroker_free(b);
    dev_free(d);
}

/*
 * A pool in two runs of the device: its extents are cut where the runs
 * meet, each in one run; the ranges and the cut survive a restart, and
 * the device is never handed out twice after it.
 */
static void test_fragmented(void)
{
    Dev *d = dev_new(16 * MB);
    TBroker *b = tbroker_start(NULL, d->arg, NULL);
    THost *h = thost_start(b, 0, "--reconnect", NULL);
    g_autofree char *p1 = tpool(b, "{\"size\": 4194304}");
    g_autofree char *p2 = tpool(b, "{\"size\": 4194304}");
    g_autofree char *p3 = tpool(b, "{\"size\": 4194304}");
    g_autofree char *p4 = NULL, *rr = NULL, *segs = NULL, *seen = NULL;
    g_autofree char *r = NULL, *msg = NULL;

    json_node_unref(tcall(b, "pool-destroy", "{\"tag\": \"%s\"}", p2));
    p4 = tpool(b, "{\"size\": 8388608}");
    rr = ranges_text(b, p4);
    g_assert_cmpstr(rr, ==, "4+4,12+4");
    g_free(thost_ok(h, "wait-connected 5000"));
    add_wait(b, h, p4, "contiguous", 2);
    segs = segments_text(b, p4);
    g_assert_cmpstr(segs, ==, "4@4,4@12");
    g_assert_cmpuint(tcount(b, 0, p4, "accepted"), ==, 2);
    /* Pool offset 4 MiB is device offset 12 MiB. */
    g_free(thost_ok(h, "write-str %s 4194304 past the cut", p4));
    seen = dev_read(d, 12 * MB, 12);
    g_assert_cmpstr(seen, ==, "past the cut");

    tbroker_stop(b, true);
    tbroker_restart(b);
    g_free(rr);
    g_free(segs);
    rr = ranges_text(b, p4);
    g_assert_cmpstr(rr, ==, "4+4,12+4");
    segs = segments_text(b, p4);
    g_assert_cmpstr(segs, ==, "4@4,4@12");
    msg = tcall_fail(b, DCD_ERR_NOSPC, "pool-create", "{\"size\": %"
                     G_GINT64_FORMAT "}", 2 * MB);
    g_test_message("full after restart: %s", msg);
    /* The host reconnects and hands the device back: it keeps both. */
    g_free(thost_ok(h, "wait-connected 5000"));
    twait_count(b, 0, p4, "accepted", 2);
    g_usleep(500000);
    g_assert_cmpuint(tcount(b, 0, p4, "accepted"), ==, 2);
    r = thost_ok(h, "read-str %s 4194304 12", p4);
    g_assert_cmpstr(r, ==, "past the cut");
    (void)p1;
    (void)p3;
    thost_quit(h);
    tbroker_free(b);
    dev_free(d);
}

/* What a broker cannot start with, and says why. */
static void test_refused(void)
{
    Dev *d = dev_new(8 * MB);
    TBroker *b = tbroker_start(NULL, d->arg, NULL);
    g_autofree char *first = tpool(b, "{\"size\": 2097152}");
    g_autofree char *tag = tpool(b, "{\"size\": 2097152}");
    g_autofree char *state = g_strdup_printf("--state-dir=%s", b->state_dir);
    g_autofree char *said = NULL, *msg = NULL;
    g_autofree char *small = g_build_filename(d->dir, "small", NULL);
    g_autofree char *small_arg = g_strdup_printf("--shared-device=%s",
                                                 small);

    /* One broker with its own state per device. */
    said = tbroker_refused(d->arg, "--no-state", NULL);
    g_test_message("second broker: %s", said);
    g_assert_nonnull(strstr(said, "in use by another broker"));
    msg = tcall_fail(b, DCD_ERR_INVAL, "pool-create",
                     "{\"size\": 3145728}");
    g_test_message("odd size: %s", msg);
    tbroker_stop(b, false);

    /* Its state names device pools: no start without the device. */
    g_free(said);
    said = tbroker_refused(state, NULL);
    g_test_message("without the device: %s", said);
    g_assert_nonnull(strstr(said, "--shared-device"));
    g_assert_true(strstr(said, tag) || strstr(said, first));
    /* Nor with a device too small for the saved ranges (tag: 2+2). */
    g_file_set_contents(small, "", 0, NULL);
    g_assert_cmpint(truncate(small, 2 * MB), ==, 0);
    g_free(said);
    said = tbroker_refused(state, small_arg, NULL);
    g_test_message("smaller device: %s", said);
    g_assert_nonnull(strstr(said, "not the same device"));
    g_free(said);
    said = tbroker_refused("--no-state", "--shared-device=/nonexistent/dev",
                           NULL);
    g_assert_nonnull(strstr(said, "/nonexistent/dev"));
    g_assert_cmpint(truncate(small, MB), ==, 0);
    g_free(said);
    said = tbroker_refused("--no-state", small_arg, NULL);
    g_assert_nonnull(strstr(said, "smaller than one"));
    /* Without a device, a device pool is refused, not made of memfd. */
    tbroker_free(b);
    b = tbroker_start(NULL, NULL);
    g_free(msg);
    msg = tcall_fail(b, DCD_ERR_NOTSUP, "pool-create",
                     "{\"size\": 2097152, \"backing\": \"device\"}");
    g_assert_nonnull(strstr(msg, "--shared-device"));
    tbroker_free(b);
    dev_free(d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/device/share", test_share);
    g_test_add_func("/device/reuse", test_reuse);
    g_test_add_func("/device/fragmented", test_fragmented);
    g_test_add_func("/device/refused", test_refused);
    return g_test_run();
}
