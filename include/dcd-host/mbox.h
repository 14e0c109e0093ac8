/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mbox.h - the primary mailbox of a CXL memory device (CXL r3.1 8.2.8.4).
 *
 * Owns: the doorbell handshake, payload transfer, return codes, and
 * background commands (polled to completion, letting device time pass).
 */
#ifndef DCD_HOST_MBOX_H
#define DCD_HOST_MBOX_H

#include "dcd-host/io.h"

#define CXL_MBOX_SUCCESS 0x00
#define CXL_MBOX_BG_STARTED 0x01
#define CXL_MBOX_INVALID_INPUT 0x02
#define CXL_MBOX_UNSUPPORTED 0x03
#define CXL_MBOX_INVALID_HANDLE 0x0e
#define CXL_MBOX_INVALID_PA 0x0f
#define CXL_MBOX_INVALID_PAYLOAD_LENGTH 0x16
#define CXL_MBOX_RESOURCES_EXHAUSTED 0x1d
#define CXL_MBOX_INVALID_EXTENT_LIST 0x1e

typedef struct DcdMbox {
    DcdHostIo *io;
    uint64_t base;
    size_t payload_max;
    unsigned last_rc;       /* return code of the last command */
    uint64_t bg_wait_ns;    /* device time to let pass between polls */
    unsigned bg_max_polls;
} DcdMbox;

bool dcd_mbox_init(DcdMbox *m, DcdHostIo *io, uint64_t base, GError **errp);

/*
 * Run opcode with in[0..in_len).  out may be NULL; *out_len gives its
 * room and returns what the device produced.  A return code other than
 * success fails with DCD_HOST_ERR_MBOX (m->last_rc keeps it).
 */
bool dcd_mbox_cmd(DcdMbox *m, uint16_t opcode, const void *in, size_t in_len,
                  void *out, size_t *out_len, GError **errp);

const char *dcd_mbox_rc_name(unsigned rc);

#endif
