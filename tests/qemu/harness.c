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

#define START_TIMEOUT_US (20 * G_USEC_PER_SEC)

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
    g_autofree char *path = g_build_filename(q->dir, "qemu.err", NULL);
    g_autofree char *text = NULL;

    if (g_file_get_contents(path, &text, NULL, NULL) && *text) {
        g_test_message("%s stderr:\n%s", q->name, text);
    }
}

static GSocket *listen_on(const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    GSocket *s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                              G_SOCKET_PROTOCOL_DEFAULT, &err);

    g_assert_no_error(err);
    g_assert_true(g_socket_bind(s, addr, TRUE, &err));
    g_assert_true(g_socket_listen(s, &err));
    return s;
}

static GIOStream *accept_from(TQemu *q, GSocket *l, const char *what)
{
    g_autoptr(GError) err = NULL;
    gint64 deadline = g_get_monotonic_time() + START_TIMEOUT_US;
    GSocket *s;

    /* wake up now and then to notice a QEMU that exited */
    while (!g_socket_condition_timed_wait(l, G_IO_IN, 50000, NULL, NULL)) {
        while (g_main_context_iteration(NULL, FALSE)) {
        }
        if (q->exited || g_get_monotonic_time() > deadline) {
            tqemu_show_log(q);
            g_error("%s %s before connecting its %s socket", q->name,
                    q->exited ? "exited" : "timed out", what);
        }
    }
    s = g_socket_accept(l, NULL, &err);
    g_assert_no_error(err);
    g_socket_set_blocking(s, TRUE);
    {
        GSocketConnection *c = g_socket_connection_factory_create_connection(s);

        g_object_unref(s);
        return G_IO_STREAM(c);
    }
}

char *tfile(TQemu *q, const char *name, uint64_t size)
{
    char *path = g_build_filename(q->dir, name, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    return path;
}

void tfile_read(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, off), ==, (ssize_t)len);
    close(fd);
}

static void qemu_exited(GObject *src, GAsyncResult *res, gpointer opaque)
{
    TQemu *q = opaque;

    g_subprocess_wait_finish(G_SUBPROCESS(src), res, NULL);
    q->exited = true;
}

/* Run the default context (the child watch) until QEMU is gone. */
static bool wait_exit(TQemu *q, gint64 timeout_us)
{
    gint64 deadline = g_get_monotonic_time() + timeout_us;

    while (!q->exited && g_get_monotonic_time() < deadline) {
        while (g_main_context_iteration(NULL, FALSE)) {
        }
        if (!q->exited) {
            g_usleep(5000);
        }
    }
    return q->exited;
}

TQemu *tqemu_start(const TQemuOpts *o)
{
    TQemu *q = g_new0(TQemu, 1);
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocessLauncher) l = NULL;
    g_autofree char *qt_path = NULL, *qmp_path = NULL, *err_path = NULL;
    g_autoptr(GSocket) qt_l = NULL, qmp_l = NULL;
    g_autoptr(GIOStream) qt_s = NULL, qmp_s = NULL;
    uint64_t wsize = o->window_size ? o->window_size : 4 * GiB;
    unsigned regions = o->dc_regions ? o->dc_regions : 1;

    q->name = o->name ? g_strdup_printf("QEMU (%s)", o->name)
                      : g_strdup("QEMU");
    q->show_log = o->show_log;
    q->dir = g_dir_make_tmp("dcd-qemu-XXXXXX", &err);
    g_assert_no_error(err);
    qt_path = g_build_filename(q->dir, "qtest.sock", NULL);
    qmp_path = g_build_filename(q->dir, "qmp.sock", NULL);
    err_path = g_build_filename(q->dir, "qemu.err", NULL);
    qt_l = listen_on(qt_path);
    qmp_l = listen_on(qmp_path);

#define ARG(...) g_ptr_array_add(argv, g_strdup_printf(__VA_ARGS__))
    ARG("%s", tqemu_binary());
    ARG("-accel");
    ARG("qtest");
    ARG("-qtest");
    ARG("unix:%s", qt_path);
    ARG("-qtest-log");
    ARG("/dev/null");
    /* a test that aborts must not leave QEMU behind */
    ARG("-run-with");
    ARG("exit-with-parent=on");
    ARG("-qmp");
    ARG("unix:%s", qmp_path);
    ARG("-L");
    ARG("/usr/share/seabios");
    ARG("-nographic");
    ARG("-nodefaults");
    ARG("-global");
    ARG("apic-common.vapic=off");
    ARG("-m");
    ARG("256M");
    ARG("-M");
    ARG("q35,cxl=on,cxl-fmw.0.targets.0=cxl.1,"
        "cxl-fmw.0.size=%" G_GUINT64_FORMAT, wsize);
    ARG("-device");
    ARG("pxb-cxl,bus_nr=23,bus=pcie.0,id=cxl.1,hdm_for_passthrough=true");
    ARG("-device");
    ARG("cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2");
    if (o->dc_memdev_size) {
        q->dc_file = tfile(q, "dc.img", o->dc_memdev_size);
        ARG("-object");
        ARG("memory-backend-file,id=dc0,mem-path=%s,size=%" G_GUINT64_FORMAT
            ",share=on", q->dc_file, o->dc_memdev_size);
        ARG("-device");
        ARG("cxl-type3,bus=rp0,id=cxl-dcd0,num-dc-regions=%u,"
            "volatile-dc-memdev=dc0%s", regions,
            o->dev_props ? o->dev_props : "");
    } else {
        ARG("-device");
        ARG("cxl-type3,bus=rp0,id=cxl-dcd0,num-dc-regions=%u,"
            "dc-regions-total-size=%" G_GUINT64_FORMAT "%s", regions,
            o->dc_total_size, o->dev_props ? o->dev_props : "");
    }
    for (const char *const *e = o->extra; e && *e; e++) {
        ARG("%s", *e);
    }
