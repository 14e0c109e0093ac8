/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.c - the e2e rig on the other suites' harnesses: the broker is
 * a TBroker (tests/broker), each VM a TQemu (tests/qemu) attached to it.
 * Binaries come from the environment meson sets (DCD_BROKER, DCD_QEMU).
 * Every child dies with the test (PR_SET_PDEATHSIG for the broker,
 * exit-with-parent for QEMU), so a failed assertion leaves nothing
 * running.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define POLL_US 20000

static void pump(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

void e2e_require(void)
{
    const char *names[] = { "DCD_BROKER", "DCD_QEMU" };

    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
        const char *v = g_getenv(names[i]);

        if (!v || !*v) {
            printf("Bail out! %s is not set: run the e2e suite with "
                   "meson test (meson -Dqemu=PATH sets DCD_QEMU)\n",
                   names[i]);
            exit(1);
        }
        if (!g_file_test(v, G_FILE_TEST_IS_EXECUTABLE)) {
            printf("Bail out! %s: no executable at %s%s\n", names[i], v,
                   i ? ": build QEMU first (qemu/build.sh, or make check) "
                       "or configure meson with -Dqemu=PATH" : "");
            exit(1);
        }
    }
}

/* ---- broker --------------------------------------------------------- */

TBroker *ebroker_start(void)
{
    TBrokerOpts o = {
        .log = true,
        .show_log = g_getenv("DCD_E2E_VERBOSE") != NULL,
        .wait_us = E_WAIT_US,
    };

    return tbroker_new(&o);
}

char *epool(TBroker *b, uint64_t size)
{
    g_autofree char *args = g_strdup_printf("{\"size\": %" G_GUINT64_FORMAT
                                            "}", size);

    return tpool(b, args);
}

JsonObject *ehost(TBroker *b, unsigned host)
{
    g_autoptr(JsonNode) n = tcall(b, "host-list", "%s", "");
    JsonArray *a = json_node_get_array(n);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *h = json_array_get_object_element(a, i);

        if (json_object_get_int_member(h, "host-id") == host) {
            return json_object_ref(h);
        }
    }
    return NULL;
}

void ewait_connected(TBroker *b, unsigned host, bool connected)
{
    gint64 deadline = g_get_monotonic_time() + E_WAIT_US;

    for (;;) {
        g_autoptr(JsonObject) h = ehost(b, host);
        bool now = h && json_object_get_boolean_member(h, "connected");

        if (now == connected) {
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            tbroker_show_log(b);
            g_error("host %u did not %s the broker", host,
                    connected ? "connect to" : "disconnect from");
        }
        pump();
        g_usleep(POLL_US);
    }
}

JsonObject *epool_info(TBroker *b, const char *tag)
{
    g_autoptr(JsonNode) n = tcall(b, "pool-list", "{\"tag\": \"%s\"}", tag);
    JsonArray *a = json_node_get_array(n);

    g_assert_cmpuint(json_array_get_length(a), ==, 1);
    return json_object_ref(json_array_get_object_element(a, 0));
}

void eadd(TBroker *b, unsigned host, const char *tag, const char *policy)
{
    g_autoptr(JsonNode) n = tcall(b, "extent-add",
                                  "{\"host-id\": %u, \"tag\": \"%s\", "
                                  "\"policy\": \"%s\"}", host, tag, policy);
}

GArray *egive(TBroker *b, EVm *v, const char *tag, const char *policy)
{
    GArray *ext;

    eadd(b, v->host_id, tag, policy);
    ext = evm_accept(v);
    twait_count(b, v->host_id, tag, "accepted", ext->len);
    return ext;
}

/* ---- VMs ------------------------------------------------------------ */

EVm *evm_start(TBroker *b, unsigned host)
{
    return evm_start_props(b, host, "");
}

EVm *evm_start_props(TBroker *b, unsigned host, const char *more)
{
    EVm *v = g_new0(EVm, 1);
    g_autofree char *chr = g_strdup_printf(
        "socket,id=brk,path=%s,reconnect-ms=500", b->host_sock);
    g_autofree char *props = g_strdup_printf(
        ",dc-regions-sharable=1,dcd-broker=brk,dcd-host-id=%u%s", host, more);
    g_autofree char *name = g_strdup_printf("host %u", host);
    const char *extra[] = { "-chardev", chr, NULL };
    TQemuOpts o = {
        .dc_total_size = 1 * GiB,
        .dev_props = props,
        .extra = extra,
        .name = name,
    };

    v->host_id = host;
    v->q = tqemu_start(&o);
    g_assert_cmpuint(v->q->md->dc.n_regions, ==, 1);
    ewait_connected(b, host, true);
    return v;
}

