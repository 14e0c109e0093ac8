/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest-vm.c - one VM of `make demo` (examples/demo.sh): a patched QEMU
 * booting a real Linux guest (the guest rig, under TCG) whose cxl-type3
 * is a host of dcd-broker, with dcd-guest's agent started in it.
 *
 * Prints "booting ..." and then "ready KERNEL" (or "err TEXT" and exits
 * 1).  Then each line on stdin is a shell command run in the guest: its
 * output, then a line "=== rc N".  End of input powers the guest off.
 */
#include <stdio.h>
#include <string.h>

#include <gio/gunixinputstream.h>

#include "dcd-host/qemu-guest.h"

#define BOOT_MS 180000
#define CMD_MS 600000

static int fail(GError *err)
{
    printf("err %s\n", err->message);
    return 1;
}

int main(int argc, char **argv)
{
    g_autofree char *qemu = NULL, *sock = NULL, *rig = NULL, *initrd = NULL;
    int host_id = 0;
    gboolean file_pools = FALSE;
    const GOptionEntry entries[] = {
        { "qemu", 0, 0, G_OPTION_ARG_FILENAME, &qemu,
          "qemu-system-x86_64 with the series (default: $DCD_QEMU)", "PATH" },
        { "socket", 0, 0, G_OPTION_ARG_FILENAME, &sock,
          "the broker's host socket", "PATH" },
        { "host-id", 0, 0, G_OPTION_ARG_INT, &host_id,
          "dcd-host-id of the device", "N" },
        { "rig", 0, 0, G_OPTION_ARG_FILENAME, &rig,
          "the guest rig: vmlinuz, firmware/ (make guest)", "DIR" },
        { "initramfs", 0, 0, G_OPTION_ARG_FILENAME, &initrd,
          "initramfs with dcd-guest (default: the rig's)", "FILE" },
        { "file-pools", 0, 0, G_OPTION_ARG_NONE, &file_pools,
          "trust the broker with file pools (a shared device's)", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- one demo VM");
    g_autoptr(GError) err = NULL;
    g_autofree char *name = NULL, *out = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autoptr(GInputStream) stdin_s = NULL;
    DcdQemuGuestOpts o = { 0 };
    DcdQemuGuest *g;
    char *line;
    gint64 t0 = g_get_monotonic_time();

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        return fail(err);
    }
    if (!sock || !rig || host_id < 0 || host_id > 0xffff) {
        printf("err --socket, --rig and a --host-id of 0 to 65535 are "
               "needed\n");
        return 2;
    }
    name = g_strdup_printf("VM %d", host_id);
    o.binary = qemu ? qemu : g_getenv("DCD_QEMU");
    o.rig = rig;
    o.initramfs = initrd;
    o.broker_socket = sock;
    o.host_id = host_id;
    o.name = name;
    o.file_pools = file_pools;
    if (!o.binary) {
        printf("err no QEMU: --qemu or $DCD_QEMU\n");
        return 2;
    }
    printf("booting Linux under TCG\n");
    fflush(stdout);
    if (!(g = dcd_qemu_guest_start(&o, &err))) {
        return fail(err);
    }
    if (!dcd_qemu_guest_wait_ready(g, BOOT_MS, &err) ||
        dcd_qemu_guest_run(g, "dcd-guest watch --daemon", &out, CMD_MS,
                           &err) != 0) {
        if (!err) {
            g_set_error(&err, DCD_HOST_ERROR, DCD_HOST_ERR_IO,
                        "dcd-guest did not start: %s", out);
        }
        dcd_qemu_guest_kill(g);
        return fail(err);
    }
    printf("ready %s (%.1f s)\n", g->kernel,
           (g_get_monotonic_time() - t0) / 1e6);
    fflush(stdout);

    stdin_s = g_unix_input_stream_new(0, FALSE);
    in = g_data_input_stream_new(stdin_s);
    while ((line = g_data_input_stream_read_line_utf8(in, NULL, NULL, NULL))) {
        g_autofree char *text = NULL;
        int rc;

        rc = dcd_qemu_guest_run(g, g_strstrip(line), &text, CMD_MS, &err);
        g_free(line);
        if (rc < 0) {
            dcd_qemu_guest_kill(g);
            return fail(err);
        }
        printf("%s=== rc %d\n", text, rc);
        fflush(stdout);
    }
    /* a clean power-off: the device gives its extents back */
    dcd_qemu_guest_run(g, "poweroff -f", NULL, 2000, NULL);
    dcd_qemu_guest_wait_exit(g, 30000);
    dcd_qemu_guest_stop(g);
    return 0;
}
