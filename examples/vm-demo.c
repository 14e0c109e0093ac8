/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm-demo.c - one VM of the demo: a patched QEMU whose cxl-type3 is a
 * host of dcd-broker, with dcd-host playing the guest's DCD driver.
 *
 * Owns: starting QEMU (-accel qtest, QMP; a broker-attached cxl-type3
 * with one sharable DC region), bringing the host side up, committing
 * HDM decoders over the DC region, and the line commands the demo
 * script sends on stdin.  Each command gets exactly one line on stdout:
 * "ok ..." or "err TEXT".
 *
 *   accept [MS]              wait for an Add Capacity group, accept it (4802h)
 *   reject [MS]              wait for an Add Capacity group, reject it
 *   release [MS]             wait for a Release Capacity group, release it (4803h)
 *   extents                  the accepted extents (4801h)
 *   query                    cxl-query-dynamic-capacity, one line per extent
 *   write-str TAG OFF TEXT   write TEXT at logical offset OFF of the tag
 *   read-str TAG OFF LEN     read LEN bytes as text
 *   fill TAG OFF LEN BYTE    write LEN bytes of value BYTE
 *   checksum TAG OFF LEN     SHA-256 of LEN bytes
 *   quit
 *
 * Logical offsets are the tag's bytes in shared_seq order, read and
 * written through the CXL fixed memory window.
 */
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>

#include "dcd-host/alloc.h"
#include "dcd-host/driver.h"
#include "dcd-host/qmp.h"
#include "dcd-host/qemu-vm.h"
#include "dcd-host/qtest.h"

#define DEV_PATH DCD_QEMU_DEV_PATH
#define CHUNK (1u << 20)

typedef struct Vm {
    DcdQemuVm *q;        /* QEMU, qtest, QMP and the driver on them */
    DcdHostIo *io;       /* q's, for short */
    DcdQmp *qmp;
    DcdMemdev *md;
    DcdMapping map;
} Vm;

static char *opt_qemu;
static char *opt_socket;
static int opt_host_id;
static char *opt_dc_size = (char *)"1G";

static GOptionEntry entries[] = {
    { "qemu", 0, 0, G_OPTION_ARG_FILENAME, &opt_qemu,
      "qemu-system-x86_64 with the dcd-broker series (default: $DCD_QEMU)",
      "PATH" },
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &opt_socket,
      "the broker's host socket", "PATH" },
    { "host-id", 0, 0, G_OPTION_ARG_INT, &opt_host_id,
      "dcd-host-id of the device", "N" },
    { "dc-size", 0, 0, G_OPTION_ARG_STRING, &opt_dc_size,
      "size of the DC region, a multiple of 256M (default 1G)", "SIZE" },
    { NULL }
};

static bool vm_start(Vm *vm, GError **errp)
{
    g_autofree char *chr = g_strdup_printf(
        "socket,id=brk,path=%s,reconnect-ms=500", opt_socket);
    g_autofree char *props = g_strdup_printf(
        ",dc-regions-sharable=1,dcd-broker=brk,dcd-host-id=%d", opt_host_id);
    const char *extra[] = { "-chardev", chr, NULL };
    DcdQemuVmOpts o = {
        .binary = opt_qemu, .dev_props = props, .extra = extra,
    };
    DcdRegion *r;

    if (!dcd_size_parse(opt_dc_size, &o.dc_total_size)) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                    "--dc-size: '%s' is not a size", opt_dc_size);
        return false;
    }
    if (!(vm->q = dcd_qemu_vm_start(&o, errp))) {
        return false;
    }
    vm->io = vm->q->io;
    vm->qmp = vm->q->qmp;
    vm->md = vm->q->md;
    if (!vm->md->dc.n_regions) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_NOTFOUND,
                    "no DCD found");
        return false;
    }
    /* the guest maps the whole DC region at the window's base */
    r = &vm->md->dc.region[0];
    return dcd_memdev_map(vm->md, 0, vm->q->plat.windows[0].base, r->base,
                          r->decode_len, &vm->map, errp);
}

