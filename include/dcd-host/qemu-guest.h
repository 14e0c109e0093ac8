/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-host/qemu-guest.h - a patched QEMU booting a real Linux guest
 * (the guest rig: a Debian kernel and a busybox initramfs) under TCG,
 * with our CXL topology and a broker-attached cxl-type3.  The guest
 * suite, the guest benchmarks and the demo share it.
 *
 * Owns: the command line, the guest's command channel (the rig's init
 * serves one shell command a line on its second serial port and ends
 * each with "=== rc N"), QMP, and the console log.
 */
#ifndef DCD_HOST_QEMU_GUEST_H
#define DCD_HOST_QEMU_GUEST_H

#include "dcd-host/qemu-vm.h"

typedef struct DcdQemuGuestOpts {
    const char *binary;         /* qemu-system-x86_64 with the series */
    const char *rig;            /* vmlinuz, initramfs.cpio.gz, firmware/ */
    const char *initramfs;      /* another initramfs than the rig's */
    const char *broker_socket;  /* the broker's host socket */
    unsigned host_id;
    uint64_t dc_size;           /* DC region 0; default 1 GiB */
    /* A second cxl-type3 with 256 MiB of static volatile memory: a
     * window range on the emulated (slow) path, to compare with. */
    bool slow_path;
    /* A second CXL host bridge (bus 35) with its own window, root port
     * and broker-attached cxl-type3 (cxl-dcd1) as host second_host_id. */
    bool second_bridge;
    unsigned second_host_id;
    unsigned mem_mb;            /* guest RAM; default 512 */
    /* Take file pools from the broker (dcd-broker-file-pools=on): a
     * broker with a shared device hands its pools out as the device. */
    bool file_pools;
    /* Keep the kernel's boot-time timer check, which panics under TCG on
     * a loaded machine; the default boots with no_timer_check. */
    bool timer_check;
    const char *name;           /* in messages */
} DcdQemuGuestOpts;

typedef struct DcdQemuGuest {
    DcdQemuVm vm;               /* process, dir, QMP; no qtest, no driver */
    GIOStream *cmd;
    GDataInputStream *in;
    char *kernel;               /* the release the guest reported */
} DcdQemuGuest;

/* Start QEMU; the guest boots on its own (see _wait_ready). */
DcdQemuGuest *dcd_qemu_guest_start(const DcdQemuGuestOpts *o, GError **errp);
/* Wait until init says it is ready, at most timeout_ms. */
bool dcd_qemu_guest_wait_ready(DcdQemuGuest *g, unsigned timeout_ms,
                               GError **errp);
/*
 * Run one shell command line in the guest; its output (stdout and
 * stderr) in *out.  Returns its exit status, or -1 with errp set when
 * the channel fails or timeout_ms passes.
 */
int dcd_qemu_guest_run(DcdQemuGuest *g, const char *line, char **out,
                       unsigned timeout_ms, GError **errp);
/*
 * A command line that must succeed: its output, or NULL with errp
 * naming the command and how it failed (its status and output).
 */
char *dcd_qemu_guest_sh(DcdQemuGuest *g, unsigned timeout_ms, GError **errp,
                        const char *fmt, ...) G_GNUC_PRINTF(4, 5);
char *dcd_qemu_guest_shv(DcdQemuGuest *g, unsigned timeout_ms, GError **errp,
                         const char *fmt, va_list ap) G_GNUC_PRINTF(4, 0);
/* The guest's console (kernel log and init's messages) so far. */
char *dcd_qemu_guest_console(DcdQemuGuest *g);
/* Did QEMU exit (the guest powered off)? Waits up to timeout_ms. */
bool dcd_qemu_guest_wait_exit(DcdQemuGuest *g, unsigned timeout_ms);
/* quit over QMP (SIGKILL if it does not go) and clean up. */
void dcd_qemu_guest_stop(DcdQemuGuest *g);
/* SIGKILL and clean up. */
void dcd_qemu_guest_kill(DcdQemuGuest *g);

#endif
