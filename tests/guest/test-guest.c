/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-guest.c - real Linux guests (the guest rig under TCG) running
 * dcd-guest against a real broker.  Two guests are booted once and
 * shared by the cases, which leave them without extents; the cases
 * that reset, power off or add a guest come last.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dcd-host/qemu-guest.h"
#include "cluster/etcd.h"
#include "harness.h"
#include "relay.h"
#include "e2e/harness.h"

#define CMD_MS 60000
#define BOOT_MS 120000
#define MiB (1ull << 20)


/* The agent's lock file holds its pid. */
#define WAIT_AGENT_GONE \
    "p=$(cat /run/dcd-guest/agent.lock); " \
    "while kill -0 $p 2>/dev/null; do sleep 0.05; done"
#define STOP_AGENT "kill -9 $(cat /run/dcd-guest/agent.lock); " WAIT_AGENT_GONE

static TBroker *broker;
static DcdQemuGuest *guests[3];

/* ---- guests ------------------------------------------------------------- */

static void show_guest(DcdQemuGuest *g)
{
    g_autofree char *con = dcd_qemu_guest_console(g);
    g_autofree char *log = NULL;
    size_t n = strlen(con);

    g_test_message("%s console ends:\n%s", g->vm.name,
                   n > 3000 ? con + n - 3000 : con);
    if (dcd_qemu_guest_run(g, "cat /run/dcd-guest/agent.log", &log, 5000,
                           NULL) == 0) {
        g_test_message("%s agent log:\n%s", g->vm.name, log);
    }
}

/* Run a command in g; returns its exit status, output in *out. */
static int grun_rc(DcdQemuGuest *g, char **out, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static int grun_rc(DcdQemuGuest *g, char **out, const char *fmt, ...)
{
    g_autofree char *line = NULL;
    g_autoptr(GError) err = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    rc = dcd_qemu_guest_run(g, line, out, CMD_MS, &err);
    if (rc < 0) {
        show_guest(g);
        tbroker_show_log(broker);
        g_error("%s", err->message);
    }
    return rc;
}

/* A command that must succeed; its output. */
static char *grun(DcdQemuGuest *g, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static char *grun(DcdQemuGuest *g, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    char *out;
    va_list ap;

    va_start(ap, fmt);
    out = dcd_qemu_guest_shv(g, CMD_MS, &err, fmt, ap);
    va_end(ap);
    if (!out) {
        show_guest(g);
        g_error("%s", err->message);
    }
    return out;
}

static DcdQemuGuest *gstart_sock(unsigned host, unsigned second,
                                 const char *sock, bool file_pools)
{
    g_autofree char *name = g_strdup_printf("guest of host %u", host);
    DcdQemuGuestOpts o = {
        .second_bridge = second != 0,
        .second_host_id = second,
        .binary = g_getenv("DCD_QEMU"),
        .rig = g_getenv("DCD_GUEST_RIG"),
        .initramfs = g_getenv("DCD_GUEST_INITRAMFS"),
        .broker_socket = sock,
        .host_id = host,
        .name = name,
        .file_pools = file_pools,
    };
    g_autoptr(GError) err = NULL;
    DcdQemuGuest *g = dcd_qemu_guest_start(&o, &err);

    g_assert_no_error(err);
    return g;
}

static DcdQemuGuest *gstart_opts(unsigned host, unsigned second)
{
    return gstart_sock(host, second, broker->host_sock, false);
}

static DcdQemuGuest *gstart(unsigned host)
{
    return gstart_opts(host, 0);
}

/* Wait for the guest to boot, start the agent, see b has the host. */
static void gready_on(DcdQemuGuest *g, TBroker *b, unsigned host)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;

    if (!dcd_qemu_guest_wait_ready(g, BOOT_MS, &err)) {
        g_error("%s", err->message);
    }
    out = grun(g, "dcd-guest watch --daemon");
    g_assert_nonnull(strstr(out, "agent ready"));
    ewait_connected(b, host, true);
}

static void gready(DcdQemuGuest *g, unsigned host)
{
    gready_on(g, broker, host);
}

/* The guests the cases share, booted side by side the first time. */
static DcdQemuGuest *guest(unsigned i)
{
    if (!guests[0]) {
        guests[0] = gstart(1);
        guests[1] = gstart(2);
        gready(guests[0], 1);
        gready(guests[1], 2);
        g_test_message("guests run %s", guests[0]->kernel);
    }
    return guests[i];
}

/* The agent's published state. */
static JsonNode *glist(DcdQemuGuest *g)
{
    g_autofree char *out = grun(g, "dcd-guest list --json 2>/dev/null");
    g_autoptr(GError) err = NULL;
    JsonNode *n = json_from_string(out, &err);

    g_assert_no_error(err);
    return n;
}

/* Extents of tag (all tags if NULL) in state, as the guest lists them. */
static unsigned gcount(DcdQemuGuest *g, const char *tag, const char *state)
{
    g_autoptr(JsonNode) n = glist(g);
    JsonArray *a = json_object_get_array_member(json_node_get_object(n),
                                                "extents");
    unsigned c = 0;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        c += (!tag || !strcmp(json_object_get_string_member(e, "tag"), tag)) &&
             !strcmp(json_object_get_string_member(e, "state"), state);
    }
    return c;
}

static void gwait_count(DcdQemuGuest *g, const char *tag, const char *state,
                        unsigned n)
{
    gint64 deadline = g_get_monotonic_time() + E_WAIT_US;

    while (gcount(g, tag, state) != n) {
        if (g_get_monotonic_time() > deadline) {
            show_guest(g);
            g_error("%s: never %u %s extent(s) of %s", g->vm.name, n, state,
                    tag);
        }
        g_usleep(50000);
    }
}

