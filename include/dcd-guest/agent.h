/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-guest/agent.h - the guest's DCD driver as a daemon (`dcd-guest
 * watch`), and the requests other processes send it.
 *
 * Owns: bring-up over /dev/mem and sysfs, committing HDM decoders over
 * each device's static capacity and DC regions (adopting what a
 * previous agent committed), watching the DC event log, answering
 * offers by policy (all, listed tags, or asked) with Add DC Response,
 * whole groups at a time, releases once no process holds the tag
 * (forced ones at once), the journal of groups read but not yet
 * answered (so a killed agent loses none and answers none twice), the
 * published state, and the control socket with its line requests:
 *
 *   accept TAG|all        answer held offers (policy "ask") with accept
 *   reject TAG|all        ... with reject
 *   release TAG [wait]    give the tag's extents back (4803h); "wait"
 *                         replies when done rather than when queued
 *
 * Each request gets one line: "ok TEXT" or "err TEXT".
 */
#ifndef DCD_GUEST_AGENT_H
#define DCD_GUEST_AGENT_H

#include "dcd/types.h"
#include "dcd-host/io.h"

typedef enum DcdAcceptPolicy {
    DCD_ACCEPT_ALL,
    DCD_ACCEPT_TAGS,            /* only offers whose tags are all listed */
    DCD_ACCEPT_ASK,             /* held until `dcd-guest accept` */
} DcdAcceptPolicy;

typedef struct DcdAgentOpts {
    DcdAcceptPolicy policy;
    const DcdTag *tags;         /* DCD_ACCEPT_TAGS */
    unsigned n_tags;
    unsigned poll_ms;           /* DC event log poll interval */
    bool verbose;
} DcdAgentOpts;

typedef struct DcdAgent DcdAgent;

/* Checks, bring-up, decoders, state: ready to run. */
DcdAgent *dcd_agent_new(const DcdAgentOpts *o, GError **errp);
/* Name pid in the agent's lock file (after a fork, the daemon's). */
void dcd_agent_note_pid(DcdAgent *a, int pid);
/* Serve until SIGTERM or SIGINT. */
void dcd_agent_run(DcdAgent *a);
void dcd_agent_free(DcdAgent *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdAgent, dcd_agent_free)

/* Client side: send one request line, return the reply without "ok ". */
char *dcd_agent_request(const char *line, GError **errp);

#endif
