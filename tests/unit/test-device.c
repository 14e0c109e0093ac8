/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The shared device's allocator, device pools' layouts and their saved
 * records (read like peer input).
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "dcd/proto.h"
#include "core/device.h"
#include "core/pool.h"
#include "core/record.h"

#define MB ((uint64_t)1 << 20)

typedef struct Fixture {
    char *dir;
    char *path;
    DcdDevice *d;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
    int fd;

    f->dir = g_dir_make_tmp("dcd-device-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "device", NULL);
    fd = open(f->path, O_RDWR | O_CREAT, 0600);
    g_assert_cmpint(ftruncate(fd, 16 * MB + 12345), ==, 0);
    close(fd);
    f->d = dcd_device_open(f->path, false, NULL);
    g_assert_nonnull(f->d);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    dcd_device_close(f->d);
    unlink(f->path);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
}

static GArray *ranges(unsigned n, ...)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(DcdDevRange));
    va_list ap;

    va_start(ap, n);
    for (unsigned i = 0; i < n; i++) {
        DcdDevRange r;

        r.offset = va_arg(ap, uint64_t);
        r.len = va_arg(ap, uint64_t);
        g_array_append_val(a, r);
    }
    va_end(ap);
    return a;
}

/* Whole blocks only; first fit; a claim of taken bytes takes nothing. */
static void test_alloc(Fixture *f, gconstpointer data)
{
    g_autoptr(GArray) a = g_array_new(FALSE, FALSE, sizeof(DcdDevRange));
    g_autoptr(GArray) b = g_array_new(FALSE, FALSE, sizeof(DcdDevRange));
    g_autoptr(GArray) bad = ranges(2, 14 * MB, 2 * MB, 4 * MB, 2 * MB);
    g_autoptr(GArray) past = ranges(1, 16 * MB, 2 * MB);
    g_autoptr(GError) err = NULL;

    g_assert_cmpuint(f->d->size, ==, 16 * MB);
    g_assert_cmpuint(dcd_device_free_bytes(f->d), ==, 16 * MB);
    g_assert_true(dcd_device_alloc(f->d, 6 * MB, a, NULL));
    g_assert_true(dcd_device_alloc(f->d, 4 * MB, b, NULL));
    g_assert_cmpuint(g_array_index(b, DcdDevRange, 0).offset, ==, 6 * MB);
    g_assert_false(dcd_device_alloc(f->d, 3 * MB, b, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    g_clear_error(&err);
    g_assert_false(dcd_device_alloc(f->d, 8 * MB, b, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOSPC);
    g_clear_error(&err);
    g_assert_cmpuint(b->len, ==, 1);

    /* [14, 16) is free but [4, 6) is not: nothing of it is taken. */
    g_assert_false(dcd_device_claim(f->d, bad, &err));
    g_assert_nonnull(strstr(err->message, "in another pool"));
    g_clear_error(&err);
    g_assert_cmpuint(dcd_device_free_bytes(f->d), ==, 6 * MB);
    g_assert_false(dcd_device_claim(f->d, past, &err));
    g_assert_nonnull(strstr(err->message, "outside the device"));

    /* Freed in the middle, then a pool in two runs. */
    dcd_device_put(f->d, a);
    g_array_set_size(a, 0);
    g_assert_true(dcd_device_alloc(f->d, 10 * MB, a, NULL));
    g_assert_cmpuint(a->len, ==, 2);
    g_assert_cmpuint(g_array_index(a, DcdDevRange, 1).offset, ==, 10 * MB);
    g_assert_cmpuint(dcd_device_free_bytes(f->d), ==, 2 * MB);
}

/* The zeroing keeps the range's bytes readable and empty. */
static void test_zero(Fixture *f, gconstpointer data)
{
    g_autoptr(GArray) a = ranges(1, 2 * MB, 2 * MB);
    char buf[8] = "";
    int fd = open(f->path, O_RDWR);

    g_assert_cmpint(pwrite(fd, "leftover", 8, 3 * MB), ==, 8);
    g_assert_cmpint(pwrite(fd, "neighbor", 8, 4 * MB), ==, 8);
    g_assert_true(dcd_device_zero(f->d, a, NULL));
    g_assert_cmpint(pread(fd, buf, 8, 3 * MB), ==, 8);
    g_assert_cmpmem(buf, 8, "\0\0\0\0\0\0\0\0", 8);
    g_assert_cmpint(pread(fd, buf, 8, 4 * MB), ==, 8);
    g_assert_cmpmem(buf, 8, "neighbor", 8);
    close(fd);
}

/* A segment lies in one range: the layout says where each is. */
static void test_layout(Fixture *f, gconstpointer data)
{
    g_autoptr(GArray) hole = g_array_new(FALSE, FALSE, sizeof(DcdDevRange));
    DcdTag tag = { { 1 } };
    DcdPool *p;
    uint64_t across[] = { 2 * MB, 4 * MB, 2 * MB };
    uint64_t cut[] = { 2 * MB, 2 * MB, 2 * MB, 2 * MB };
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_device_alloc(f->d, 4 * MB, hole, NULL));
    g_assert_true(dcd_device_alloc(f->d, 2 * MB, hole, NULL));
    g_array_set_size(hole, 1);
    dcd_device_put(f->d, hole);   /* free [0, 4): the next pool is cut */
    p = dcd_pool_create_on_device(&tag, 8 * MB, f->d, NULL);
    g_assert_nonnull(p);
    g_assert_cmpuint(p->ranges->len, ==, 2);
    g_assert_cmpuint(p->fd_size, ==, 16 * MB);
    g_assert_cmpuint(dcd_pool_run_left(p, 3 * MB), ==, MB);
    g_assert_cmpuint(dcd_pool_run_left(p, 4 * MB), ==, 4 * MB);
    g_assert_false(dcd_pool_set_layout(p, across, 3, &err));
    g_assert_nonnull(strstr(err->message, "spans two device ranges"));
    g_assert_true(dcd_pool_set_layout(p, cut, 4, NULL));
    g_assert_cmpuint(dcd_pool_segment(p, 1)->fd_offset, ==, 2 * MB);
    g_assert_cmpuint(dcd_pool_segment(p, 2)->fd_offset, ==, 6 * MB);
    g_assert_cmpuint(dcd_pool_segment(p, 3)->fd_offset, ==, 8 * MB);
    dcd_device_put(f->d, p->ranges);
    dcd_pool_free(p);
}

static bool decodes(const char *json, GError **errp)
{
    g_autoptr(JsonObject) o = dcd_record_parse(json);
    g_auto(DcdSavedPool) sp = { 0 };

    g_assert_nonnull(o);
    return dcd_record_decode_pool(o, &sp, errp);
}

#define POOL_HEAD "{\"tag\": \"5be13bce-ae34-4a77-b6c3-16df975fcf1a\"," \
                  " \"size\": 4194304, \"segments\": [], "

/* Saved device ranges are checked before anything uses them. */
static void test_records(void)
{
    GString *many = g_string_new(POOL_HEAD "\"backing\": \"device\","
                                 " \"device-ranges\": [");

    g_assert_true(decodes(POOL_HEAD "\"backing\": \"device\", \"device-"
                          "ranges\": [{\"offset\": 2097152, \"len\":"
                          " 4194304}]}", NULL));
    g_assert_false(decodes(POOL_HEAD "\"backing\": \"device\"}", NULL));
    g_assert_false(decodes(POOL_HEAD "\"backing\": \"memfd\", \"device-"
                           "ranges\": [{\"offset\": 0, \"len\": 4194304}]}",
                           NULL));
    g_assert_false(decodes(POOL_HEAD "\"backing\": \"device\", \"device-"
                           "ranges\": [{\"offset\": 4096, \"len\":"
                           " 4194304}]}", NULL));
    g_assert_false(decodes(POOL_HEAD "\"backing\": \"device\", \"device-"
                           "ranges\": [{\"offset\": 0, \"len\": 0}]}", NULL));
    g_assert_false(decodes(POOL_HEAD "\"backing\": \"device\", \"device-"
                           "ranges\": [4194304]}", NULL));
    g_assert_false(decodes(POOL_HEAD "\"backing\": \"device\", \"device-"
                           "ranges\": []}", NULL));
    for (unsigned i = 0; i <= DCD_MAX_RANGES; i++) {
        g_string_append_printf(many, "%s{\"offset\": %u, \"len\": 2097152}",
                               i ? ", " : "", i * 2097152);
    }
    g_string_append(many, "]}");
    g_assert_false(decodes(many->str, NULL));
    g_string_free(many, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/device/alloc", Fixture, NULL, fx_setup, test_alloc,
               fx_teardown);
    g_test_add("/device/zero", Fixture, NULL, fx_setup, test_zero,
               fx_teardown);
    g_test_add("/device/layout", Fixture, NULL, fx_setup, test_layout,
               fx_teardown);
    g_test_add_func("/device/records", test_records);
    return g_test_run();
}