/* The DPA of the tag's shared_seq 0 as the guest lists it. */
static uint64_t gdpa(DcdQemuGuest *g, const char *tag)
{
    g_autoptr(JsonNode) n = glist(g);
    JsonArray *a = json_object_get_array_member(json_node_get_object(n),
                                                "extents");

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        if (!strcmp(json_object_get_string_member(e, "tag"), tag) &&
            json_object_get_int_member(e, "shared_seq") == 0) {
            g_assert_cmpint(json_object_get_int_member(e, "hpa"), !=, 0);
            return json_object_get_int_member(e, "dpa");
        }
    }
    g_error("%s lists no extent of %s", g->vm.name, tag);
}

/*
 * The guest-physical address of the tag's shared_seq 0, pending or not:
 * its region's window address plus its offset in the region.
 */
static uint64_t ghpa(DcdQemuGuest *g, const char *tag)
{
    g_autoptr(JsonNode) n = glist(g);
    JsonObject *o = json_node_get_object(n);
    JsonArray *ext = json_object_get_array_member(o, "extents");
    JsonArray *reg = json_object_get_array_member(o, "regions");

    for (guint i = 0; i < json_array_get_length(ext); i++) {
        JsonObject *e = json_array_get_object_element(ext, i);
        uint64_t dpa = json_object_get_int_member(e, "dpa");

        if (strcmp(json_object_get_string_member(e, "tag"), tag) ||
            json_object_get_int_member(e, "shared_seq") != 0) {
            continue;
        }
        for (guint k = 0; k < json_array_get_length(reg); k++) {
            JsonObject *r = json_array_get_object_element(reg, k);
            uint64_t rdpa = json_object_get_int_member(r, "dpa");

            if (json_object_get_int_member(r, "device") ==
                json_object_get_int_member(e, "device") &&
                json_object_get_int_member(r, "region") >= 0 &&
                dpa >= rdpa &&
                dpa - rdpa < (uint64_t)json_object_get_int_member(r, "len")) {
                return json_object_get_int_member(r, "hpa") + dpa - rdpa;
            }
        }
    }
    g_error("%s lists no extent of %s", g->vm.name, tag);
}

/* The first 8 bytes of a tag, read through dcd-guest. */
static uint64_t gword(DcdQemuGuest *g, const char *tag)
{
    g_autofree char *out = grun(g, "dcd-guest read %s --offset 0 --length 8 "
                                   "| od -An -tx8", tag);

    return g_ascii_strtoull(g_strstrip(out), NULL, 16);
}

/* Give g's host a 16 MiB tag and fill it at random; its first word. */
static uint64_t gfill(DcdQemuGuest *g, unsigned host, const char *tag)
{
    eadd(broker, host, tag, "free");
    twait_count(broker, host, tag, "accepted", 1);
    gwait_count(g, tag, "accepted", 1);
    g_free(grun(g, "dd if=/dev/urandom bs=1M count=16 2>/dev/null | "
                   "dcd-guest write %s", tag));
    return gword(g, tag);
}

/*
 * Read the 8 bytes at hpa n times from inside the guest, straight from
 * physical memory, while cmd runs; how many reads saw word.  cmd's exit
 * status goes to *rc.
 */
static unsigned gpeek_during(DcdQemuGuest *g, uint64_t hpa, uint64_t word,
                             unsigned n, const char *cmd, int *rc)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    unsigned seen = 0, reads = 0;

    *rc = grun_rc(g, &out, "(i=0; while [ $i -lt %u ]; do devmem 0x%"
                  G_GINT64_MODIFIER "x 64; i=$((i+1)); done) >/tmp/peek & "
                  "p=$!; %s >/tmp/cmd 2>&1; rc=$?; wait $p; cat /tmp/peek; "
                  "cat /tmp/cmd >&2; exit $rc", n, hpa, cmd);
    lines = g_strsplit(out, "\n", -1);
    for (unsigned i = 0; lines[i]; i++) {
        if (g_str_has_prefix(lines[i], "0x")) {
            reads++;
            seen += g_ascii_strtoull(lines[i], NULL, 16) == word;
        }
    }
    g_assert_cmpuint(reads, ==, n);
    return seen;
}

static char *gsha(DcdQemuGuest *g, const char *tag)
{
    g_autofree char *out = grun(g, "dcd-guest sha256 %s", tag);

    g_assert_cmpuint(strlen(out), >, 64);
    out[64] = 0;
    return g_strdup(out);
}

/* Accepted extents the device itself reports (QMP), all mapped directly. */
static unsigned dev_accepted(DcdQemuGuest *g)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = dcd_qmp_execute(g->vm.qmp,
        "cxl-query-dynamic-capacity",
        dcd_qmp_args("s:path", DCD_QEMU_DEV_PATH, NULL), &err);
    JsonArray *a;
    unsigned n = 0;

    g_assert_no_error(err);
    a = json_node_get_array(r);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        if (!strcmp(json_object_get_string_member(e, "state"), "accepted")) {
            g_assert_cmpstr(json_object_get_string_member(e, "mapping"), ==,
                            "direct");
            n++;
        }
    }
    return n;
}

/* Add and see the guest's agent accept it. */
static void share(const char *tag, unsigned host, const char *policy)
{
    eadd(broker, host, tag, policy);
    twait_count(broker, host, tag, "accepted", 1);
}

