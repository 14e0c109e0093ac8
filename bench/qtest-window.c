/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qtest-window - bytes per second of qtest writes through the CXL fixed
 * memory window, slow path (emulated MMIO) and fast path (direct alias)
 * side by side in one QEMU.  A benchmark, not a test: it prints a table
 * and writes JSON.
 *
 * Layout: a tagged device, decoder 0 maps DPA [0, 256M) at the window
 * base, decoder 1 maps DPA [256M, 512M) 512 MiB further.  The fast
 * extent lies inside decoder 0, so QEMU aliases it; the slow extent
 * straddles both decoders, so no decoder holds it whole and every
 * access is emulated.  Only its first half (under decoder 0, contiguous
 * in HPA) is written.
 */
#include <stdio.h>
#include <string.h>

#include "benchlib.h"
#include "benchvm.h"
#include "dcd/json.h"

#define TAG_FAST "a1d0f7e4-3c52-4d8e-9a61-0b7e2f4c8d10"
#define TAG_SLOW "b2e1a8f5-4d63-4e9f-8b72-1c8f3a5d9e21"
#define EXT_LEN (64 * MiB)
#define FAST_DPA 0
#define SLOW_DPA (224 * MiB)

static int opt_mib = 32;
static int opt_ops = 20000;
static char *opt_json;

typedef struct Result {
    const char *path;
    const char *mapping;
    size_t op_size;
    uint64_t bytes;
    double seconds;
    uint64_t round_trips;
} Result;

static void add_extent(DcdQemuVm *q, const char *id, const char *tag,
                       uint64_t offset)
{
    uint64_t ol[] = { offset, EXT_LEN };
    g_autoptr(GArray) g = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *file = dcd_qemu_vm_backend(q, id, tag, EXT_LEN, &err);

    if (!file ||
        !dcd_qmp_run(q->qmp, "cxl-add-dynamic-capacity",
                     dcd_qemu_add_args(0, tag, ol, 1), &err) ||
        !(g = dcd_next_group(&q->md->mbox, &err))) {
        g_error("adding the %s extent: %s", id, err->message);
    }
    if (g->len != 1 || g_array_index(g, DcdEvent, 0).type != DCD_EV_ADD) {
        g_error("adding the %s extent: unexpected DC events", id);
    }
    if (!dcd_add_response(&q->md->mbox,
                          &g_array_index(g, DcdEvent, 0).extent, 1, &err)) {
        g_error("accept: %s", err->message);
    }
}

static char *mapping_of(DcdQemuVm *q, uint64_t dpa)
{
    g_autoptr(JsonNode) l = NULL;
    JsonObject *o;

    if (!dcd_qmp_has_command(q->qmp, "cxl-query-dynamic-capacity")) {
        return g_strdup("unknown");
    }
    l = dcd_qemu_vm_query(q, NULL);
    o = l ? dcd_qemu_query_at(l, dpa) : NULL;
    return g_strdup(o ? json_object_get_string_member(o, "mapping") : "none");
}

static void run(DcdQemuVm *q, uint64_t hpa, uint64_t span, size_t op,
                Result *r)
{
    g_autofree uint8_t *buf = g_malloc(MAX(op, 8));
    uint64_t trips0 = dcd_qtest_round_trips(q->io);
    uint64_t total = op == 8 ? (uint64_t)opt_ops * 8 : (uint64_t)opt_mib * MiB;
    double t0;

    dcd_pattern_fill(buf, MAX(op, 8), op);
    t0 = bench_now_us() / 1e6;
    for (uint64_t done = 0; done < total; done += op) {
        uint64_t a = hpa + done % span;

        if (op == 8) {
            dcd_io_wr64(q->io, a, done);
        } else {
            dcd_io_write(q->io, a, buf, op);
        }
    }
    if (!dcd_io_check(q->io, NULL)) {
        g_error("qtest failed during the run");
    }
    r->seconds = bench_now_us() / 1e6 - t0;
    r->bytes = total;
    r->op_size = op;
    r->round_trips = dcd_qtest_round_trips(q->io) - trips0;
}

