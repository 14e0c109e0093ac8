/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * End to end, failures: the broker killed with SIGKILL while two VMs
 * hold a tag (memory stays, devices reconnect and hand the memfd back,
 * a new VM shares the same bytes), and QEMU killed with offers pending
 * (the broker reclaims them) or with extents accepted (a fresh QEMU for
 * the same host id starts from nothing).
 */
#include <string.h>

#include "harness.h"

#define POOL_SIZE (64 * MiB)

static void expect_bytes(EVm *v, const DcdAllocation *a, uint64_t off,
                         const uint8_t *want, size_t len)
{
    g_autofree uint8_t *in = g_malloc0(len);

    evm_read(v, a, off, in, len);
    g_assert_cmpmem(in, len, want, len);
}

static bool pool_has_memory(TBroker *b, const char *tag)
{
    g_autoptr(JsonObject) p = epool_info(b, tag);

    return json_object_get_boolean_member(p, "memory");
}

static void test_broker_killed(void)
{
    TBroker *b = ebroker_start();
    EVm *v0 = evm_start(b, 0), *v1 = evm_start(b, 1), *v2;
    g_autofree char *tag = epool(b, POOL_SIZE);
    g_autoptr(GArray) e0 = egive(b, v0, tag, "free");
    g_autoptr(GArray) e1 = egive(b, v1, tag, "enable-shared-access");
    g_autoptr(GArray) e2 = NULL, l0 = NULL, l1 = NULL;
    g_autoptr(DcdAllocation) a0 = evm_alloc(v0, tag);
    g_autoptr(DcdAllocation) a1 = evm_alloc(v1, tag);
    g_autoptr(DcdAllocation) a2 = NULL;
    g_autoptr(JsonNode) st = NULL;
    const size_t len = 2 * MiB;
    g_autofree uint8_t *d0 = g_malloc(len), *d1 = g_malloc(len);
    gint64 deadline;

    tpattern(d0, len, 21);
    evm_write(v0, a0, 0, d0, len);

    tbroker_kill(b);
    /* no broker: both VMs keep the memory, and it is still shared */
    expect_bytes(v0, a0, 0, d0, len);
    expect_bytes(v1, a1, 0, d0, len);
    tpattern(d1, len, 22);
    evm_write(v1, a1, 40 * MiB, d1, len);
    expect_bytes(v0, a0, 40 * MiB, d1, len);
    l0 = textents(v0->q, NULL);
    l1 = textents(v1->q, NULL);
    g_assert_cmpuint(l0->len, ==, e0->len);
    g_assert_cmpuint(l1->len, ==, e1->len);

    tbroker_restart(b);
    st = tcall(b, "status", "%s", "");
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(st),
                                               "epoch"), >=, 2);
    ewait_connected(b, 0, true);
    ewait_connected(b, 1, true);
    /* the devices handed the memfd back and listed what they hold */
    deadline = g_get_monotonic_time() + E_WAIT_US;
    while (!pool_has_memory(b, tag) && g_get_monotonic_time() < deadline) {
        g_usleep(20000);
    }
    g_assert_true(pool_has_memory(b, tag));
    twait_count(b, 0, tag, "accepted", e0->len);
    twait_count(b, 1, tag, "accepted", e1->len);
    expect_bytes(v0, a0, 0, d0, len);
    expect_bytes(v1, a1, 40 * MiB, d1, len);

    /* a new VM gets the same bytes from the re-adopted pool */
    v2 = evm_start(b, 2);
    e2 = egive(b, v2, tag, "enable-shared-access");
    a2 = evm_alloc(v2, tag);
    expect_bytes(v2, a2, 0, d0, len);
    expect_bytes(v2, a2, 40 * MiB, d1, len);

    evm_quit(v0);
    evm_quit(v1);
    evm_quit(v2);
    tbroker_free(b);
}

static void test_qemu_killed(void)
{
    TBroker *b = ebroker_start();
    EVm *v0 = evm_start(b, 0), *v1 = evm_start(b, 1);
    g_autofree char *tag = epool(b, POOL_SIZE);
    g_autoptr(GArray) e0 = egive(b, v0, tag, "free");
    g_autoptr(GArray) g1 = NULL, e1 = NULL, e0b = NULL;
    g_autoptr(DcdAllocation) a0 = evm_alloc(v0, tag), a1 = NULL;
    g_autoptr(JsonObject) pool = NULL;
    const size_t len = MiB;
    g_autofree uint8_t *d = g_malloc(len);

    tpattern(d, len, 31);
    evm_write(v0, a0, 0, d, len);

    /* an offer host 1's guest has seen but not answered */
    eadd(b, 1, tag, "enable-shared-access");
    g1 = evm_group(v1, e0->len, DCD_EV_ADD);
    g_assert_cmpuint(tcount(b, 1, tag, "pending"), ==, e0->len);
    evm_kill(v1);
    ewait_connected(b, 1, false);
    /* Its device may still hold the offer: the host's until replaced. */
    twait_count(b, 1, tag, "revoking", e0->len);
    g_assert_cmpuint(tcount(b, 1, tag, "pending"), ==, 0);
    pool = epool_info(b, tag);
    g_assert_cmpuint(json_array_get_length(
        json_object_get_array_member(pool, "hosts")), ==, 2);
    /* host 0 is unaffected */
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, e0->len);
    expect_bytes(v0, a0, 0, d, len);

    /* a new QEMU for host 1 can take the tag */
    v1 = evm_start(b, 1);
    e1 = egive(b, v1, tag, "enable-shared-access");
    a1 = evm_alloc(v1, tag);
    expect_bytes(v1, a1, 0, d, len);

    /*
     * Host 0's QEMU dies holding the tag; a fresh one for host 0 holds
     * nothing, so the broker drops the old extents and can give it the
     * tag again.
     */
    g_clear_pointer(&a0, dcd_allocation_free);
    evm_kill(v0);
    ewait_connected(b, 0, false);
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, e0->len);
    v0 = evm_start(b, 0);
    twait_count(b, 0, tag, "accepted", 0);
    e0b = egive(b, v0, tag, "enable-shared-access");
    a0 = evm_alloc(v0, tag);
    expect_bytes(v0, a0, 0, d, len);

    evm_quit(v0);
    evm_quit(v1);
    tbroker_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    e2e_require();
    g_test_add_func("/e2e/recovery/broker-killed", test_broker_killed);
    g_test_add_func("/e2e/recovery/qemu-killed", test_qemu_killed);
    return g_test_run();
}