static void release(const char *tag, unsigned host)
{
    g_autoptr(JsonNode) r = tcall(broker, "extent-release",
                                  "{\"host-id\": %u, \"tag\": \"%s\", "
                                  "\"wait\": true}", host, tag);
}

static void destroy(const char *tag)
{
    g_autoptr(JsonNode) r = tcall(broker, "pool-destroy", "{\"tag\": \"%s\"}",
                                  tag);
}

/* ---- cases -------------------------------------------------------------- */

/* Write s to g's command channel as it is. */
static void gwrite_raw(DcdQemuGuest *g, const char *s)
{
    g_assert_true(g_output_stream_write_all(
        g_io_stream_get_output_stream(g->cmd), s, strlen(s), NULL, NULL,
        NULL));
}

/* The output of a command sent with gwrite_raw(), up to its "=== rc 0". */
static char *gread_answer(DcdQemuGuest *g)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (;;) {
        g_autofree char *l = g_data_input_stream_read_line_utf8(g->in, NULL,
                                                                NULL, NULL);

        g_assert_nonnull(l);
        if (g_str_has_prefix(l, "=== ")) {
            g_assert_cmpstr(l, ==, "=== rc 0");
            return g_string_free(g_steal_pointer(&out), FALSE);
        }
        g_string_append_printf(out, "%s\n", l);
    }
}

/*
 * The command channel itself: orphans (PID 1's children then) end all the
 * time, as the agent's daemon or a background job may, while command lines
 * arrive in pieces, as they do from a busy host; every line must arrive
 * whole.  A signal that interrupts the shell's line read mid-line loses
 * what it had read.
 */
static void test_command_channel(void)
{
    DcdQemuGuest *g = guest(0);

    g_free(grun(g, "sh -c 'echo $$ >/run/orphans.pid; while :; do"
                " (usleep 100 &); usleep 200; done' </dev/null >/dev/null"
                " 2>&1 &"));
    for (unsigned i = 0; i < 60; i++) {
        g_autofree char *pad = g_strnfill(100 + i * 7, 'x');
        g_autofree char *token = g_strdup_printf("line-%03u-%s-%03u", i, pad,
                                                 i);
        g_autofree char *line = g_strdup_printf("%zu echo %s\n",
                                                strlen(token) + 5, token);
        size_t cut = 5 + i % 20;
        g_autofree char *head = g_strndup(line, cut);
        g_autofree char *out = NULL;

        gwrite_raw(g, head);
        g_usleep((i % 4) * 10000);
        gwrite_raw(g, line + cut);
        out = gread_answer(g);
        g_assert_cmpstr(g_strstrip(out), ==, token);
    }
    g_free(grun(g, "kill $(cat /run/orphans.pid)"));
}

/* A line that does not arrive whole is refused, never run in part. */
static void test_command_mangled(void)
{
    DcdQemuGuest *g = guest(0);
    g_autoptr(GError) err = NULL;
    g_autofree char *rest = NULL;

    gwrite_raw(g, "99 touch /tmp/mangled-ran\n");
    /* the answer to the cut line comes first, then true's own */
    g_assert_cmpint(dcd_qemu_guest_run(g, "true", NULL, CMD_MS, &err), ==, -1);
    g_assert_nonnull(strstr(err->message, "did not arrive whole; the guest "
                            "got 25 99 touch /tmp/mangled-ran"));
    rest = gread_answer(g);
    g_assert_cmpstr(rest, ==, "");
    g_assert_cmpint(grun_rc(g, NULL, "test -e /tmp/mangled-ran"), ==, 1);
}

static void test_one_guest(void)
{
    DcdQemuGuest *g = guest(0);
    g_autofree char *tag = epool(broker, 64 * MiB);
    g_autofree char *sha = NULL, *sha_part = NULL, *read_part = NULL;
    g_autofree char *out = NULL, *ver = NULL;

    /* the CLI's own answers: its version, a usage error */
    ver = grun(g, "dcd-guest --version");
    g_assert_true(g_str_has_prefix(ver, "dcd-guest "));
    g_assert_cmpint(grun_rc(g, NULL, "dcd-guest frobnicate"), ==, 2);
    g_assert_cmpint(grun_rc(g, NULL, "dcd-guest release"), ==, 2);

    /* three extents, out of DPA order, one group */
    g_autoptr(JsonNode) r = tcall(broker, "extent-add",
        "{\"host-id\": 1, \"tag\": \"%s\", \"policy\": \"prescriptive\", "
        "\"extents\": [{\"offset\": %llu, \"len\": %llu}, {\"offset\": 0, "
        "\"len\": %llu}, {\"offset\": %llu, \"len\": %llu}], \"wait\": true}",
        tag, 256 * MiB, 16 * MiB, 32 * MiB, 64 * MiB, 16 * MiB);
    /* the broker, the device and the guest's driver agree */
    g_assert_cmpuint(tcount(broker, 1, tag, "accepted"), ==, 3);
    gwait_count(g, tag, "accepted", 3);
    g_assert_cmpuint(dev_accepted(g), ==, 3);
    g_assert_cmpuint(gdpa(g, tag), ==, 256 * MiB);

    out = grun(g, "dd if=/dev/urandom bs=1M count=64 2>/dev/null | "
                  "dcd-guest write %s", tag);
    g_assert_nonnull(strstr(out, "wrote 67108864 bytes"));
    sha = gsha(g, tag);
    /* read and sha256 see the same bytes */
    sha_part = grun(g, "dcd-guest sha256 %s --offset 1048576 --length 65536 "
                       "| cut -c1-64", tag);
    read_part = grun(g, "dcd-guest read %s --offset 1048576 --length 65536 | "
                        "sha256sum | cut -c1-64", tag);
    g_assert_cmpstr(sha_part, ==, read_part);
    /* the bytes went through the window into the pool: a second look */
    g_assert_cmpstr(gsha(g, tag), ==, sha);
    g_assert_cmpint(grun_rc(g, NULL, "dcd-guest read %s --offset 67108860 "
                            "--length 8 >/dev/null", tag), ==, 1);

    release(tag, 1);
    g_assert_cmpuint(tcount(broker, 1, tag, "released"), ==, 3);
    gwait_count(g, tag, "accepted", 0);
    g_assert_cmpuint(dev_accepted(g), ==, 0);
    g_assert_cmpint(grun_rc(g, NULL, "dcd-guest sha256 %s", tag), ==, 1);
    destroy(tag);
}

