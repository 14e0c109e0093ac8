/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sysfw.c - ACPI tables and host bridges from sysfs; refusals.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dcd-guest/sysfw.h"

#define ACPI_TABLES "/sys/firmware/acpi/tables/"
#define ACPI_DEVICES "/sys/bus/acpi/devices/"
#define BLACKLIST "modprobe.blacklist=cxl_acpi,cxl_pci,cxl_port,cxl_mem"
/* no ACPI table the driver reads is anywhere near this */
#define TABLE_MAX (1u << 20)

#define ERR(errp, code, ...) \
    g_set_error(errp, DCD_HOST_ERROR, code, __VA_ARGS__)

static bool read_table(const char *name, char **buf, size_t *len,
                       GError **errp)
{
    g_autofree char *path = g_strconcat(ACPI_TABLES, name, NULL);
    GError *err = NULL;

    if (!g_file_get_contents(path, buf, len, &err)) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "ACPI table %s: %s (no CXL "
            "platform, or not root)", name, err->message);
        g_error_free(err);
        return false;
    }
    if (*len > TABLE_MAX) {
        ERR(errp, DCD_HOST_ERR_INVALID, "ACPI table %s: %zu bytes", name,
            *len);
        g_clear_pointer(buf, g_free);
        return false;
    }
    return true;
}

/* The root bus of an ACPI host bridge node: its physical node pci0000:BB. */
static bool host_bridge_bus(const char *node, unsigned *bus)
{
    g_autofree char *link = g_strconcat(ACPI_DEVICES, node, "/physical_node",
                                        NULL);
    g_autofree char *target = g_file_read_link(link, NULL);
    g_autofree char *base = NULL;
    unsigned seg;
    char extra;

    if (!target) {
        return false;
    }
    base = g_path_get_basename(target);
    return sscanf(base, "pci%x:%x%c", &seg, bus, &extra) == 2 && seg == 0 &&
           *bus < 256;
}

bool dcd_sysfw_platform(DcdPlatform *p, GError **errp)
{
    g_autofree char *cedt = NULL, *mcfg = NULL;
    size_t cedt_len, mcfg_len;
    g_autoptr(GDir) dir = NULL;
    const char *name;
    unsigned matched = 0;

    memset(p, 0, sizeof(*p));
    if (!read_table("CEDT", &cedt, &cedt_len, errp) ||
        !read_table("MCFG", &mcfg, &mcfg_len, errp) ||
        !dcd_platform_from_acpi(p, cedt, cedt_len, mcfg, mcfg_len, errp)) {
        return false;
    }
    p->keep_setup = true;

    /* ACPI0016 is a CXL host bridge; its _UID names its CHBS */
    dir = g_dir_open(ACPI_DEVICES, 0, NULL);
    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *uidf = NULL, *uid = NULL;
        unsigned bus;
        guint64 u;

        if (!g_str_has_prefix(name, "ACPI0016:")) {
            continue;
        }
        uidf = g_strconcat(ACPI_DEVICES, name, "/uid", NULL);
        if (!g_file_get_contents(uidf, &uid, NULL, NULL) ||
            !g_ascii_string_to_unsigned(g_strstrip(uid), 10, 0, G_MAXUINT32, &u,
                                        NULL) ||
            !host_bridge_bus(name, &bus)) {
            continue;
        }
        for (unsigned i = 0; i < p->n_chbs; i++) {
            if (p->chbs_uid[i] == u) {
                p->chbs_bus[i] = bus;
                if (p->n_root_buses < G_N_ELEMENTS(p->root_buses)) {
                    p->root_buses[p->n_root_buses++] = bus;
                }
                matched++;
            }
        }
    }
    if (!p->n_chbs || matched != p->n_chbs) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "%u CXL host bridge register "
            "blocks in CEDT, %u ACPI0016 host bridges found for them",
            p->n_chbs, matched);
        return false;
    }
    p->chbs_bus_known = true;
    return true;
}

/* CXL memory devices (class 050210h) a kernel driver is bound to. */
static bool check_unbound(GError **errp)
{
    g_autoptr(GDir) dir = g_dir_open("/sys/bus/pci/devices", 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *cls = NULL, *link = NULL, *target = NULL;
        g_autofree char *clsf = g_strdup_printf("/sys/bus/pci/devices/%s/class",
                                                name);

        if (!g_file_get_contents(clsf, &cls, NULL, NULL) ||
            g_ascii_strtoull(cls, NULL, 16) != CXL_MEMDEV_CLASS) {
            continue;
        }
        link = g_strdup_printf("/sys/bus/pci/devices/%s/driver", name);
        target = g_file_read_link(link, NULL);
        if (target) {
            g_autofree char *drv = g_path_get_basename(target);

            ERR(errp, DCD_HOST_ERR_IO, "CXL memory device %s is bound to the "
                "kernel's %s driver; boot with " BLACKLIST " or unbind it",
                name, drv);
            return false;
        }
    }
    return true;
}

bool dcd_sysfw_preflight(GError **errp)
{
    g_autofree char *lockdown = NULL;

    if (geteuid() != 0) {
        ERR(errp, DCD_HOST_ERR_IO, "not root: the driver maps device "
            "registers through /dev/mem, which needs root");
        return false;
    }
    if (g_file_get_contents("/sys/kernel/security/lockdown", &lockdown,
                            NULL, NULL) && !strstr(lockdown, "[none]")) {
        ERR(errp, DCD_HOST_ERR_IO, "the kernel is locked down (%s), which "
            "closes /dev/mem; boot without Secure Boot and without a "
            "lockdown= option", g_strstrip(lockdown));
        return false;
    }
    if (g_file_test("/sys/bus/platform/drivers/cxl_acpi", G_FILE_TEST_IS_DIR)) {
        ERR(errp, DCD_HOST_ERR_IO, "the kernel's cxl_acpi driver is loaded; "
            "boot with " BLACKLIST " (or rmmod cxl_mem cxl_pci cxl_acpi)");
        return false;
    }
    return check_unbound(errp);
}