static void write_json(const char *path, Result *res, unsigned n)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(GDateTime) dt = g_date_time_new_now_utc();
    g_autofree char *when = g_date_time_format_iso8601(dt);

    json_builder_begin_object(b);
    dcd_json_str(b, "benchmark", "qtest-window");
    dcd_json_str(b, "date", when);
    json_builder_set_member_name(b, "results");
    json_builder_begin_array(b);
    for (unsigned i = 0; i < n; i++) {
        json_builder_begin_object(b);
        dcd_json_str(b, "path", res[i].path);
        dcd_json_str(b, "mapping", res[i].mapping);
        dcd_json_int(b, "op_bytes", res[i].op_size);
        dcd_json_int(b, "bytes", res[i].bytes);
        dcd_json_double(b, "seconds", res[i].seconds);
        dcd_json_double(b, "bytes_per_second", res[i].bytes / res[i].seconds);
        dcd_json_int(b, "round_trips", res[i].round_trips);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    if (!bench_json_write(b, path, &err)) {
        g_error("%s: %s", path, err->message);
    }
}

int main(int argc, char **argv)
{
    static const GOptionEntry entries[] = {
        { "mib", 0, 0, G_OPTION_ARG_INT, &opt_mib,
          "MiB written per block-size run (default 32)", "N" },
        { "ops", 0, 0, G_OPTION_ARG_INT, &opt_ops,
          "8-byte writes per run (default 20000)", "N" },
        { "json", 0, 0, G_OPTION_ARG_FILENAME, &opt_json,
          "write results as JSON to PATH", "PATH" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "- qtest write throughput through the CXL window");
    g_autoptr(GError) err = NULL;
    static const size_t ops[] = { 8, 4096, 1 << 20 };
    DcdQemuVmOpts o = { .dc_regions = 1, .dc_total_size = 1 * GiB };
    Result res[2 * G_N_ELEMENTS(ops)];
    g_autofree char *fast_map = NULL, *slow_map = NULL;
    DcdMapping m0, m1;
    DcdQemuVm *q;
    uint64_t w, fast_hpa, slow_hpa;
    unsigned n = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("%s\n", err->message);
        return 2;
    }
    q = bench_vm_start(&o);
    w = q->plat.windows[0].base;
    add_extent(q, "fast", TAG_FAST, FAST_DPA);
    add_extent(q, "slow", TAG_SLOW, SLOW_DPA);
    if (!dcd_memdev_map(q->md, 0, w, 0, 256 * MiB, &m0, &err) ||
        !dcd_memdev_map(q->md, 0, w + 512 * MiB, 256 * MiB, 256 * MiB, &m1,
                        &err)) {
        g_error("decoders: %s", err->message);
    }
    dcd_mapping_hpa(&m0, FAST_DPA, EXT_LEN, &fast_hpa);
    dcd_mapping_hpa(&m0, SLOW_DPA, 32 * MiB, &slow_hpa);
    fast_map = mapping_of(q, FAST_DPA);
    slow_map = mapping_of(q, SLOW_DPA);
    /* touch every page of both backends once so no run pays for faults */
    {
        Result warm;

        run(q, slow_hpa, 32 * MiB, 1 << 20, &warm);
        run(q, fast_hpa, 32 * MiB, 1 << 20, &warm);
    }

    for (unsigned i = 0; i < G_N_ELEMENTS(ops); i++) {
        res[n] = (Result){ .path = "slow", .mapping = slow_map };
        run(q, slow_hpa, 32 * MiB, ops[i], &res[n++]);
        res[n] = (Result){ .path = "fast", .mapping = fast_map };
        run(q, fast_hpa, 32 * MiB, ops[i], &res[n++]);
    }
    dcd_qemu_vm_stop(q);

    printf("%-5s %-7s %9s %12s %9s %12s %10s\n", "path", "mapping", "op",
           "bytes", "seconds", "MB/s", "trips");
    for (unsigned i = 0; i < n; i++) {
        printf("%-5s %-7s %9zu %12" G_GUINT64_FORMAT " %9.3f %12.2f %10"
               G_GUINT64_FORMAT "\n", res[i].path, res[i].mapping,
               res[i].op_size, res[i].bytes, res[i].seconds,
               res[i].bytes / res[i].seconds / 1e6, res[i].round_trips);
    }
    for (unsigned i = 0; i + 1 < n; i += 2) {
        printf("fast/slow at %zu-byte writes: %.2fx\n", res[i].op_size,
               (res[i + 1].bytes / res[i + 1].seconds) /
               (res[i].bytes / res[i].seconds));
    }
    if (opt_json) {
        write_json(opt_json, res, n);
        printf("results written to %s\n", opt_json);
    }
    return 0;
}