static void test_two_guests_share(void)
{
    DcdQemuGuest *a = guest(0), *b = guest(1);
    g_autofree char *filler = epool(broker, 16 * MiB);
    g_autofree char *tag = epool(broker, 32 * MiB);
    g_autofree char *sha_a = NULL, *sha_b = NULL, *sha2_a = NULL;
    g_autofree char *sha2_b = NULL;

    /* host 2's DPAs start after a filler, so the two differ */
    share(filler, 2, "free");
    share(tag, 1, "free");
    share(tag, 2, "enable-shared-access");
    gwait_count(b, tag, "accepted", 1);
    g_assert_cmpuint(gdpa(a, tag), !=, gdpa(b, tag));

    grun(a, "dd if=/dev/urandom bs=1M count=32 2>/dev/null | "
            "dcd-guest write %s", tag);
    sha_a = gsha(a, tag);
    sha_b = gsha(b, tag);
    g_assert_cmpstr(sha_a, ==, sha_b);
    /* and the other way */
    grun(b, "dd if=/dev/urandom bs=1M count=32 2>/dev/null | "
            "dcd-guest write %s", tag);
    sha2_b = gsha(b, tag);
    sha2_a = gsha(a, tag);
    g_assert_cmpstr(sha2_a, ==, sha2_b);
    g_assert_cmpstr(sha2_a, !=, sha_a);

    release(tag, 1);
    /* host 2 gives the tag back from inside the guest */
    g_free(grun(b, "dcd-guest release %s --wait", tag));
    /* RELEASED follows once nothing in QEMU reaches the memory */
    twait_count(broker, 2, tag, "released", 1);
    g_assert_cmpuint(tcount(broker, 2, filler, "accepted"), ==, 1);
    release(filler, 2);
    gwait_count(a, NULL, "accepted", 0);
    gwait_count(b, NULL, "accepted", 0);
    destroy(tag);
    destroy(filler);
}

static void test_release_waits(void)
{
    DcdQemuGuest *g = guest(0);
    g_autofree char *tag = epool(broker, 16 * MiB);
    g_autofree char *forced = epool(broker, 16 * MiB);
    g_autofree char *out = NULL;
    gint64 t0, waited;

    share(tag, 1, "free");
    gwait_count(g, tag, "accepted", 1);
    grun(g, "rm -f /tmp/let-go; dcd-guest hold %s -- sh -c 'while [ ! -e "
            "/tmp/let-go ]; do sleep 0.05; done' >/tmp/hold.out 2>&1 &", tag);
    do {
        g_free(out);
        out = grun(g, "cat /tmp/hold.out");
    } while (!strstr(out, "held"));

    g_autoptr(JsonNode) r = tcall(broker, "extent-release",
                                  "{\"host-id\": 1, \"tag\": \"%s\"}", tag);
    t0 = g_get_monotonic_time();
    /* deferred while held; a new holder is refused meanwhile */
    gwait_count(g, tag, "releasing", 1);
    g_usleep(1000000);
    g_assert_cmpuint(tcount(broker, 1, tag, "releasing"), ==, 1);
    g_free(out);
    g_assert_cmpint(grun_rc(g, &out, "dcd-guest hold %s -- true", tag), ==, 1);
    g_assert_nonnull(strstr(out, "releasing"));
    grun(g, "touch /tmp/let-go");
    twait_count(broker, 1, tag, "released", 1);
    waited = g_get_monotonic_time() - t0;
    g_assert_cmpint(waited, >=, G_USEC_PER_SEC);
    gwait_count(g, tag, "releasing", 0);
    g_assert_cmpuint(dev_accepted(g), ==, 0);

    /* a forced release does not wait for the holder */
    share(forced, 1, "free");
    gwait_count(g, forced, "accepted", 1);
    grun(g, "dcd-guest hold %s >/tmp/hold2.out 2>&1 & echo $! >/tmp/hold2.pid",
         forced);
    do {
        g_free(out);
        out = grun(g, "cat /tmp/hold2.out");
    } while (!strstr(out, "held"));
    {
        /* released once the device confirms: wait for it */
        g_autoptr(JsonNode) f = tcall(broker, "extent-release",
                                      "{\"host-id\": 1, \"tag\": \"%s\", "
                                      "\"forced\": true, \"wait\": true}",
                                      forced);
    }
    g_assert_cmpuint(tcount(broker, 1, forced, "released"), ==, 1);
    gwait_count(g, forced, "accepted", 0);
    g_assert_cmpuint(dev_accepted(g), ==, 0);
    grun(g, "kill $(cat /tmp/hold2.pid)");
    destroy(tag);
    destroy(forced);
}

static void agent_restart(DcdQemuGuest *g, const char *env, const char *args)
{
    g_autofree char *out = NULL;

    grun(g, "%s", STOP_AGENT);
    out = grun(g, "%s dcd-guest watch --daemon %s", env, args);
    g_assert_nonnull(strstr(out, "agent ready"));
}

