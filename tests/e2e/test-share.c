/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * End to end, sharing: one dcd-broker, two to four patched QEMUs whose
 * cxl-type3 devices are its hosts.  Each VM's host side (dcd-host over
 * qtest) accepts the broker's offers from the DC event log, commits
 * decoders and reads and writes the tag's bytes through its own CXL
 * window; every VM sees the same memory.
 */
#include <string.h>

#include "harness.h"

#define POOL_SIZE (64 * MiB)

/* extent-add over the control socket; the VM answers, so no "wait". */
static void add(EBroker *b, unsigned host, const char *tag,
                const char *policy)
{
    g_autoptr(JsonNode) n = ectl(b, "extent-add",
                                 "{\"host-id\": %u, \"tag\": \"%s\", "
                                 "\"policy\": \"%s\"}", host, tag, policy);
}

/* Give tag to v: add with policy, accept in the VM, see it accepted. */
static GArray *give(EBroker *b, EVm *v, const char *tag, const char *policy)
{
    GArray *ext;

    add(b, v->host_id, tag, policy);
    ext = evm_accept(v);
    ewait_count(b, v->host_id, tag, "accepted", ext->len);
    return ext;
}

/* len bytes at off written through from, read back through to. */
static void check_copy(EVm *from, const DcdAllocation *af, EVm *to,
                       const DcdAllocation *at, uint64_t off, size_t len,
                       unsigned seed)
{
    g_autofree uint8_t *out = g_malloc(len), *in = g_malloc0(len);

    epattern(out, len, seed);
    evm_write(from, af, off, out, len);
    evm_read(to, at, off, in, len);
    g_assert_cmpmem(in, len, out, len);
}

/* A 64 MiB tag, free placement on host 0, shared with host 1. */
static void test_round_trip(void)
{
    EBroker *b = ebroker_start();
    EVm *v0 = evm_start(b, 0), *v1 = evm_start(b, 1);
    g_autofree char *tag = epool(b, POOL_SIZE);
    g_autoptr(GArray) e0 = give(b, v0, tag, "free");
    g_autoptr(GArray) e1 = give(b, v1, tag, "enable-shared-access");
    g_autoptr(DcdAllocation) a0 = evm_alloc(v0, tag);
    g_autoptr(DcdAllocation) a1 = evm_alloc(v1, tag);

    g_assert_cmpuint(a0->size, ==, POOL_SIZE);
    g_assert_cmpuint(a1->size, ==, POOL_SIZE);
    g_assert_cmpuint(e0->len, ==, e1->len);

    /* VM 0 writes, VM 1 reads; and the other way round */
    check_copy(v0, a0, v1, a1, 0, 2 * MiB, 1);
    check_copy(v1, a1, v0, a0, POOL_SIZE - 2 * MiB, 2 * MiB, 2);
    check_copy(v0, a0, v1, a1, 31 * MiB + 4093, 8191, 3);

    evm_quit(v0);
    evm_quit(v1);
    ebroker_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    e2e_require();
    g_test_add_func("/e2e/share/round-trip", test_round_trip);
    return g_test_run();
}
