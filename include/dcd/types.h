/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd/types.h - words shared by the broker, its clients and the docs.
 *
 * Owns: tag, policy, removal policy, backing kind, extent state and the
 * error codes, with their canonical names.  The numeric values of the
 * selection and removal policies are the CXL ones (Initiate Dynamic
 * Capacity Add/Release, 5604h/5605h).
 */
#ifndef DCD_TYPES_H
#define DCD_TYPES_H

#include <stdbool.h>
#include <stdint.h>
#include <uuid/uuid.h>
#include <glib.h>

G_BEGIN_DECLS

/* A tag is a UUID; the all-zero UUID means "untagged". */
typedef struct DcdTag {
    uint8_t b[16];
} DcdTag;

#define DCD_TAG_STR_LEN 37 /* 36 characters and the NUL */

bool dcd_tag_parse(const char *s, DcdTag *tag);
void dcd_tag_unparse(const DcdTag *tag, char out[DCD_TAG_STR_LEN]);
bool dcd_tag_is_null(const DcdTag *tag);
bool dcd_tag_equal(const DcdTag *a, const DcdTag *b);
void dcd_tag_generate(DcdTag *tag);

/* CXL selection policy, as in Initiate Dynamic Capacity Add. */
typedef enum DcdPolicy {
    DCD_POLICY_FREE = 0,
    DCD_POLICY_CONTIGUOUS = 1,
    DCD_POLICY_PRESCRIPTIVE = 2,
    DCD_POLICY_ENABLE_SHARED = 3,
    DCD_POLICY__MAX,
} DcdPolicy;

/* CXL removal policy, bits 3:0 of Initiate Dynamic Capacity Release. */
typedef enum DcdRemoval {
    DCD_REMOVAL_TAG = 0,
    DCD_REMOVAL_PRESCRIPTIVE = 1,
    DCD_REMOVAL__MAX,
} DcdRemoval;

/* What memory backs a pool. */
typedef enum DcdBacking {
    DCD_BACKING_MEMFD = 1,
    DCD_BACKING_FILE = 2,
    DCD_BACKING_HUGETLB = 3,
    /* Ranges of the shared device; on the wire a file (the device's fd). */
    DCD_BACKING_DEVICE = 4,
    DCD_BACKING__MAX,
} DcdBacking;

/*
 * Life of one extent on one host:
 *   pending -> accepted -> releasing -> released
 *   pending -> rejected
 *   pending -> reclaimed (host went away before answering)
 *   accepted -> released (host-initiated, or forced)
 */
typedef enum DcdExtentState {
    DCD_EXTENT_PENDING = 0,
    DCD_EXTENT_ACCEPTED,
    DCD_EXTENT_RELEASING,
    DCD_EXTENT_REJECTED,
    DCD_EXTENT_RELEASED,
    DCD_EXTENT_RECLAIMED,
    DCD_EXTENT_REVOKING,     /* taken back, until the host confirms */
    DCD_EXTENT_STATE__MAX,
} DcdExtentState;

/*
 * Error codes: carried in ERROR messages on the host socket, as the
 * "class" of control-socket errors, and as the GError code of DCD_ERROR.
 */
typedef enum DcdErr {
    DCD_ERR_OK = 0,
    DCD_ERR_PROTO = 1,     /* malformed message; the connection closes */
    DCD_ERR_VERSION = 2,   /* no common protocol version */
    DCD_ERR_INVAL = 3,     /* a field is out of range */
    DCD_ERR_NOENT = 4,     /* no such pool, host or extent */
    DCD_ERR_EXIST = 5,     /* already exists / already in use */
    DCD_ERR_BUSY = 6,      /* in use by a host */
    DCD_ERR_NOSPC = 7,     /* no free capacity that fits */
    DCD_ERR_PERM = 8,      /* peer not allowed */
    DCD_ERR_STATE = 9,     /* not allowed in the current state */
    DCD_ERR_NOTSUP = 10,   /* valid but not supported */
    DCD_ERR_IO = 11,       /* system call failed */
    DCD_ERR_UNAVAIL = 12,  /* the other side is not connected */
    DCD_ERR_TIMEOUT = 13,  /* a wait ran out; what it waited for goes on */
    DCD_ERR__MAX,
} DcdErr;

#define DCD_ERROR (dcd_error_quark())
GQuark dcd_error_quark(void);

/* Canonical names, as used by the control protocol, the CLI and docs. */
const char *dcd_policy_name(DcdPolicy p);
bool dcd_policy_parse(const char *s, DcdPolicy *p);
const char *dcd_removal_name(DcdRemoval r);
bool dcd_removal_parse(const char *s, DcdRemoval *r);
const char *dcd_backing_name(DcdBacking b);
bool dcd_backing_parse(const char *s, DcdBacking *b);
const char *dcd_extent_state_name(DcdExtentState s);
bool dcd_extent_state_parse(const char *s, DcdExtentState *st);
const char *dcd_err_name(DcdErr e);
DcdErr dcd_err_parse(const char *s);

/*
 * Sizes: decimal, or hex with 0x, with an optional K/M/G/T suffix (powers
 * of 1024).  "010M" is ten MiB, never octal.
 */
bool dcd_size_parse(const char *s, uint64_t *out);
/* Deterministic bytes for data to check later: seed decides them. */
void dcd_pattern_fill(void *buf, size_t len, unsigned seed);

/* Human size, e.g. "256M" or "1.5G"; returns buf. */
char *dcd_size_format(uint64_t v, char *buf, size_t len);

G_END_DECLS

#endif