static void test_agent_killed_mid_accept(void)
{
    DcdQemuGuest *g = guest(0);
    g_autofree char *tag = epool(broker, 16 * MiB);
    g_autofree char *asked = epool(broker, 16 * MiB);
    g_autofree char *out = NULL, *log = NULL;

    /* dies after Add DC Response, before its journal knows */
    agent_restart(g, "DCD_GUEST_FAULT=exit-after-answer", "");
    share(tag, 1, "free");
    grun(g, "%s", WAIT_AGENT_GONE);
    out = grun(g, "grep -c '^\\[event' /run/dcd-guest/inflight");
    g_assert_cmpint(atoi(out), ==, 1);
    agent_restart(g, "", "");
    gwait_count(g, tag, "accepted", 1);
    log = grun(g, "cat /run/dcd-guest/agent.log");
    g_assert_nonnull(strstr(log, "it was accepted before"));
    g_free(out);
    out = grun(g, "grep -c '^\\[event' /run/dcd-guest/inflight || true");
    g_assert_cmpint(atoi(out), ==, 0);
    g_assert_cmpuint(tcount(broker, 1, tag, "accepted"), ==, 1);
    g_assert_cmpuint(dev_accepted(g), ==, 1);

    /* killed while an offer waits for `accept`: the offer survives */
    agent_restart(g, "", "--accept=ask");
    eadd(broker, 1, asked, "free");
    gwait_count(g, asked, "pending", 1);
    agent_restart(g, "", "--accept=ask");
    gwait_count(g, asked, "pending", 1);
    g_free(out);
    out = grun(g, "dcd-guest accept %s", asked);
    g_assert_nonnull(strstr(out, "accepted 1 extent"));
    twait_count(broker, 1, asked, "accepted", 1);
    gwait_count(g, asked, "accepted", 1);
    g_assert_cmpuint(dev_accepted(g), ==, 2);

    agent_restart(g, "", "");
    release(tag, 1);
    release(asked, 1);
    gwait_count(g, NULL, "accepted", 0);
    destroy(tag);
    destroy(asked);
}

static void test_broker_restart(void)
{
    DcdQemuGuest *a = guest(0), *b = guest(1), *c;
    g_autofree char *tag = epool(broker, 32 * MiB);
    g_autofree char *sha = NULL, *sha_c = NULL;

    share(tag, 1, "free");
    share(tag, 2, "enable-shared-access");
    gwait_count(a, tag, "accepted", 1);
    grun(a, "dd if=/dev/urandom bs=1M count=32 2>/dev/null | "
            "dcd-guest write %s", tag);
    sha = gsha(a, tag);

    tbroker_kill(broker);
    /* the guests keep their data while the broker is gone */
    g_assert_cmpstr(gsha(b, tag), ==, sha);
    tbroker_restart(broker);
    ewait_connected(broker, 1, true);
    ewait_connected(broker, 2, true);
    g_assert_cmpuint(tcount(broker, 1, tag, "accepted"), ==, 1);
    g_assert_cmpuint(tcount(broker, 2, tag, "accepted"), ==, 1);
    g_assert_cmpstr(gsha(a, tag), ==, sha);
    g_assert_cmpstr(gsha(b, tag), ==, sha);

    /* a third guest reads the same bytes */
    c = guests[2] = gstart(3);
    gready(c, 3);
    share(tag, 3, "enable-shared-access");
    gwait_count(c, tag, "accepted", 1);
    sha_c = gsha(c, tag);
    g_assert_cmpstr(sha_c, ==, sha);

    /* its QEMU quits: the broker takes its extents back */
    dcd_qemu_guest_stop(c);
    guests[2] = NULL;
    twait_count(broker, 3, tag, "accepted", 0);
    release(tag, 1);
    release(tag, 2);
    gwait_count(a, NULL, "accepted", 0);
    gwait_count(b, NULL, "accepted", 0);
    destroy(tag);
}

/*
 * Two CXL host bridges, each with its window and a DCD: ACPI tells them
 * apart.  Then the refusals, on this guest since they leave it unusable.
 */
/* The state of every extent a release returned. */
static void assert_states(JsonNode *r, const char *state)
{
    JsonArray *a = json_object_get_array_member(json_node_get_object(r),
                                                "extents");

    g_assert_cmpuint(json_array_get_length(a), >, 0);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_assert_cmpstr(json_object_get_string_member(
                            json_array_get_object_element(a, i), "state"),
                        ==, state);
    }
}

#define AGENT_PID "$(cat /run/dcd-guest/agent.lock)"

/*
 * An offer withdrawn while the guest holds it unanswered: the broker's
 * forced release (the offer timeout does the same) returns once the
 * device has confirmed it dropped the group.  The guest's late answer
 * maps nothing: the tag's bytes (another VM's data here) are never
 * readable at the offered address, during or after the answer, and
 * dcd-guest does not report it accepted.
 */
