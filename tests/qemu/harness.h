/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.h - QEMU under qtest and QMP, driven by dcd-host.
 *
 * Owns: finding the QEMU binary (env DCD_QEMU) and asserting on what
 * dcd-host's QEMU VMs (dcd-host/qemu-vm.h) and QMP do: failures are test
 * failures, with QEMU's output shown.
 */
#ifndef DCD_TEST_QEMU_HARNESS_H
#define DCD_TEST_QEMU_HARNESS_H

#include "dcd-host/alloc.h"
#include "dcd-host/qemu-vm.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define DCD_PATH DCD_QEMU_DEV_PATH

/* The VMs are dcd-host's QEMU VMs; failures here are test failures. */
typedef DcdQemuVmOpts TQemuOpts;
typedef DcdQemuVm TQemu;

/* Exit with "Bail out!" unless DCD_QEMU names an executable. */
void tqemu_require_binary(void);
const char *tqemu_binary(void);

TQemu *tqemu_start(const TQemuOpts *o);
/* quit over QMP (SIGKILL if it does not go), clean up; did QEMU exit? */
bool tqemu_stop(TQemu *q);
/* SIGKILL QEMU, then tqemu_stop(). */
bool tqemu_kill(TQemu *q);
/* QEMU's stdout and stderr as a test message. */
void tqemu_show_log(TQemu *q);

/* QMP helpers: must succeed / must fail (returns QEMU's desc). */
JsonNode *tqmp(TQemu *q, const char *cmd, JsonNode *args);
void tqmp_ok(TQemu *q, const char *cmd, JsonNode *args);
char *tqmp_fail(TQemu *q, const char *cmd, JsonNode *args);
char *thmp(TQemu *q, const char *cmdline);

/* QMP arguments of the device's DC commands (dcd-host/qemu-vm.h). */
#define tadd_args dcd_qemu_add_args
#define trelease_args dcd_qemu_release_args

/* The next DC event group; asserts it has n records of type. */
GArray *tgroup(TQemu *q, unsigned n, unsigned type);
/* Asserts g has n records of type, "more" set on all but the last. */
void tgroup_check(GArray *g, unsigned n, unsigned type);
/* Accepted extents now; asserts success. */
GArray *textents(TQemu *q, uint32_t *gen);

/* A temporary file of size bytes in q's dir (for memory-backend-file). */
char *tfile(TQemu *q, const char *name, uint64_t size);
/* Read back len bytes at off of a file. */
void tfile_read(const char *path, uint64_t off, void *buf, size_t len);

#define tpattern dcd_pattern_fill

/*
 * What the QEMU binary offers of the tagged-memory series, probed once
 * with a throw-away QEMU.  Each names the patch that brings it.
 */
typedef struct TFeatures {
    bool tag;           /* 1: memory backend 'tag' */
    bool total_size;    /* 2: cxl-type3 'dc-regions-total-size' */
    bool query;         /* 4: cxl-query-dynamic-capacity */
    bool tag_release;   /* 5: tag-based release */
    bool direct;        /* 6: direct aliases ("direct" mapping) */
    bool shared;        /* 7: shared-seq, 'dc-regions-sharable' */
} TFeatures;
const TFeatures *tfeatures(void);
/*
 * False (and the test failed) when a feature is missing; with
 * DCD_QEMU_ALLOW_MISSING=1 in the environment the test is skipped.
 */
bool trequire(bool have, const char *what);

/* object-add a tagged memory-backend-file; returns its file. */
char *tbackend(TQemu *q, const char *id, const char *tag, uint64_t size);
/* cxl-query-dynamic-capacity of the device (an array node). */
JsonNode *tquery(TQemu *q);
/* The queried extent at dpa, or NULL. */
#define tquery_at dcd_qemu_query_at
/* Does "info mtree" show the direct alias of the extent at dpa? */
bool talias(TQemu *q, uint64_t dpa);

#endif
