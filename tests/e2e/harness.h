/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.h - the end-to-end rig: a real dcd-broker and patched QEMUs
 * whose cxl-type3 devices are attached to it, each QEMU under qtest and
 * QMP with dcd-host as the VM's host side.
 *
 * Owns: the broker process (start, SIGKILL, restart on the same state
 * dir), a client of its control socket, QEMU processes attached
 * through a reconnecting socket chardev, and what a VM's host side does:
 * wait for a DC event group, accept or reject it (4802h), release
 * (4803h), commit decoders over the DC region and read or write a tag's
 * bytes through the fixed window in shared_seq order.  Failures are test
 * failures, with the broker's and QEMU's logs shown (always, with
 * DCD_E2E_VERBOSE=1 in the environment).
 */
#ifndef DCD_TEST_E2E_HARNESS_H
#define DCD_TEST_E2E_HARNESS_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "ctlclient.h"
#include "qemu/harness.h"

#define E_WAIT_US (15 * G_USEC_PER_SEC)

/* ---- broker -------------------------------------------------------- */

typedef struct EBroker {
    GSubprocess *proc;
    GDataInputStream *out;
    char *dir;
    char *host_sock;
    char *ctl_sock;
    char *state_dir;
    char *pool_dir;
    char *log;
    DcdCtlClient *ctl;
} EBroker;

/* Fail unless DCD_BROKER and DCD_QEMU name executables. */
void e2e_require(void);

/* Start a broker in a new temporary dir. */
EBroker *ebroker_start(void);
/* SIGKILL it; the dir and state stay. */
void ebroker_kill(EBroker *b);
/* Start it again on the same dir, sockets and state. */
void ebroker_restart(EBroker *b);
/* SIGTERM (if running), wait, remove the dir. */
void ebroker_free(EBroker *b);

/* Control call that must succeed; args is a JSON object text. */
JsonNode *ectl(EBroker *b, const char *cmd, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Control call that must fail with error class cls; returns the desc. */
char *ectl_fail(EBroker *b, const char *cls, const char *cmd,
                const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* pool-create of size bytes (memfd); returns the tag. */
char *epool(EBroker *b, uint64_t size);
/* extent-list --all of host/tag: how many are in state. */
unsigned ecount(EBroker *b, unsigned host, const char *tag,
                const char *state);
/* Poll until exactly n are in state. */
void ewait_count(EBroker *b, unsigned host, const char *tag,
                 const char *state, unsigned n);
/* The host object of host-list, or NULL (a new reference). */
JsonObject *ehost(EBroker *b, unsigned host);
/* Poll until the broker shows host connected (or not). */
void ewait_connected(EBroker *b, unsigned host, bool connected);
/* The pool object of pool-list (a new reference). */
JsonObject *epool_info(EBroker *b, const char *tag);

/* ---- VMs ------------------------------------------------------------ */

typedef struct EVm {
    TQemu *q;                   /* QEMU and its host side (dcd-host) */
    unsigned host_id;
    DcdMapping map;
    bool mapped;
} EVm;

/*
 * Start QEMU with a 1 GiB sharable DC region attached to b's host
 * socket as dcd-host-id host, bring its host side up and wait until the
 * broker shows the host connected.
 */
EVm *evm_start(EBroker *b, unsigned host);
/* quit over QMP (or SIGKILL if it does not go) and clean up. */
void evm_quit(EVm *v);
/* SIGKILL and clean up. */
void evm_kill(EVm *v);

/* The next DC event group, waited for; asserts n records of type. */
GArray *evm_group(EVm *v, unsigned n, unsigned type);
/* Wait for an Add group and accept all of it; returns its DcdExtents. */
GArray *evm_accept(EVm *v);
/* Wait for an Add group of n and reject it (count-0 Add DC Response). */
void evm_reject(EVm *v, unsigned n);
/* Wait for a Release group of n and give it all back (4803h). */
void evm_release(EVm *v, unsigned n);
/* Commit decoders over all of DC region 0 at the window's base. */
void evm_map(EVm *v);
/* The tag's allocation, from the accepted extents (maps first). */
DcdAllocation *evm_alloc(EVm *v, const char *tag);
void evm_write(EVm *v, const DcdAllocation *a, uint64_t off,
               const void *buf, size_t len);
void evm_read(EVm *v, const DcdAllocation *a, uint64_t off, void *buf,
              size_t len);

/*
 * QMP and extents of a VM go through the qemu suite's helpers:
 * tquery(v->q), tqmp_ok(v->q, ...), tqmp_fail(v->q, ...),
 * textents(v->q, NULL).
 */

#endif
