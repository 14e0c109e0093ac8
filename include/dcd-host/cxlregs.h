/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cxlregs.h - where a CXL component keeps its registers.
 *
 * Owns: the Register Locator DVSEC (which BAR and offset holds the
 * component registers and the memory device registers), the CXL.cache/
 * mem capability array (to find the HDM decoder capability), and the
 * device capability array (device status, mailbox, memory device status).
 */
#ifndef DCD_HOST_CXLREGS_H
#define DCD_HOST_CXLREGS_H

#include "dcd-host/pci.h"

#define CXL_VENDOR_ID 0x1e98
#define CXL_DVSEC_DEVICE 0
#define CXL_DVSEC_REG_LOCATOR 8

/* Register Locator block identifiers */
#define CXL_RB_COMPONENT 1
#define CXL_RB_MEMDEV 3

/* Offset of CXL.cache/mem registers inside the component block */
#define CXL_CM_OFFSET 0x1000
#define CXL_CM_CAP_HDM 5

/* Device capability IDs */
#define CXL_DEVCAP_STATUS 0x0001
#define CXL_DEVCAP_MAILBOX 0x0002
#define CXL_DEVCAP_MEMDEV 0x4000

/* Memory device status register */
#define CXL_MEMDEV_MEDIA_STATUS(v) (((v) >> 2) & 3)
#define CXL_MEMDEV_MBOX_READY(v) (((v) >> 4) & 1)

/* Find a register block of the Register Locator DVSEC: 0 if absent. */
uint64_t dcd_cxl_locate_block(DcdHostIo *io, const DcdPciDev *d,
                              unsigned block_id);

/* HDM decoder capability in a component block at comp: 0 if absent. */
uint64_t dcd_cxl_find_hdm(DcdHostIo *io, uint64_t comp);

/* A device capability of the memory device block at dev: 0 if absent. */
uint64_t dcd_cxl_find_devcap(DcdHostIo *io, uint64_t dev, uint16_t id);

#endif
