/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest-probe.c - runs inside a guest: nanoseconds per 8-byte access
 * on guest RAM, on a tag mapped by dcd-guest (a direct-mapped extent)
 * and on a fixed-window range the device emulates access by access
 * (the slow path: static capacity of a second device).  The three
 * alternate within each round so that they see the same machine.
 * Prints one JSON object: {"samples": [{"round", "test", "memory",
 * "ns"}...]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dcd-guest/devmem.h"
#include "dcd-guest/state.h"
#include "dcd-guest/tag.h"

#define MiB (1ull << 20)
#define LINE 64

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double seq_store(volatile uint64_t *p, size_t bytes)
{
    size_t n = bytes / 8;
    double t0 = now_ns();

    for (size_t i = 0; i < n; i++) {
        p[i] = i;
    }
    return (now_ns() - t0) / n;
}

static double seq_load(volatile uint64_t *p, size_t bytes)
{
    size_t n = bytes / 8;
    uint64_t sum = 0;
    double t0 = now_ns();

    for (size_t i = 0; i < n; i++) {
        sum += p[i];
    }
    t0 = (now_ns() - t0) / n;
    /* keep the loads */
    return sum == 42 ? t0 + 1e-9 : t0;
}

/*
 * A random cycle through the cache lines of [p, p + bytes): each line's
 * first word holds the address of the next, so each load waits for the
 * one before.
 */
static double rand_load(uint64_t *p, size_t bytes, unsigned steps,
                        GRand *r)
{
    size_t n = bytes / LINE;
    g_autofree uint32_t *order = g_new(uint32_t, n);
    volatile uint64_t *q;
    double t0;

    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = g_rand_int_range(r, 0, i + 1);
        uint32_t t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        p[order[i] * (LINE / 8)] =
            (uint64_t)(uintptr_t)&p[order[(i + 1) % n] * (LINE / 8)];
    }
    q = (volatile uint64_t *)&p[order[0] * (LINE / 8)];
    t0 = now_ns();
    for (unsigned i = 0; i < steps; i++) {
        q = (volatile uint64_t *)(uintptr_t)*q;
    }
    t0 = (now_ns() - t0) / steps;
    return q ? t0 : -1;
}

/* The slow path: the first static capacity range the agent mapped. */
static void *slow_range(size_t bytes, GError **errp)
{
    g_autofree char *path = dcd_guest_path("state");
    g_autoptr(DcdGuestState) s = dcd_guest_state_load(path, errp);

    for (guint i = 0; s && i < s->regions->len; i++) {
        const DcdGuestRegion *r = &g_array_index(s->regions, DcdGuestRegion, i);

        if (r->index < 0 && r->len >= bytes) {
            return dcd_devmem_map(r->hpa, bytes, NULL, errp);
        }
    }
    if (s) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_NOTFOUND,
                    "no static capacity of %zu bytes is mapped", bytes);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    g_autofree char *tag = NULL;
    int rounds = 9, seq_mib = 16, slow_steps = 20000, steps = 1 << 20;
    const GOptionEntry entries[] = {
        { "tag", 0, 0, G_OPTION_ARG_STRING, &tag,
          "the tag to measure (at least --seq-mib)", "UUID" },
        { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "rounds (9)", "N" },
        { "seq-mib", 0, 0, G_OPTION_ARG_INT, &seq_mib,
          "sequential and large random size (16)", "N" },
        { "steps", 0, 0, G_OPTION_ARG_INT, &steps,
          "dependent loads per random run (2^20)", "N" },
        { "slow-steps", 0, 0, G_OPTION_ARG_INT, &slow_steps,
          "... on the slow path (20000)", "N" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- access speed");
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdGuestTag) t = NULL;
    g_autoptr(GRand) r = g_rand_new_with_seed(1);
    size_t bytes;
    void *mem[3];
    const char *names[3] = { "ram", "extent", "slow" };
    const char *tests[4] = { "seq-store", "seq-load", "rand-load-16M",
                             "rand-load-1M" };
    DcdTag tg;
    bool first = true;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || !tag ||
        !dcd_tag_parse(tag, &tg) || rounds < 1 || seq_mib < 1 ||
        steps < 1 || slow_steps < 1) {
        fprintf(stderr, "guest-probe: %s\n", err ? err->message :
                "--tag UUID and positive counts are needed");
        return 2;
    }
    bytes = (size_t)seq_mib * MiB;
    if (posix_memalign(&mem[0], 2 * MiB, bytes)) {
        fprintf(stderr, "guest-probe: no memory\n");
        return 1;
    }
    memset(mem[0], 1, bytes);
    if (!(t = dcd_guest_tag_open(&tg, &err)) ||
        !(mem[2] = slow_range(bytes, &err))) {
        fprintf(stderr, "guest-probe: %s\n", err->message);
        return 1;
    }
    if (dcd_guest_tag_size(t) < bytes) {
        fprintf(stderr, "guest-probe: the tag has fewer than %zu bytes\n",
                bytes);
        return 1;
    }
    mem[1] = dcd_guest_tag_data(t);

    printf("{\"samples\": [");
    for (int round = 0; round < rounds; round++) {
        for (unsigned test = 0; test < 4; test++) {
            for (unsigned k = 0; k < 3; k++) {
                /* rotate who goes first from round to round */
                unsigned m = (k + round) % 3;
                unsigned n = m == 2 ? slow_steps : steps;
                double ns;

                switch (test) {
                case 0: ns = seq_store(mem[m], bytes); break;
                case 1: ns = seq_load(mem[m], bytes); break;
                case 2: ns = rand_load(mem[m], bytes, n, r); break;
                default: ns = rand_load(mem[m], MIN(bytes, MiB), n, r); break;
                }
                printf("%s\n{\"round\": %d, \"test\": \"%s\", \"memory\": "
                       "\"%s\", \"ns\": %.3f}", first ? "" : ",", round,
                       tests[test], names[m], ns);
                first = false;
                fflush(stdout);
            }
        }
    }
    printf("\n]}\n");
    free(mem[0]);
    return 0;
}
