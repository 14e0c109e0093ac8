/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-host/qemu-vm.h - a patched QEMU under qtest with our CXL topology
 * (q35, one pxb-cxl, one root port, one cxl-type3 with DC regions), its
 * qtest and QMP connections, and the driver brought up on it.  Tests,
 * benchmarks and the qtest demo share it.
 *
 * Owns: a private dir per VM (sockets, QEMU's log, backend files), the
 * command line, the QEMU process and its end; and the QMP arguments of
 * the patched device's DC commands.
 */
#ifndef DCD_HOST_QEMU_VM_H
#define DCD_HOST_QEMU_VM_H

#include "dcd-host/driver.h"
#include "dcd-host/qemu-platform.h"
#include "dcd-host/qmp.h"
#include "dcd-host/qtest.h"

/* The cxl-type3 device's QOM path. */
#define DCD_QEMU_DEV_PATH "/machine/peripheral/cxl-dcd0"

typedef struct DcdQemuVmOpts {
    const char *binary;         /* qemu-system-x86_64 */
    uint64_t window_size;       /* default 4 GiB */
    unsigned dc_regions;        /* default 1 */
    uint64_t dc_memdev_size;    /* classic: a volatile-dc-memdev file */
    uint64_t dc_total_size;     /* tagged: dc-regions-total-size */
    const char *dev_props;      /* appended to the cxl-type3 device, ",..." */
    const char *const *extra;   /* more QEMU arguments, NULL ended */
    bool probe_root_buses;      /* ignore query-pci, probe like firmware */
    const char *name;           /* in messages: "QEMU (name) ..." */
} DcdQemuVmOpts;

typedef struct DcdQemuVm {
    GSubprocess *proc;
    bool exited;
    int wait_status;            /* as waitpid() gives it, once exited */
    char *dir;
    char *name;                 /* "QEMU" or "QEMU (name)" */
    char *dc_file;              /* the volatile-dc-memdev's file, if any */
    DcdHostIo *io;
    DcdQmp *qmp;
    DcdPlatform plat;
    DcdDriver *host;
    DcdMemdev *md;
} DcdQemuVm;

/*
 * Start QEMU and bring the driver up; on failure the error carries
 * QEMU's output.  Runs the thread-default main context while it waits.
 */
DcdQemuVm *dcd_qemu_vm_start(const DcdQemuVmOpts *o, GError **errp);
/* quit over QMP (SIGKILL if it does not go), clean up; did QEMU exit? */
bool dcd_qemu_vm_stop(DcdQemuVm *q);
/* SIGKILL QEMU, then dcd_qemu_vm_stop(). */
bool dcd_qemu_vm_kill(DcdQemuVm *q);
/* QEMU's stdout and stderr so far. */
char *dcd_qemu_vm_log(const DcdQemuVm *q);
/* A file of size bytes in the VM's dir (for memory-backend-file). */
char *dcd_qemu_vm_file(DcdQemuVm *q, const char *name, uint64_t size,
                       GError **errp);

/* cxl-add-dynamic-capacity for host 0, prescriptive; tag may be NULL. */
JsonNode *dcd_qemu_add_args(unsigned region, const char *tag,
                            const uint64_t *ol, unsigned n);
/* cxl-release-dynamic-capacity; policy "prescriptive" or "tag-based". */
JsonNode *dcd_qemu_release_args(const char *policy, unsigned region,
                                const char *tag, const uint64_t *ol,
                                unsigned n);
/* object-add a tagged memory-backend-file; returns its file. */
char *dcd_qemu_vm_backend(DcdQemuVm *q, const char *id, const char *tag,
                          uint64_t size, GError **errp);
/* cxl-query-dynamic-capacity of the device (an array node). */
JsonNode *dcd_qemu_vm_query(DcdQemuVm *q, GError **errp);
/* The queried extent at dpa, or NULL. */
JsonObject *dcd_qemu_query_at(JsonNode *list, uint64_t dpa);

#endif
