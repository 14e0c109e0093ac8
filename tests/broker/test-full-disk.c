/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A broker whose state dir or pool dir fills up: requests that cannot be
 * saved or backed fail with nospc and change nothing, the broker keeps
 * serving what it has, and after a SIGKILL and a restart with room again
 * it has exactly what it acknowledged.  The small file systems are tmpfs
 * mounts in the test's own mount namespace (root only), so nothing
 * outlives the test.
 */
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "harness.h"

#define MB (1u << 20)

/* dir/name as a tmpfs of size bytes; false if this process may not mount. */
static bool small_fs(const char *dir, const char *name, const char *size)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *opts = g_strdup_printf("size=%s,mode=0700", size);

    g_assert_cmpint(g_mkdir_with_parents(path, 0700), ==, 0);
    return mount("tmpfs", path, "tmpfs", 0, opts) == 0;
}

/* Mounts made from here on vanish with this process. */
static bool private_mounts(void)
{
    return geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
           mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

static guint list_len(TBroker *b, const char *cmd, const char *args)
{
    g_autoptr(JsonNode) n = tcall(b, cmd, "%s", args);

    return json_array_get_length(json_node_get_array(n));
}

static void test_state_dir_full(void)
{
    g_autofree char *dir = g_dir_make_tmp("dcd-full-XXXXXX", NULL);
    g_autoptr(GPtrArray) acked = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    g_autofree char *desc = NULL;
    TBrokerOpts o = { .dir = dir, .log = true };
    TBroker *b;
    THost *h;
    unsigned i;

    g_assert_true(small_fs(dir, "state", "64k"));
    b = tbroker_new(&o);
    h = thost_start(b, 0, NULL);
    g_free(thost_ok(h, "wait-connected 5000"));
    /* Each pool record is a few hundred bytes: the state dir fills soon. */
    for (i = 0; i < 10000; i++) {
        g_autoptr(JsonNode) n = dcd_ctl_client_callf(b->ctl, "pool-create",
                                                     &err, "{\"size\": %u}",
                                                     2 * MB);

        if (!n) {
            break;
        }
        g_ptr_array_add(acked, g_strdup(json_object_get_string_member(
            json_node_get_object(n), "tag")));
    }
    g_assert_nonnull(err);
    g_test_message("%u pools acknowledged, then: %s", acked->len,
                   err->message);
    g_assert_cmpint(err->code, ==, DCD_ERR_NOSPC);
    g_assert_cmpuint(acked->len, >, 0);

    /* Nothing half-done: the host is offered nothing. */
    desc = tcall_fail(b, DCD_ERR_NOSPC, "extent-add",
                      "{\"host-id\": 0, \"tag\": \"%s\"}",
                      (char *)acked->pdata[0]);
    g_assert_nonnull(strstr(desc, "cannot save"));
    g_assert_cmpuint(list_len(b, "extent-list", "{\"all\": true}"), ==, 0);
    /* What it has, it still serves. */
    g_assert_cmpuint(list_len(b, "pool-list", "{}"), ==, acked->len);

    tbroker_kill(b);
    thost_kill(h);
    /* Room again: tmpfs keeps its files when it grows. */
    g_assert_cmpint(mount(NULL, b->state_dir, NULL, MS_REMOUNT, "size=16m"),
                    ==, 0);
    tbroker_restart(b);
    g_assert_cmpuint(list_len(b, "pool-list", "{}"), ==, acked->len);
    for (i = 0; i < acked->len; i++) {
        g_autofree char *args = g_strdup_printf("{\"tag\": \"%s\"}",
                                                (char *)acked->pdata[i]);

        g_assert_cmpuint(list_len(b, "pool-list", args), ==, 1);
    }
    /* And it takes changes again. */
    h = thost_start(b, 0, NULL);
    g_free(thost_ok(h, "wait-connected 5000"));
    json_node_unref(tcall(b, "extent-add", "{\"host-id\": 0, \"tag\":"
                          " \"%s\", \"wait\": true}",
                          (char *)acked->pdata[0]));
    thost_kill(h);
    tbroker_free(b);
}

/* File pools reserve their blocks: what does not fit is refused. */
static void test_pool_dir_full(void)
{
    g_autofree char *dir = g_dir_make_tmp("dcd-full-XXXXXX", NULL);
    TBrokerOpts o = { .dir = dir, .log = true };
    g_autofree char *desc = NULL;
    TBroker *b;

    g_assert_true(small_fs(dir, "pools", "10m"));
    b = tbroker_new(&o);
    g_free(tpool(b, "{\"size\": 4194304, \"backing\": \"file\"}"));
    g_free(tpool(b, "{\"size\": 4194304, \"backing\": \"file\"}"));
    desc = tcall_fail(b, DCD_ERR_NOSPC, "pool-create",
                      "{\"size\": 4194304, \"backing\": \"file\"}");
    g_test_message("refused: %s", desc);
    g_assert_cmpuint(list_len(b, "pool-list", "{}"), ==, 2);
    g_free(tpool(b, "{\"size\": 4194304}"));
    tbroker_free(b);
}

static void test_skip(void)
{
    g_test_skip("needs root for its own mount namespace");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (private_mounts()) {
        g_test_add_func("/full-disk/state-dir", test_state_dir_full);
        g_test_add_func("/full-disk/pool-dir", test_pool_dir_full);
    } else {
        g_test_add_func("/full-disk/skipped", test_skip);
    }
    return g_test_run();
}