void evm_quit(EVm *v)
{
    if (!v) {
        return;
    }
    g_assert_true(tqemu_stop(v->q));
    g_free(v);
}

void evm_kill(EVm *v)
{
    g_assert_true(tqemu_kill(v->q));
    g_free(v);
}

GArray *evm_group(EVm *v, unsigned n, unsigned type)
{
    gint64 deadline = g_get_monotonic_time() + E_WAIT_US;
    GArray *g;

    for (;;) {
        g_autoptr(GError) err = NULL;

        g = dcd_next_group(&v->q->md->mbox, &err);
        if (err) {
            tqemu_show_log(v->q);
        }
        g_assert_no_error(err);
        if (g->len || g_get_monotonic_time() > deadline) {
            break;
        }
        g_array_unref(g);
        g_usleep(POLL_US);
    }
    if (g->len != n) {
        tqemu_show_log(v->q);
        g_test_message("host %u: DC event group of %u, wanted %u",
                       v->host_id, g->len, n);
    }
    tgroup_check(g, n, type);
    return g;
}

static GArray *group_extents(GArray *g)
{
    GArray *ext = g_array_new(FALSE, TRUE, sizeof(DcdDevExtent));

    for (guint i = 0; i < g->len; i++) {
        g_array_append_val(ext, g_array_index(g, DcdEvent, i).extent);
    }
    return ext;
}

/* Wait for a non-empty Add group of any size. */
static GArray *add_group(EVm *v)
{
    gint64 deadline = g_get_monotonic_time() + E_WAIT_US;
    GArray *g;

    for (;;) {
        g_autoptr(GError) err = NULL;

        g = dcd_next_group(&v->q->md->mbox, &err);
        g_assert_no_error(err);
        if (g->len) {
            break;
        }
        g_array_unref(g);
        if (g_get_monotonic_time() > deadline) {
            tqemu_show_log(v->q);
            g_error("host %u: no Add Capacity event came", v->host_id);
        }
        g_usleep(POLL_US);
    }
    for (guint i = 0; i < g->len; i++) {
        g_assert_cmpuint(g_array_index(g, DcdEvent, i).type, ==, DCD_EV_ADD);
    }
    return g;
}

GArray *evm_accept(EVm *v)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = add_group(v);
    GArray *ext = group_extents(g);

    g_assert_true(dcd_add_response(&v->q->md->mbox, (DcdDevExtent *)ext->data,
                                   ext->len, &err));
    g_assert_no_error(err);
    return ext;
}

void evm_reject(EVm *v, unsigned n)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = evm_group(v, n, DCD_EV_ADD);

    g_assert_true(dcd_add_response(&v->q->md->mbox, NULL, 0, &err));
    g_assert_no_error(err);
}

void evm_release(EVm *v, unsigned n)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = evm_group(v, n, DCD_EV_RELEASE);
    g_autoptr(GArray) ext = group_extents(g);

    g_assert_true(dcd_release(&v->q->md->mbox, (DcdDevExtent *)ext->data, ext->len,
                              &err));
    g_assert_no_error(err);
}

void evm_map(EVm *v)
{
    g_autoptr(GError) err = NULL;
    DcdRegion *r = &v->q->md->dc.region[0];

    if (v->mapped) {
        return;
    }
    g_assert_true(dcd_memdev_map(v->q->md, 0, v->q->plat.windows[0].base,
                                 r->base, r->decode_len, &v->map, &err));
    g_assert_no_error(err);
    v->mapped = true;
}

DcdAllocation *evm_alloc(EVm *v, const char *tag)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) list = textents(v->q, NULL);
    DcdAllocation *a;
    uint8_t t[16];

    evm_map(v);
    g_assert_true(dcd_tag_parse(tag, (DcdTag *)t));
    a = dcd_allocation_build(t, (DcdDevExtent *)list->data, list->len, &v->map,
                             1, &err);
    g_assert_no_error(err);
    g_assert_false(a->seq_from_dpa);
    return a;
}

void evm_write(EVm *v, const DcdAllocation *a, uint64_t off,
               const void *buf, size_t len)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_allocation_write(a, v->q->io, off, buf, len, &err));
    g_assert_no_error(err);
}

void evm_read(EVm *v, const DcdAllocation *a, uint64_t off, void *buf,
              size_t len)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_allocation_read(a, v->q->io, off, buf, len, &err));
    g_assert_no_error(err);
}