static void test_withdrawn_offer_late(void)
{
    DcdQemuGuest *a = guest(0), *b = guest(1);
    g_autofree char *tag = epool(broker, 16 * MiB);
    g_autoptr(JsonNode) r = NULL;
    uint64_t secret, hpa;
    int rc;

    secret = gfill(b, 2, tag);

    agent_restart(a, "", "--accept=ask");
    eadd(broker, 1, tag, "enable-shared-access");
    gwait_count(a, tag, "pending", 1);
    hpa = ghpa(a, tag);
    /* the agent is stopped, so its answer comes after the withdrawal */
    grun(a, "kill -STOP " AGENT_PID);
    r = tcall(broker, "extent-release", "{\"host-id\": 1, \"tag\": \"%s\", "
              "\"forced\": true, \"wait\": true}", tag);
    assert_states(r, "reclaimed");
    g_assert_cmpuint(gpeek_during(a, hpa, secret, 40,
                                  "kill -CONT " AGENT_PID "; dcd-guest "
                                  "accept all", &rc), ==, 0);
    g_assert_cmpint(rc, !=, 0);
    /* the guest's list, the device and the broker agree: nothing */
    gwait_count(a, tag, "pending", 0);
    g_assert_cmpuint(gcount(a, tag, "accepted"), ==, 0);
    g_assert_cmpuint(dev_accepted(a), ==, 0);
    g_assert_cmpuint(tcount(broker, 1, tag, "accepted"), ==, 0);
    g_assert_cmpuint(tcount(broker, 1, tag, "revoking"), ==, 0);
    /* and the tag can be added to the guest at once */
    agent_restart(a, "", "");
    share(tag, 1, "enable-shared-access");
    gwait_count(a, tag, "accepted", 1);
    g_assert_cmpuint(gword(a, tag), ==, secret);
    release(tag, 1);
    release(tag, 2);
    gwait_count(a, NULL, "accepted", 0);
    gwait_count(b, NULL, "accepted", 0);
    destroy(tag);
}

/*
 * A guest that never answers a forced release (its agent stopped, as
 * the Linux DCD series ignores Forced Release) keeps no access: the
 * device unmaps at once and confirms, and the bytes are gone from the
 * guest's physical address space.
 */
static void test_forced_release_unanswered(void)
{
    DcdQemuGuest *a = guest(0);
    g_autofree char *tag = epool(broker, 16 * MiB);
    g_autoptr(JsonNode) r = NULL;
    uint64_t secret, hpa;
    int rc;

    secret = gfill(a, 1, tag);
    hpa = ghpa(a, tag);
    g_assert_cmpuint(gpeek_during(a, hpa, secret, 2, "true", &rc), ==, 2);
    grun(a, "kill -STOP " AGENT_PID);
    r = tcall(broker, "extent-release", "{\"host-id\": 1, \"tag\": \"%s\", "
              "\"forced\": true, \"wait\": true}", tag);
    assert_states(r, "released");
    g_assert_cmpuint(dev_accepted(a), ==, 0);
    g_assert_cmpuint(gpeek_during(a, hpa, secret, 10, "true", &rc), ==, 0);
    grun(a, "kill -CONT " AGENT_PID);
    gwait_count(a, tag, "accepted", 0);
    destroy(tag);
}

/*
 * A forced release to a host whose connection is cut while its QEMU
 * runs: the broker cannot hear the host confirm, so the range stays the
 * host's (revoking, shown in host list) and the pool cannot be
 * destroyed, while that guest still uses it.  When the connection comes
 * back the host lists what it holds, is told to drop it, and confirms.
 */
static void test_forced_release_cut_off(void)
{
    TRelay *relay = trelay_new(broker->dir, broker->host_sock);
    DcdQemuGuest *c = gstart_sock(3, 0, trelay_path(relay), false);
    g_autofree char *tag = epool(broker, 16 * MiB);
    g_autofree char *sha = NULL, *why = NULL;
    g_autoptr(JsonObject) h = NULL;
    uint64_t secret, hpa;
    int rc;

    gready(c, 3);
    secret = gfill(c, 3, tag);
    sha = gsha(c, tag);
    hpa = ghpa(c, tag);

    trelay_cut(relay);
    ewait_connected(broker, 3, false);
    why = tcall_fail(broker, DCD_ERR_TIMEOUT, "extent-release",
                     "{\"host-id\": 3, \"tag\": \"%s\", \"forced\": true, "
                     "\"wait\": true, \"timeout-ms\": 2000}", tag);
    g_assert_cmpuint(tcount(broker, 3, tag, "revoking"), ==, 1);
    h = ehost(broker, 3);
    g_assert_cmpint(json_object_get_int_member(h, "revoking"), ==, 1);
    g_free(tcall_fail(broker, DCD_ERR_BUSY, "pool-destroy",
                      "{\"tag\": \"%s\"}", tag));
    /* the cut-off guest still reaches them: the broker counts them its */
    g_assert_cmpstr(gsha(c, tag), ==, sha);

    trelay_restore(relay);
    ewait_connected(broker, 3, true);
    twait_count(broker, 3, tag, "released", 1);
    g_assert_cmpuint(tcount(broker, 3, tag, "revoking"), ==, 0);
    g_assert_cmpuint(dev_accepted(c), ==, 0);
    gwait_count(c, tag, "accepted", 0);
    g_assert_cmpuint(gpeek_during(c, hpa, secret, 10, "true", &rc), ==, 0);
    destroy(tag);
    dcd_qemu_guest_stop(c);
    trelay_free(relay);
}

