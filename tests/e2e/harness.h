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

#include "broker/harness.h"
#include "qemu/harness.h"

#define E_WAIT_US (15 * G_USEC_PER_SEC)

/* ---- broker -------------------------------------------------------- */

/*
 * The broker is the broker suite's TBroker: tbroker_kill, tbroker_restart,
 * tbroker_free, tcall, tcall_fail, tcount, twait_count.
 */

/* Fail unless DCD_BROKER and DCD_QEMU name executables. */
void e2e_require(void);

/*
 * Start a broker in a new temporary dir, its stderr in a log shown when
 * something fails (always, with DCD_E2E_VERBOSE=1); waits poll for
 * E_WAIT_US.
 */
TBroker *ebroker_start(void);
/* pool-create of size bytes (memfd); returns the tag. */
char *epool(TBroker *b, uint64_t size);
/* The host object of host-list, or NULL (a new reference). */
JsonObject *ehost(TBroker *b, unsigned host);
/* Poll until the broker shows host connected (or not). */
void ewait_connected(TBroker *b, unsigned host, bool connected);
/* The pool object of pool-list (a new reference). */
JsonObject *epool_info(TBroker *b, const char *tag);

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
EVm *evm_start(TBroker *b, unsigned host);
/* The same, with @more appended to the device's properties (",a=b") */
EVm *evm_start_props(TBroker *b, unsigned host, const char *more);
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

/* extent-add over the control socket; the VM answers, so no "wait". */
void eadd(TBroker *b, unsigned host, const char *tag, const char *policy);
/* Give tag to v: add with policy, accept in the VM, see it accepted. */
GArray *egive(TBroker *b, EVm *v, const char *tag, const char *policy);

/*
 * QMP and extents of a VM go through the qemu suite's helpers:
 * tquery(v->q), tqmp_ok(v->q, ...), tqmp_fail(v->q, ...),
 * textents(v->q, NULL).
 */

#endif
