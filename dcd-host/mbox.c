/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mbox.c - mailbox commands: wait for the doorbell to clear, load the
 * payload, write the command register, ring, wait, read back.
 */
#include "dcd-host/mbox.h"
#include "err.h"

#define MBOX_CAP 0x00
#define MBOX_CTRL 0x04
#define  MBOX_CTRL_DOORBELL 0x1
#define MBOX_CMD 0x08
#define MBOX_STATUS 0x10
#define MBOX_BG_STATUS 0x18
#define MBOX_PAYLOAD 0x20

#define DOORBELL_POLLS 1000

static const char *const rc_names[] = {
    [0x00] = "success",
    [0x01] = "background command started",
    [0x02] = "invalid input",
    [0x03] = "unsupported",
    [0x04] = "internal error",
    [0x05] = "retry required",
    [0x06] = "busy",
    [0x07] = "media disabled",
    [0x0e] = "invalid handle",
    [0x0f] = "invalid physical address",
    [0x12] = "aborted",
    [0x15] = "unsupported mailbox or CCI",
    [0x16] = "invalid payload length",
    [0x17] = "invalid log",
    [0x1d] = "resources exhausted",
    [0x1e] = "invalid extent list",
    [0x1f] = "transfer out of order",
};

const char *dcd_mbox_rc_name(unsigned rc)
{
    if (rc < G_N_ELEMENTS(rc_names) && rc_names[rc]) {
        return rc_names[rc];
    }
    return "error";
}

bool dcd_mbox_init(DcdMbox *m, DcdHostIo *io, uint64_t base, GError **errp)
{
    uint32_t cap;

    m->io = io;
    m->base = base;
    m->bg_wait_ns = 1000000;
    m->bg_max_polls = 100000;
    cap = dcd_io_rd32(io, base + MBOX_CAP);
    if (!dcd_io_check(io, errp)) {
        return false;
    }
    /* payload size is 2^n bytes, n from 8 to 20 */
    if ((cap & 0x1f) < 8 || (cap & 0x1f) > 20) {
        ERR(errp, DCD_HOST_ERR_INVALID, "mailbox payload size 2^%u is bad",
            cap & 0x1f);
        return false;
    }
    m->payload_max = 1u << (cap & 0x1f);
    return true;
}

static bool doorbell_clear(DcdMbox *m, GError **errp)
{
    for (unsigned i = 0; i < DOORBELL_POLLS; i++) {
        if (!(dcd_io_rd32(m->io, m->base + MBOX_CTRL) & MBOX_CTRL_DOORBELL)) {
            return dcd_io_check(m->io, errp);
        }
        dcd_io_wait(m->io, 1000);
    }
    if (!dcd_io_check(m->io, errp)) {
        return false;
    }
    ERR(errp, DCD_HOST_ERR_TIMEOUT, "mailbox doorbell stays set");
    return false;
}

bool dcd_mbox_cmd(DcdMbox *m, uint16_t opcode, const void *in, size_t in_len,
                  void *out, size_t *out_len, GError **errp)
{
    DcdHostIo *io = m->io;
    uint64_t status, cmd;
    size_t len;
    unsigned rc;

    if (in_len > m->payload_max) {
        ERR(errp, DCD_HOST_ERR_INVALID, "payload of %zu bytes exceeds %zu",
            in_len, m->payload_max);
        return false;
    }
    if (!doorbell_clear(m, errp)) {
        return false;
    }
    dcd_io_write(io, m->base + MBOX_PAYLOAD, in, in_len);
    dcd_io_wr64(io, m->base + MBOX_CMD, opcode | (uint64_t)in_len << 16);
    dcd_io_wr32(io, m->base + MBOX_CTRL, MBOX_CTRL_DOORBELL);
    if (!doorbell_clear(m, errp)) {
        return false;
    }

    status = dcd_io_rd64(io, m->base + MBOX_STATUS);
    rc = (status >> 32) & 0xffff;
    /*
     * Only the return code says a command went to the background: QEMU
     * 10.2.2 reports the status register's BG bit set until a first
     * background command completes (mailbox_reg_read).
     */
    if (rc == CXL_MBOX_BG_STARTED) {
        unsigned polls = 0;
        uint64_t bg;

        /* the command goes on in the background until 100 percent */
        for (;;) {
            bg = dcd_io_rd64(io, m->base + MBOX_BG_STATUS);
            if (dcd_io_failed(io) || ((bg >> 16) & 0x7f) == 100) {
                break;
            }
            if (++polls > m->bg_max_polls) {
                ERR(errp, DCD_HOST_ERR_TIMEOUT,
                    "background command %04xh does not complete", opcode);
                return false;
            }
            dcd_io_wait(io, m->bg_wait_ns);
        }
        rc = (bg >> 32) & 0xffff;
    }
    cmd = dcd_io_rd64(io, m->base + MBOX_CMD);
    if (!dcd_io_check(io, errp)) {
        return false;
    }
    m->last_rc = rc;
    if (rc != CXL_MBOX_SUCCESS) {
        ERR(errp, DCD_HOST_ERR_MBOX, "mailbox command %04xh: %s (%02xh)",
            opcode, dcd_mbox_rc_name(rc), rc);
        return false;
    }
    len = (cmd >> 16) & 0x1fffff;
    if (out_len) {
        if (len > *out_len) {
            len = *out_len;
        }
        if (len) {
            dcd_io_read(io, m->base + MBOX_PAYLOAD, out, len);
        }
        *out_len = len;
    }
    return dcd_io_check(io, errp);
}