static void vm_stop(Vm *vm)
{
    if (vm->q) {
        dcd_qemu_vm_stop(vm->q);
        vm->q = NULL;
    }
}

/* ---- commands ----------------------------------------------------------- */

/* A number, decimal or 0x hex, with an optional K, M or G suffix. */
static bool parse_u64(const char *s, uint64_t *v, GError **errp)
{
    char *end = NULL;
    unsigned shift = 0;

    if (s && g_ascii_isdigit(*s)) {
        *v = g_ascii_strtoull(s, &end, 0);
        switch (*end) {
        case 'K': shift = 10; end++; break;
        case 'M': shift = 20; end++; break;
        case 'G': shift = 30; end++; break;
        }
    }
    if (!end || *end || *v > (G_MAXUINT64 >> shift)) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                    "'%s' is not a number", s ? s : "");
        return false;
    }
    *v <<= shift;
    return true;
}

/* The next DC event group of type, waited for up to ms. */
static GArray *wait_group(Vm *vm, unsigned type, uint64_t ms, GError **errp)
{
    gint64 deadline = g_get_monotonic_time() + ms * 1000;

    for (;;) {
        GArray *g = dcd_next_group(&vm->md->mbox, errp);

        if (!g) {
            return NULL;
        }
        if (g->len) {
            for (guint i = 0; i < g->len; i++) {
                if (g_array_index(g, DcdEvent, i).type != type) {
                    g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                                "unexpected DC event type %u",
                                g_array_index(g, DcdEvent, i).type);
                    g_array_unref(g);
                    return NULL;
                }
            }
            return g;
        }
        g_array_unref(g);
        if (g_get_monotonic_time() > deadline) {
            g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_TIMEOUT,
                        "no DC event in %" G_GUINT64_FORMAT " ms", ms);
            return NULL;
        }
        g_usleep(20000);
    }
}

static GString *describe(const DcdDevExtent *e, unsigned n)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "%u extent(s)", n);
    for (unsigned i = 0; i < n; i++) {
        g_string_append_printf(s, "%s dpa 0x%" G_GINT64_MODIFIER "x len %"
                               G_GUINT64_FORMAT "M seq %u", i ? "," : ":",
                               e[i].dpa, e[i].len >> 20, e[i].shared_seq);
    }
    return s;
}

static char *cmd_group(Vm *vm, char **argv, unsigned type, bool accept,
                       GError **errp)
{
    uint64_t ms = 10000;
    g_autoptr(GArray) g = NULL, ext = NULL;
    g_autoptr(GString) s = NULL;
    bool ok;

    if (argv[1] && !parse_u64(argv[1], &ms, errp)) {
        return NULL;
    }
    if (!(g = wait_group(vm, type, ms, errp))) {
        return NULL;
    }
    ext = g_array_new(FALSE, TRUE, sizeof(DcdDevExtent));
    for (guint i = 0; i < g->len; i++) {
        g_array_append_val(ext, g_array_index(g, DcdEvent, i).extent);
    }
    if (type == DCD_EV_RELEASE) {
        ok = dcd_release(&vm->md->mbox, (DcdDevExtent *)ext->data, ext->len,
                         errp);
    } else {
        ok = dcd_add_response(&vm->md->mbox, (DcdDevExtent *)ext->data,
                              accept ? ext->len : 0, errp);
    }
    if (!ok) {
        return NULL;
    }
    s = describe((DcdDevExtent *)ext->data, ext->len);
    return g_strdup(s->str);
}

static char *cmd_extents(Vm *vm, GError **errp)
{
    g_autoptr(GArray) l = dcd_get_extents(&vm->md->mbox, NULL, errp);
    g_autoptr(GString) s = NULL;

    if (!l) {
        return NULL;
    }
    s = describe((DcdDevExtent *)l->data, l->len);
    return g_strdup(s->str);
}