#undef ARG
    g_ptr_array_add(argv, NULL);

    l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
    g_subprocess_launcher_set_stdout_file_path(l, err_path);
    g_subprocess_launcher_set_stderr_file_path(l, err_path);
    q->proc = g_subprocess_launcher_spawnv(l,
        (const char *const *)argv->pdata, &err);
    g_assert_no_error(err);
    g_subprocess_wait_async(q->proc, NULL, qemu_exited, q);

    qt_s = accept_from(q, qt_l, "qtest");
    qmp_s = accept_from(q, qmp_l, "QMP");
    q->io = dcd_qtest_new(qt_s);
    q->qmp = dcd_qmp_new(qmp_s, &err);
    if (!q->qmp) {
        tqemu_show_log(q);
    }
    g_assert_no_error(err);

    if (dcd_platform_from_qmp(&q->plat, q->qmp, &err) &&
        o->probe_root_buses) {
        q->plat.n_root_buses = 0;
    }
    if (err || !(q->host = dcd_driver_new(q->io, &q->plat, &err))) {
        tqemu_show_log(q);
    }
    g_assert_no_error(err);
    q->md = dcd_driver_memdev(q->host, 0);
    g_assert_nonnull(q->md);
    return q;
}

static void rm_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        g_unlink(p);
    }
    g_rmdir(dir);
}

bool tqemu_stop(TQemu *q)
{
    bool exited;

    if (!q) {
        return true;
    }
    dcd_driver_free(q->host);
    dcd_platform_clear(&q->plat);
    if (q->qmp) {
        /* QEMU may close the socket before it answers */
        if (!q->exited) {
            dcd_qmp_run(q->qmp, "quit", NULL, NULL);
        }
        dcd_qmp_free(q->qmp);
    }
    dcd_io_free(q->io);
    if (q->proc) {
        if (!wait_exit(q, 10 * G_USEC_PER_SEC)) {
            g_subprocess_force_exit(q->proc);
            wait_exit(q, 10 * G_USEC_PER_SEC);
        }
        g_object_unref(q->proc);
    }
    exited = q->exited;
    if (q->show_log) {
        tqemu_show_log(q);
    }
    rm_dir(q->dir);
    g_free(q->dir);
    g_free(q->name);
    g_free(q->dc_file);
    g_free(q);
    return exited;
}

bool tqemu_kill(TQemu *q)
{
    g_subprocess_force_exit(q->proc);
    wait_exit(q, 10 * G_USEC_PER_SEC);
    return tqemu_stop(q);
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

void tqmp_ok(TQemu *q, const char *cmd, JsonNode *args)
{
    JsonNode *r = tqmp(q, cmd, args);

    json_node_unref(r);
}

char *tqmp_fail(TQemu *q, const char *cmd, JsonNode *args)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = dcd_qmp_execute(q->qmp, cmd, args, &err);

    g_assert_null(r);
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

JsonNode *tadd_args(unsigned region, const char *tag, const uint64_t *ol,
                    unsigned n)
{
    JsonNode *ext = dcd_qmp_extent_list(ol, n);

    if (tag) {
        return dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)0,
                            "s:selection-policy", "prescriptive",
                            "i:region", (gint64)region, "s:tag", tag,
                            "n:extents", ext, NULL);
    }
    return dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)0,
                        "s:selection-policy", "prescriptive",
                        "i:region", (gint64)region, "n:extents", ext, NULL);
}

JsonNode *trelease_args(const char *policy, unsigned region, const char *tag,
                        const uint64_t *ol, unsigned n)
{
    JsonNode *ext = dcd_qmp_extent_list(ol, n);

    if (tag) {
        return dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)0,
                            "s:removal-policy", policy,
                            "i:region", (gint64)region, "s:tag", tag,
                            "n:extents", ext, NULL);
    }
    return dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)0,
                        "s:removal-policy", policy,
                        "i:region", (gint64)region, "n:extents", ext, NULL);
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

void tpattern(void *buf, size_t len, unsigned seed)
{
    uint8_t *p = buf;
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = x >> 16;
    }
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
    g_autofree char *name = g_strdup_printf("%s.mem", id);
    char *path = tfile(q, name, size);

    tqmp_ok(q, "object-add",
            dcd_qmp_args("s:qom-type", "memory-backend-file", "s:id", id,
                         "s:mem-path", path, "u:size", (guint64)size,
                         "b:share", TRUE, "s:tag", tag, NULL));
    return path;
}

JsonNode *tquery(TQemu *q)
{
    return tqmp(q, "cxl-query-dynamic-capacity",
                dcd_qmp_args("s:path", DCD_PATH, NULL));
}

JsonObject *tquery_at(JsonNode *list, uint64_t dpa)
{
    JsonArray *a = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if ((uint64_t)json_object_get_int_member(o, "dpa") == dpa) {
            return o;
        }
    }
    return NULL;
}

bool talias(TQemu *q, uint64_t dpa)
{
    g_autofree char *mtree = thmp(q, "info mtree");
    g_autofree char *name = g_strdup_printf(
        ": alias cxl-dc-extent@0x%" G_GINT64_MODIFIER "x ", dpa);

    return strstr(mtree, name) != NULL;
}
