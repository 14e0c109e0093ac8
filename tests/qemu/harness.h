/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.h - QEMU under qtest and QMP, driven by dcd-host.
 *
 * Owns: finding the QEMU binary (env DCD_QEMU), a private directory per
 * QEMU, the command line of our CXL topology, listening for QEMU's qtest
 * and QMP connections, bringing the machine up with dcd-host, and
 * stopping QEMU.  Failures are test failures, with QEMU's stderr shown.
 */
#ifndef DCD_TEST_QEMU_HARNESS_H
#define DCD_TEST_QEMU_HARNESS_H

#include "dcd-host/alloc.h"
#include "dcd-host/qemu-platform.h"
#include "dcd-host/driver.h"
#include "dcd-host/qmp.h"
#include "dcd-host/qtest.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define DCD_PATH "/machine/peripheral/cxl-dcd0"

typedef struct TQemuOpts {
    uint64_t window_size;       /* default 4 GiB */
    unsigned dc_regions;        /* default 1 */
    uint64_t dc_memdev_size;    /* classic: a volatile-dc-memdev file */
    uint64_t dc_total_size;     /* tagged: dc-regions-total-size */
    const char *dev_props;      /* appended to the cxl-type3 device, ",..." */
    const char *const *extra;   /* more QEMU arguments, NULL ended */
    bool probe_root_buses;      /* ignore query-pci, probe like firmware */
    const char *name;           /* in messages: "QEMU (name) ..." */
    bool show_log;              /* show QEMU's output when it stops, too */
} TQemuOpts;

typedef struct TQemu {
    GSubprocess *proc;
    bool exited;
    char *dir;
    char *name;                 /* "QEMU" or "QEMU (name)" */
    bool show_log;
    char *dc_file;              /* the volatile-dc-memdev's file, if any */
    DcdHostIo *io;
    DcdQmp *qmp;
    DcdPlatform plat;
    DcdDriver *host;
    DcdMemdev *md;
} TQemu;

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

/* cxl-add-dynamic-capacity, prescriptive; tag may be NULL. */
JsonNode *tadd_args(unsigned region, const char *tag, const uint64_t *ol,
                    unsigned n);
/* cxl-release-dynamic-capacity; policy "prescriptive" or "tag-based". */
JsonNode *trelease_args(const char *policy, unsigned region, const char *tag,
                        const uint64_t *ol, unsigned n);

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

void tpattern(void *buf, size_t len, unsigned seed);

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
JsonObject *tquery_at(JsonNode *list, uint64_t dpa);
/* Does "info mtree" show the direct alias of the extent at dpa? */
bool talias(TQemu *q, uint64_t dpa);

#endif