static void test_two_host_bridges(void)
{
    DcdQemuGuest *g = gstart_opts(4, 5);
    g_autofree char *t4 = epool(broker, 16 * MiB);
    g_autofree char *t5 = epool(broker, 16 * MiB);
    g_autofree char *s4 = NULL, *s5 = NULL, *w4 = NULL, *w5 = NULL;
    g_autofree char *out = NULL;
    g_autoptr(JsonNode) n = NULL;
    JsonArray *regions;
    uint64_t hpa0, hpa1;

    gready(g, 4);
    ewait_connected(broker, 5, true);
    n = glist(g);
    regions = json_object_get_array_member(json_node_get_object(n), "regions");
    g_assert_cmpuint(json_array_get_length(regions), ==, 2);
    hpa0 = json_object_get_int_member(json_array_get_object_element(regions, 0),
                                      "hpa");
    hpa1 = json_object_get_int_member(json_array_get_object_element(regions, 1),
                                      "hpa");
    /* each in the window of its own host bridge: 4 GiB apart at least */
    g_assert_cmpuint(MAX(hpa0, hpa1) - MIN(hpa0, hpa1), >=, 4ull << 30);

    share(t4, 4, "free");
    share(t5, 5, "free");
    gwait_count(g, NULL, "accepted", 2);
    w4 = grun(g, "dd if=/dev/urandom bs=1M count=16 2>/dev/null | "
                 "dcd-guest write %s", t4);
    w5 = grun(g, "dd if=/dev/zero bs=1M count=16 2>/dev/null | "
                 "dcd-guest write %s", t5);
    s4 = gsha(g, t4);
    s5 = gsha(g, t5);
    g_assert_cmpstr(s4, !=, s5);
    /* 16 MiB of zeros */
    g_assert_cmpstr(s5, ==, "080acf35a507ac9849cfcba47dc2ad83e01b75663a516279c8b9d243b719643e");

    release(t4, 4);
    release(t5, 5);
    gwait_count(g, NULL, "accepted", 0);

    /* where it cannot work, it says so: not root, then a locked-down kernel */
    grun(g, "%s", STOP_AGENT);
    grun(g, "mkdir -p /etc; echo 'nobody:x:65534:65534::/:/bin/sh' >> /etc/passwd");
    g_assert_cmpint(grun_rc(g, &out, "su nobody -s /bin/sh -c "
                            "'dcd-guest watch'"), ==, 1);
    g_assert_nonnull(strstr(out, "not root"));
    g_free(out);
    grun(g, "mkdir -p /sys/kernel/security; mount -t securityfs securityfs "
            "/sys/kernel/security; echo integrity > "
            "/sys/kernel/security/lockdown");
    g_assert_cmpint(grun_rc(g, &out, "dcd-guest watch"), ==, 1);
    g_assert_nonnull(strstr(out, "locked down"));
    dcd_qemu_guest_stop(g);
    destroy(t4);
    destroy(t5);
}

static void test_reset_and_poweroff(void)
{
    DcdQemuGuest *a = guest(0), *b = guest(1);
    g_autofree char *tag = epool(broker, 32 * MiB);
    g_autofree char *asked = epool(broker, 16 * MiB);
    g_autofree char *sha = NULL;
    g_autoptr(GError) err = NULL;
    gint64 t0;

    share(tag, 1, "free");
    share(tag, 2, "enable-shared-access");
    gwait_count(a, tag, "accepted", 1);
    grun(a, "dd if=/dev/urandom bs=1M count=32 2>/dev/null | "
            "dcd-guest write %s", tag);
    sha = gsha(a, tag);
    /* and an offer host 1's agent leaves unanswered */
    agent_restart(a, "", "--accept=ask");
    eadd(broker, 1, asked, "free");
    gwait_count(a, asked, "pending", 1);
    g_assert_cmpuint(tcount(broker, 1, asked, "pending"), >, 0);

    /* reset: host 1's extents are gone, host 2 keeps its own and the data */
    g_assert_true(dcd_qmp_run(a->vm.qmp, "system_reset", NULL, &err));
    t0 = g_get_monotonic_time();
    twait_count(broker, 1, tag, "accepted", 0);
    /* the device rejected the offer at once, not at the offer timeout */
    twait_count(broker, 1, asked, "pending", 0);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
    g_assert_cmpuint(tcount(broker, 2, tag, "accepted"), ==, 1);
    g_assert_cmpstr(gsha(b, tag), ==, sha);
    /* the guest comes back up clean */
    g_clear_pointer(&a->kernel, g_free);
    gready(a, 1);
    g_assert_cmpuint(gcount(a, NULL, "accepted"), ==, 0);
    g_assert_cmpuint(dev_accepted(a), ==, 0);
    /* the tag is added again as soon as the guest is back */
    share(asked, 1, "free");
    gwait_count(a, asked, "accepted", 1);
    release(asked, 1);
    gwait_count(a, NULL, "accepted", 0);
    destroy(asked);

    /* power-off from inside the guest: the same */
    {
        g_autoptr(GError) gone = NULL;

        /* the channel closes with QEMU, and the error says how it ended */
        g_assert_cmpint(dcd_qemu_guest_run(b, "poweroff -f", NULL, 30000,
                                           &gone), ==, -1);
        g_assert_nonnull(strstr(gone->message, "closed the guest's command "
                                "channel (exited with status 0)"));
    }
    g_assert_true(dcd_qemu_guest_wait_exit(b, 30000));
    twait_count(broker, 2, tag, "accepted", 0);
    dcd_qemu_guest_stop(b);
    guests[1] = NULL;
    destroy(tag);
}

/*
 * Brokers on two servers sharing one CXL device, each with a real guest:
 * a device pool made on n1 reaches both guests, one's dataset is the
 * other's (SHA-256 from inside each), and the release of n1's host goes
 * through n2, whose broker asks n1's.
 */
static TBroker *node_broker(TEtcd *e, const char *node, const char *dev)
{
    g_autofree char *store = g_strdup_printf("--cluster-store=%s",
                                             e->store_url);
    g_autofree char *name = g_strdup_printf("--node=%s", node);
    g_autofree char *device = g_strdup_printf("--shared-device=%s", dev);
    const char *extra[] = { store, name, device, "--lease-ttl=10",
                            "--store-timeout=2000", NULL };
    TBrokerOpts o = { .log = true, .extra = extra, .no_state_dir = true };

    return tbroker_new(&o);
}

