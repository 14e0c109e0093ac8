/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.c - QEMU processes for the qemu suite.  QEMU connects to
 * sockets we already listen on, so there is no polling for a socket
 * to appear and a QEMU that dies early is noticed at once.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>

#include "harness.h"

const char *tqemu_binary(void)
{
    return g_getenv("DCD_QEMU");
}

void tqemu_require_binary(void)
{
    const char *b = tqemu_binary();

    if (!b || !*b) {
        printf("Bail out! DCD_QEMU is not set: point it at "
               "qemu-system-x86_64 (meson -Dqemu=PATH)\n");
        exit(1);
    }
    if (!g_file_test(b, G_FILE_TEST_IS_EXECUTABLE)) {
        printf("Bail out! no QEMU at %s: build it first (qemu/build.sh) "
               "or configure meson with -Dqemu=PATH\n", b);
        exit(1);
    }
}

void tqemu_show_log(TQemu *q)
{
    g_autofree char *text = dcd_qemu_vm_log(q);

    if (*text) {
        g_test_message("%s output:\n%s", q->name, text);
    }
}

char *tfile(TQemu *q, const char *name, uint64_t size)
{
    g_autoptr(GError) err = NULL;
    char *path = dcd_qemu_vm_file(q, name, size, &err);

    g_assert_no_error(err);
    return path;
}

void tfile_read(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, off), ==, (ssize_t)len);
    close(fd);
}

TQemu *tqemu_start(const TQemuOpts *o)
{
    g_autoptr(GError) err = NULL;
    TQemuOpts with = *o;
    TQemu *q;

    with.binary = tqemu_binary();
    q = dcd_qemu_vm_start(&with, &err);
    if (!q) {
        g_error("%s", err->message);
    }
    return q;
}

bool tqemu_stop(TQemu *q)
{
    /* DCD_E2E_VERBOSE: every QEMU's output, failing or not */
    if (q && g_getenv("DCD_E2E_VERBOSE")) {
        tqemu_show_log(q);
    }
    return dcd_qemu_vm_stop(q);
}

bool tqemu_kill(TQemu *q)
{
    return dcd_qemu_vm_kill(q);
}

JsonNode *tqmp(TQemu *q, const char *cmd, JsonNode *args)
{
    g_autoptr(GError) err = NULL;
    JsonNode *r = dcd_qmp_execute(q->qmp, cmd, args, &err);

    if (err) {
        g_test_message("%s: %s failed: %s", q->name, cmd, err->message);
    }
    g_assert_no_error(err);
    return r;
}

/* The dynamic capacity commands end with the broker's answer */
static bool is_dc_request(const char *cmd)
{
    return !strcmp(cmd, "cxl-add-dynamic-capacity") ||
           !strcmp(cmd, "cxl-release-dynamic-capacity");
}

void tqmp_ok(TQemu *q, const char *cmd, JsonNode *args)
{
    g_autoptr(GError) err = NULL;

    if (is_dc_request(cmd)) {
        dcd_qmp_dc_request(q->qmp, cmd, args, &err);
        if (err) {
            g_test_message("%s: %s failed: %s", q->name, cmd, err->message);
        }
        g_assert_no_error(err);
        return;
    }
    json_node_unref(tqmp(q, cmd, args));
}

char *tqmp_fail(TQemu *q, const char *cmd, JsonNode *args)
{
    g_autoptr(GError) err = NULL;

    if (is_dc_request(cmd)) {
        g_assert_false(dcd_qmp_dc_request(q->qmp, cmd, args, &err));
    } else {
        g_autoptr(JsonNode) r = dcd_qmp_execute(q->qmp, cmd, args, &err);

        g_assert_null(r);
    }
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_QMP);
    return g_strdup(err->message);
}

char *thmp(TQemu *q, const char *cmdline)
{
    g_autoptr(GError) err = NULL;
    char *r = dcd_qmp_hmp(q->qmp, cmdline, &err);

    g_assert_no_error(err);
    return r;
}

GArray *tgroup(TQemu *q, unsigned n, unsigned type)
{
    g_autoptr(GError) err = NULL;
    GArray *g = dcd_next_group(&q->md->mbox, &err);

    g_assert_no_error(err);
    tgroup_check(g, n, type);
    return g;
}

