/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * End to end, the per-VM QMP path: cxl-add-dynamic-capacity and
 * cxl-release-dynamic-capacity on a broker-attached device go to the
 * broker (ADD_REQ, RELEASE_REQ); the capacity comes back as an offer
 * the VM accepts, and the broker's refusals come back as QMP errors.
 */
#include <string.h>

#include "harness.h"

#define POOL_SIZE (32 * MiB)
#define TAG_NONE "11111111-2222-4333-8444-555555555555"

static JsonNode *qadd_args(unsigned host, const char *policy, const char *tag)
{
    return dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)host,
                        "s:selection-policy", policy, "i:region", (gint64)0,
                        "s:tag", tag, "n:extents",
                        dcd_qmp_extent_list(NULL, 0), NULL);
}

static JsonNode *qrelease_args(unsigned host, const char *tag)
{
    return dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)host,
                        "s:removal-policy", "tag-based", "i:region",
                        (gint64)0, "s:tag", tag, "n:extents",
                        dcd_qmp_extent_list(NULL, 0), NULL);
}

static void test_qmp_path(void)
{
    TBroker *b = ebroker_start();
    EVm *v0 = evm_start(b, 0), *v1 = evm_start(b, 1);
    g_autofree char *tag = epool(b, POOL_SIZE);
    g_autofree char *backing = g_strdup_printf("broker:%s", tag);
    g_autoptr(GArray) e0 = NULL, e1 = NULL, l1 = NULL;
    g_autoptr(DcdAllocation) a0 = NULL, a1 = NULL;
    g_autoptr(JsonNode) q = NULL;
    const size_t len = 2 * MiB;
    g_autofree uint8_t *out = g_malloc(len), *in = g_malloc0(len);
    g_autofree char *why = NULL;
    JsonArray *qa;

    /* host 0 asks for the whole pool itself, from its own QMP */
    tqmp_ok(v0->q, "cxl-add-dynamic-capacity", qadd_args(0, "free", tag));
    e0 = evm_accept(v0);
    twait_count(b, 0, tag, "accepted", e0->len);
    a0 = evm_alloc(v0, tag);
    tpattern(out, len, 51);
    evm_write(v0, a0, 4 * MiB, out, len);

    /* host 1 obtains the pool over QMP and reads what host 0 wrote */
    tqmp_ok(v1->q, "cxl-add-dynamic-capacity",
            qadd_args(1, "enable-shared-access", tag));
    e1 = evm_accept(v1);
    twait_count(b, 1, tag, "accepted", e1->len);
    a1 = evm_alloc(v1, tag);
    evm_read(v1, a1, 4 * MiB, in, len);
    g_assert_cmpmem(in, len, out, len);
    q = tquery(v1->q);
    qa = json_node_get_array(q);
    g_assert_cmpuint(json_array_get_length(qa), ==, e1->len);
    for (guint i = 0; i < json_array_get_length(qa); i++) {
        JsonObject *o = json_array_get_object_element(qa, i);

        g_assert_cmpstr(json_object_get_string_member(o, "backing"), ==,
                        backing);
        g_assert_cmpstr(json_object_get_string_member(o, "mapping"), ==,
                        "direct");
    }

    /* the broker's reason, word for word */
    why = tqmp_fail(v1->q, "cxl-add-dynamic-capacity",
                    qadd_args(1, "free", TAG_NONE));
    g_test_message("unknown tag: %s", why);
    g_assert_true(g_str_has_prefix(why, "dcd-broker: "));
    g_assert_nonnull(strstr(why, "no pool with tag " TAG_NONE));
    g_clear_pointer(&why, g_free);
    /* a second add of a tag the host holds */
    why = tqmp_fail(v1->q, "cxl-add-dynamic-capacity",
                    qadd_args(1, "enable-shared-access", tag));
    g_test_message("tag held: %s", why);
    g_assert_true(g_str_has_prefix(why, "dcd-broker: "));
    g_clear_pointer(&why, g_free);

    /* host 1 gives it back over QMP: RELEASE_REQ, then 4803h */
    tqmp_ok(v1->q, "cxl-release-dynamic-capacity", qrelease_args(1, tag));
    evm_release(v1, e1->len);
    twait_count(b, 1, tag, "released", e1->len);
    l1 = textents(v1->q, NULL);
    g_assert_cmpuint(l1->len, ==, 0);
    evm_read(v0, a0, 4 * MiB, in, len);
    g_assert_cmpmem(in, len, out, len);

    /* without a broker the device says so at once */
    tbroker_kill(b);
    {
        gint64 deadline = g_get_monotonic_time() + E_WAIT_US;

        for (;;) {
            why = tqmp_fail(v1->q, "cxl-add-dynamic-capacity",
                            qadd_args(1, "enable-shared-access", tag));
            if (strstr(why, "not connected to dcd-broker") ||
                g_get_monotonic_time() > deadline) {
                break;
            }
            g_test_message("while the broker is gone: %s", why);
            g_clear_pointer(&why, g_free);
            g_usleep(50000);
        }
        g_assert_cmpstr(why, ==, "not connected to dcd-broker");
    }
    tbroker_restart(b);
    ewait_connected(b, 1, true);
    ewait_connected(b, 0, true);

    evm_quit(v0);
    evm_quit(v1);
    tbroker_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    e2e_require();
    g_test_add_func("/e2e/qmp/path", test_qmp_path);
    return g_test_run();
}
