/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-guest/state.h - what the guest's driver has set up, as the agent
 * publishes it for every other process of the guest.
 *
 * Owns: DcdGuestState (memory devices, the regions mapped into a fixed
 * window, the extents with tag, shared_seq, DPA, HPA and state), its
 * file under the run dir (written whole and renamed, so a reader never
 * sees half of it; every field checked when read), the run dir's paths,
 * and the text and JSON forms `dcd-guest list` prints.
 */
#ifndef DCD_GUEST_STATE_H
#define DCD_GUEST_STATE_H

#include "dcd-host/dcd.h"

/* Where the agent keeps its files; $DCD_GUEST_RUN_DIR overrides. */
#define DCD_GUEST_RUN_DIR "/run/dcd-guest"
const char *dcd_guest_run_dir(void);
/* A file in the run dir: "state", "inflight", "ctl.sock", "agent.lock". */
char *dcd_guest_path(const char *name);

typedef struct DcdGuestDevice {
    char bdf[16];               /* 0000:BB:DD.F */
    uint64_t ram_size;          /* static volatile capacity */
} DcdGuestDevice;

/* A range of a device's DPA space mapped into a fixed window. */
typedef struct DcdGuestRegion {
    unsigned dev;
    int index;                  /* DC region number; -1: static capacity */
    uint64_t dpa, len, block, hpa;
} DcdGuestRegion;

typedef enum DcdGuestExtentState {
    DCD_GUEST_PENDING,          /* offered, waiting for `accept` */
    DCD_GUEST_ACCEPTED,
    DCD_GUEST_RELEASING,        /* release asked; waits for the tag's users */
} DcdGuestExtentState;

typedef struct DcdGuestExtent {
    unsigned dev;
    DcdDevExtent ext;
    uint64_t hpa;               /* 0 while pending */
    DcdGuestExtentState state;
} DcdGuestExtent;

typedef struct DcdGuestState {
    GArray *devices;            /* DcdGuestDevice */
    GArray *regions;            /* DcdGuestRegion */
    GArray *extents;            /* DcdGuestExtent */
} DcdGuestState;

DcdGuestState *dcd_guest_state_new(void);
void dcd_guest_state_free(DcdGuestState *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdGuestState, dcd_guest_state_free)

bool dcd_guest_state_save(const DcdGuestState *s, const char *path,
                          GError **errp);
DcdGuestState *dcd_guest_state_load(const char *path, GError **errp);

/* The region of dev that holds [dpa, dpa + len), or NULL. */
const DcdGuestRegion *dcd_guest_state_region(const DcdGuestState *s,
                                             unsigned dev, uint64_t dpa,
                                             uint64_t len);

const char *dcd_guest_extent_state_name(DcdGuestExtentState st);

/* A decimal member of group g up to max; false (errp) if not. */
bool dcd_guest_keyfile_u64(GKeyFile *kf, const char *g, const char *k,
                           uint64_t max, uint64_t *v, GError **errp);

/* `dcd-guest list`, as text lines or as one JSON object. */
char *dcd_guest_state_format(const DcdGuestState *s, bool json);

#endif