void tgroup_check(GArray *g, unsigned n, unsigned type)
{
    g_assert_cmpuint(g->len, ==, n);
    for (guint i = 0; i < g->len; i++) {
        DcdEvent *ev = &g_array_index(g, DcdEvent, i);

        g_assert_cmpuint(ev->type, ==, type);
        g_assert_cmpint(ev->more, ==, i + 1 < g->len);
    }
}

GArray *textents(TQemu *q, uint32_t *gen)
{
    g_autoptr(GError) err = NULL;
    GArray *a = dcd_get_extents(&q->md->mbox, gen, &err);

    g_assert_no_error(err);
    return a;
}

static bool list_has_name(JsonNode *list, const char *name)
{
    JsonArray *a = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        if (g_str_equal(json_object_get_string_member(
                json_array_get_object_element(a, i), "name"), name)) {
            return true;
        }
    }
    return false;
}

static bool schema_has_enum(JsonNode *schema, const char *v1, const char *v2)
{
    JsonArray *a = json_node_get_array(schema);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        JsonArray *vals;
        bool h1 = false, h2 = false;

        if (!json_object_has_member(o, "values")) {
            continue;
        }
        vals = json_object_get_array_member(o, "values");
        for (guint j = 0; j < json_array_get_length(vals); j++) {
            const char *v = json_array_get_string_element(vals, j);

            h1 |= g_str_equal(v, v1);
            h2 |= g_str_equal(v, v2);
        }
        if (h1 && h2) {
            return true;
        }
    }
    return false;
}

const TFeatures *tfeatures(void)
{
    static TFeatures f;
    static bool probed;
    TQemuOpts o = { .dc_memdev_size = 256 * MiB };
    TQemu *q;
    g_autoptr(JsonNode) be = NULL, dev = NULL, schema = NULL;

    if (probed) {
        return &f;
    }
    q = tqemu_start(&o);
    be = tqmp(q, "qom-list-properties",
              dcd_qmp_args("s:typename", "memory-backend-file", NULL));
    dev = tqmp(q, "device-list-properties",
               dcd_qmp_args("s:typename", "cxl-type3", NULL));
    schema = tqmp(q, "query-qmp-schema", NULL);
    f.tag = list_has_name(be, "tag");
    f.total_size = list_has_name(dev, "dc-regions-total-size");
    f.shared = list_has_name(dev, "dc-regions-sharable");
    f.query = dcd_qmp_has_command(q->qmp, "cxl-query-dynamic-capacity");
    f.direct = schema_has_enum(schema, "mmio", "direct");
    {
        /* upstream refuses the policy itself; the series asks for a tag */
        g_autofree char *desc = tqmp_fail(q, "cxl-release-dynamic-capacity",
            trelease_args("tag-based", 0, "11111111-2222-4333-8444-"
                          "555555555555", NULL, 0));

        f.tag_release = !strstr(desc, "policy not supported");
    }
    tqemu_stop(q);
    probed = true;
    return &f;
}

bool trequire(bool have, const char *what)
{
    if (have) {
        return true;
    }
    if (g_strcmp0(g_getenv("DCD_QEMU_ALLOW_MISSING"), "1") == 0) {
        g_test_skip(what);
    } else {
        g_test_message("QEMU at %s lacks %s", tqemu_binary(), what);
        g_test_fail();
    }
    return false;
}

char *tbackend(TQemu *q, const char *id, const char *tag, uint64_t size)
{
    g_autoptr(GError) err = NULL;
    char *path = dcd_qemu_vm_backend(q, id, tag, size, &err);

    g_assert_no_error(err);
    return path;
}

JsonNode *tquery(TQemu *q)
{
    g_autoptr(GError) err = NULL;
    JsonNode *r = dcd_qemu_vm_query(q, &err);

    g_assert_no_error(err);
    return r;
}

bool talias(TQemu *q, uint64_t dpa)
{
    g_autofree char *mtree = thmp(q, "info mtree");
    g_autofree char *name = g_strdup_printf(
        ": alias cxl-dc-extent@0x%" G_GINT64_MODIFIER "x ", dpa);

    return strstr(mtree, name) != NULL;
}