static char *cmd_query(Vm *vm, GError **errp)
{
    g_autoptr(JsonNode) r = dcd_qmp_execute(vm->qmp,
        "cxl-query-dynamic-capacity", dcd_qmp_args("s:path", DEV_PATH, NULL),
        errp);
    g_autoptr(GString) s = g_string_new(NULL);
    JsonArray *a;

    if (!r) {
        return NULL;
    }
    a = json_node_get_array(r);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        g_string_append_printf(s, "%s%s dpa 0x%" G_GINT64_MODIFIER "x seq %"
                               G_GINT64_FORMAT " %s %s", i ? ", " : "",
                               json_object_get_string_member(o, "state"),
                               json_object_get_int_member(o, "dpa"),
                               json_object_get_int_member(o, "shared-seq"),
                               json_object_get_string_member_with_default(
                                   o, "backing", "-"),
                               json_object_get_string_member(o, "mapping"));
    }
    return g_strdup(s->len ? s->str : "none");
}

static DcdAllocation *alloc_of(Vm *vm, const char *tag, GError **errp)
{
    g_autoptr(GArray) l = NULL;
    uint8_t t[16];

    if (!tag || !dcd_tag_parse(tag, (DcdTag *)t)) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                    "'%s' is not a tag", tag ? tag : "");
        return NULL;
    }
    if (!(l = dcd_get_extents(&vm->md->mbox, NULL, errp))) {
        return NULL;
    }
    return dcd_allocation_build(t, (DcdDevExtent *)l->data, l->len, &vm->map, 1,
                                errp);
}

static bool in_range(const DcdAllocation *a, uint64_t off, uint64_t len,
                     GError **errp)
{
    if (off > a->size || len > a->size - off) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                    "[%" G_GUINT64_FORMAT ", +%" G_GUINT64_FORMAT ") is "
                    "outside the tag's %" G_GUINT64_FORMAT " bytes", off, len,
                    a->size);
        return false;
    }
    return true;
}

static char *cmd_data(Vm *vm, char **argv, const char *line, GError **errp)
{
    const char *cmd = argv[0];
    g_autoptr(DcdAllocation) a = NULL;
    uint64_t off, len = 0;

    if (!argv[1] || !argv[2]) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                    "usage: %s TAG OFF ...", cmd);
        return NULL;
    }
    if (!(a = alloc_of(vm, argv[1], errp)) ||
        !parse_u64(argv[2], &off, errp)) {
        return NULL;
    }
    if (g_str_equal(cmd, "write-str")) {
        /* the text is the rest of the line after the offset */
        const char *text = strstr(line, argv[2]) + strlen(argv[2]);

        text += strspn(text, " ");
        len = strlen(text);
        if (!in_range(a, off, len, errp) ||
            !dcd_allocation_write(a, vm->io, off, text, len, errp)) {
            return NULL;
        }
        return g_strdup_printf("%" G_GUINT64_FORMAT, len);
    }
    if (!argv[3] || !parse_u64(argv[3], &len, errp) ||
        !in_range(a, off, len, errp)) {
        if (errp && !*errp) {
            g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                        "usage: %s TAG OFF LEN", cmd);
        }
        return NULL;
    }
    if (g_str_equal(cmd, "read-str")) {
        g_autofree char *buf = g_malloc0(len + 1);

        if (!dcd_allocation_read(a, vm->io, off, buf, len, errp)) {
            return NULL;
        }
        for (uint64_t i = 0; i < len; i++) {
            if (!g_ascii_isprint(buf[i])) {
                buf[i] = '.';
            }
        }
        return g_steal_pointer(&buf);
    }
    if (g_str_equal(cmd, "fill")) {
        uint64_t byte;
        g_autofree uint8_t *buf = NULL;

        if (!argv[4] || !parse_u64(argv[4], &byte, errp) || byte > 255) {
            if (errp && !*errp) {
                g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                            "usage: fill TAG OFF LEN BYTE");
            }
            return NULL;
        }
        buf = g_malloc(MIN(len, CHUNK));
        memset(buf, byte, MIN(len, CHUNK));
        for (uint64_t done = 0; done < len; done += CHUNK) {
            if (!dcd_allocation_write(a, vm->io, off + done, buf,
                                      MIN(len - done, CHUNK), errp)) {
                return NULL;
            }
        }
        return g_strdup_printf("%" G_GUINT64_FORMAT, len);
    }
    if (g_str_equal(cmd, "checksum")) {
        g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
        g_autofree uint8_t *buf = g_malloc(CHUNK);

        for (uint64_t done = 0; done < len; done += CHUNK) {
            uint64_t n = MIN(len - done, CHUNK);

            if (!dcd_allocation_read(a, vm->io, off + done, buf, n, errp)) {
                return NULL;
            }
            g_checksum_update(sum, buf, n);
        }
        return g_strdup(g_checksum_get_string(sum));
    }
    g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                "unknown command '%s'", cmd);
    return NULL;
}