static void test_two_brokers_one_device(void)
{
    TEtcd *e = tetcd_start();
    g_autofree char *dir = g_dir_make_tmp("dcd-dev-XXXXXX", NULL);
    g_autofree char *dev = g_build_filename(dir, "device", NULL);
    TBroker *b1, *b2;
    DcdQemuGuest *ga, *gb;
    g_autofree char *tag = NULL, *sha_a = NULL, *sha_b = NULL;
    g_autofree char *sha2_a = NULL, *sha2_b = NULL;
    gint64 deadline;
    int fd = open(dev, O_RDWR | O_CREAT, 0600);

    g_assert_cmpint(ftruncate(fd, 256 * MiB), ==, 0);
    close(fd);
    b1 = node_broker(e, "n1", dev);
    b2 = node_broker(e, "n2", dev);
    ga = gstart_sock(21, 0, b1->host_sock, true);
    gb = gstart_sock(22, 0, b2->host_sock, true);
    gready_on(ga, b1, 21);
    gready_on(gb, b2, 22);

    tag = epool(b1, 32 * MiB);
    eadd(b1, 21, tag, "free");
    twait_count(b1, 21, tag, "accepted", 1);
    /* n2 follows the layout n1's first add fixed. */
    deadline = g_get_monotonic_time() + E_WAIT_US;
    while (json_array_get_length(json_object_get_array_member(
               epool_info(b2, tag), "segments")) == 0) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50000);
    }
    eadd(b2, 22, tag, "enable-shared-access");
    twait_count(b2, 22, tag, "accepted", 1);
    gwait_count(ga, tag, "accepted", 1);
    gwait_count(gb, tag, "accepted", 1);

    g_free(grun(ga, "dd if=/dev/urandom bs=1M count=32 2>/dev/null | "
                    "dcd-guest write %s", tag));
    sha_a = gsha(ga, tag);
    sha_b = gsha(gb, tag);
    g_test_message("n1's guest %s, n2's guest %s", sha_a, sha_b);
    g_assert_cmpstr(sha_a, ==, sha_b);
    g_free(grun(gb, "dd if=/dev/urandom bs=1M count=32 2>/dev/null | "
                    "dcd-guest write %s", tag));
    sha2_b = gsha(gb, tag);
    sha2_a = gsha(ga, tag);
    g_assert_cmpstr(sha2_a, ==, sha2_b);
    g_assert_cmpstr(sha2_a, !=, sha_a);

    /* Host 21 is n1's: n2 has n1's broker release it. */
    json_node_unref(tcall(b2, "extent-release", "{\"host-id\": 21,"
                          " \"tag\": \"%s\", \"wait\": true}", tag));
    g_assert_cmpuint(tcount(b1, 21, tag, "released"), ==, 1);
    g_free(grun(gb, "dcd-guest release %s --wait", tag));
    gwait_count(ga, NULL, "accepted", 0);
    gwait_count(gb, NULL, "accepted", 0);
    deadline = g_get_monotonic_time() + E_WAIT_US;
    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) r = tcall_try(b2, &err, "pool-destroy",
                                          "{\"tag\": \"%s\"}", tag);

        if (r) {
            break;
        }
        /* n2 hears of n1's released extents by the watch. */
        g_assert_true(g_error_matches(err, DCD_ERROR, DCD_ERR_BUSY));
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50000);
    }
    dcd_qemu_guest_stop(ga);
    dcd_qemu_guest_stop(gb);
    tbroker_free(b1);
    tbroker_free(b2);
    tetcd_free(e);
    trm_tree(dir);
}

int main(int argc, char **argv)
{
    const char *rig = g_getenv("DCD_GUEST_RIG");
    int rc;

    g_test_init(&argc, &argv, NULL);
    e2e_require();
    if (!rig || !g_file_test(rig, G_FILE_TEST_IS_DIR)) {
        printf("Bail out! DCD_GUEST_RIG is not a guest rig (make guest "
               "builds it)\n");
        return 1;
    }
    broker = ebroker_start();
    g_test_add_func("/guest/command-channel", test_command_channel);
    g_test_add_func("/guest/command-mangled", test_command_mangled);
    g_test_add_func("/guest/one-guest", test_one_guest);
    g_test_add_func("/guest/two-guests-share", test_two_guests_share);
    g_test_add_func("/guest/release-waits-for-holder", test_release_waits);
    g_test_add_func("/guest/agent-killed-mid-accept",
                    test_agent_killed_mid_accept);
    g_test_add_func("/guest/broker-restart", test_broker_restart);
    g_test_add_func("/guest/withdrawn-offer-late", test_withdrawn_offer_late);
    g_test_add_func("/guest/forced-release-unanswered",
                    test_forced_release_unanswered);
    g_test_add_func("/guest/two-host-bridges", test_two_host_bridges);
    g_test_add_func("/guest/forced-release-cut-off",
                    test_forced_release_cut_off);
    g_test_add_func("/guest/reset-and-poweroff", test_reset_and_poweroff);
    g_test_add_func("/guest/two-brokers-one-device",
                    test_two_brokers_one_device);
    rc = g_test_run();
    for (unsigned i = 0; i < G_N_ELEMENTS(guests); i++) {
        if (guests[i]) {
            dcd_qemu_guest_stop(guests[i]);
        }
    }
    tbroker_free(broker);
    return rc;
}