/* One command line; false for quit. */
static bool run(Vm *vm, const char *line)
{
    g_auto(GStrv) argv = g_strsplit_set(line, " \t", -1);
    g_autoptr(GError) err = NULL;
    g_autofree char *r = NULL;
    g_autoptr(GPtrArray) args = g_ptr_array_new();

    for (char **p = argv; *p; p++) {
        if (**p) {
            g_ptr_array_add(args, *p);
        }
    }
    g_ptr_array_add(args, NULL);
    if (!args->pdata[0]) {
        printf("err empty command\n");
    } else {
        char **a = (char **)args->pdata;
        const char *cmd = a[0];

        if (g_str_equal(cmd, "quit")) {
            return false;
        } else if (g_str_equal(cmd, "accept")) {
            r = cmd_group(vm, a, DCD_EV_ADD, true, &err);
        } else if (g_str_equal(cmd, "reject")) {
            r = cmd_group(vm, a, DCD_EV_ADD, false, &err);
        } else if (g_str_equal(cmd, "release")) {
            r = cmd_group(vm, a, DCD_EV_RELEASE, true, &err);
        } else if (g_str_equal(cmd, "extents")) {
            r = cmd_extents(vm, &err);
        } else if (g_str_equal(cmd, "query")) {
            r = cmd_query(vm, &err);
        } else {
            r = cmd_data(vm, a, line, &err);
        }
        if (r) {
            printf("ok %s\n", r);
        } else {
            printf("err %s\n", err ? err->message : "failed");
        }
    }
    fflush(stdout);
    return true;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "- one demo VM: QEMU attached to dcd-broker, dcd-host as its guest");
    g_autoptr(GError) err = NULL;
    Vm vm = { 0 };
    char line[4096];

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "vm-demo: %s\n", err->message);
        return 2;
    }
    if (!opt_qemu) {
        opt_qemu = g_strdup(g_getenv("DCD_QEMU"));
    }
    if (!opt_qemu || !opt_socket) {
        fprintf(stderr, "vm-demo: --socket and --qemu (or DCD_QEMU) are "
                "required\n");
        return 2;
    }
    if (!g_file_test(opt_qemu, G_FILE_TEST_IS_EXECUTABLE)) {
        fprintf(stderr, "vm-demo: no QEMU at %s\n", opt_qemu);
        return 2;
    }
    if (!vm_start(&vm, &err)) {
        fprintf(stderr, "vm-demo[%d]: %s\n", opt_host_id, err->message);
        vm_stop(&vm);
        return 1;
    }
    printf("ok ready\n");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!run(&vm, line)) {
            break;
        }
    }
    /* quit is answered once QEMU is gone and the scratch dir removed */
    vm_stop(&vm);
    printf("ok\n");
    fflush(stdout);
    return 0;
}
