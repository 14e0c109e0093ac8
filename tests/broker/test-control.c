/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket and dcdctl: bad requests get an error and leave the
 * connection usable; dcdctl prints tables or JSON and exits 0, 1 (broker
 * said no) or 2 (bad usage) with one line on stderr.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* A raw control connection: send a line, read the reply line. */
typedef struct Raw {
    GSocketConnection *conn;
    GDataInputStream *in;
} Raw;

static Raw *raw_open(TBroker *b)
{
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(b->ctl_sock);
    Raw *r = g_new0(Raw, 1);

    r->conn = g_socket_client_connect(sc, G_SOCKET_CONNECTABLE(addr), NULL,
                                      NULL);
    g_assert_nonnull(r->conn);
    r->in = g_data_input_stream_new(
        g_io_stream_get_input_stream(G_IO_STREAM(r->conn)));
    return r;
}

static JsonObject *raw_call(Raw *r, const char *line)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(r->conn));
    g_autofree char *reply = NULL;
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_true(g_output_stream_write_all(out, line, strlen(line), NULL,
                                            NULL, NULL));
    g_assert_true(g_output_stream_write_all(out, "\n", 1, NULL, NULL, NULL));
    reply = g_data_input_stream_read_line(r->in, NULL, NULL, NULL);
    g_assert_nonnull(reply);
    g_assert_true(json_parser_load_from_data(p, reply, -1, NULL));
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static void raw_close(Raw *r)
{
    g_object_unref(r->in);
    g_object_unref(r->conn);
    g_free(r);
}

static const char *error_class(JsonObject *o)
{
    JsonNode *e = json_object_get_member(o, "error");

    g_assert_nonnull(e);
    return json_object_get_string_member(json_node_get_object(e), "class");
}

static void test_bad_requests(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    Raw *r = raw_open(b);
    g_autoptr(JsonObject) o1 = raw_call(r, "this is not json");
    g_autoptr(JsonObject) o2 = raw_call(r, "{\"id\": 1, \"command\": \"nope\"}");
    g_autoptr(JsonObject) o3 = raw_call(r,
        "{\"id\": 2, \"command\": \"pool-create\","
        " \"arguments\": {\"size\": 4096, \"colour\": \"red\"}}");
    g_autoptr(JsonObject) o4 = raw_call(r,
        "{\"id\": 3, \"command\": \"pool-create\","
        " \"arguments\": {\"size\": -5}}");
    g_autoptr(JsonObject) o5 = raw_call(r,
        "{\"id\": 4, \"command\": \"extent-add\", \"arguments\":"
        " {\"host-id\": 0, \"tag\": \"not-a-uuid\"}}");
    g_autoptr(JsonObject) o6 = raw_call(r, "{\"id\": 5, \"command\": \"status\"}");

    g_assert_cmpstr(error_class(o1), ==, "inval");
    g_assert_true(json_node_is_null(json_object_get_member(o1, "id")));
    g_assert_cmpstr(error_class(o2), ==, "inval");
    g_assert_cmpint(json_object_get_int_member(o2, "id"), ==, 1);
    g_assert_cmpstr(error_class(o3), ==, "inval");
    g_assert_cmpstr(error_class(o4), ==, "inval");
    g_assert_cmpstr(error_class(o5), ==, "inval");
    /* after all that, the same connection still works */
    g_assert_cmpint(json_object_get_int_member(o6, "id"), ==, 5);
    g_assert_true(json_object_has_member(o6, "return"));
    raw_close(r);
    tbroker_free(b);
}

/* A line over 1 MiB is refused and the connection closed. */
static void test_oversized(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    Raw *r = raw_open(b);
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(r->conn));
    g_autofree char *big = g_malloc(2 << 20);
    g_autofree char *reply = NULL;

    memset(big, ' ', 2 << 20);
    g_output_stream_write_all(out, big, 2 << 20, NULL, NULL, NULL);
    reply = g_data_input_stream_read_line(r->in, NULL, NULL, NULL);
    g_assert_nonnull(reply);
    g_assert_nonnull(strstr(reply, "longer than"));
    raw_close(r);
    json_node_unref(tcall(b, "status", "{}"));
    tbroker_free(b);
}

static int dcdctl(TBroker *b, char **out, char **err, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocess) p = NULL;
    va_list ap;

    g_ptr_array_add(argv, g_strdup(g_getenv("DCDCTL")));
    g_ptr_array_add(argv, g_strdup_printf("--socket=%s", b->ctl_sock));
    va_start(ap, err);
    for (const char *a = va_arg(ap, const char *); a;
         a = va_arg(ap, const char *)) {
        g_ptr_array_add(argv, g_strdup(a));
    }
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    p = g_subprocess_newv((const char *const *)argv->pdata,
                          G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                          G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL);
    g_assert_nonnull(p);
    g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, out, err,
                                                NULL));
    return g_subprocess_get_exit_status(p);
}

static void test_dcdctl(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    const char *tag = "0f5b6a2e-1d2c-4b7a-9e3f-51a6c0d2e4f8";

    g_assert_cmpint(dcdctl(b, &out, &err, "--json", "pool", "create",
                           "--size", "2M", "--tag", tag, NULL), ==, 0);
    g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
    g_assert_cmpint(json_object_get_int_member(
        json_node_get_object(json_parser_get_root(p)), "size"), ==, 2 << 20);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(dcdctl(b, &out, &err, "pool", "list", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "TAG"));
    g_assert_nonnull(strstr(out, tag));
    g_assert_nonnull(strstr(out, "2M"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* the broker says no: exit 1, one line naming the class */
    g_assert_cmpint(dcdctl(b, &out, &err, "pool", "create", "--size", "2M",
                           "--tag", tag, NULL), ==, 1);
    g_assert_true(g_str_has_prefix(err, "dcdctl: exist: "));
    g_assert_cmpint(strchr(err, '\n') - err, ==, (int)strlen(err) - 1);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(dcdctl(b, &out, &err, "extent", "add", "--host", "3",
                           "--tag", tag, NULL), ==, 1);
    g_assert_nonnull(strstr(err, "noent"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* bad usage: exit 2 before anything is sent */
    g_assert_cmpint(dcdctl(b, &out, &err, "pool", "create", "--size", "12X",
                           NULL), ==, 2);
    g_assert_nonnull(strstr(err, "not a size"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(dcdctl(b, &out, &err, "frobnicate", NULL), ==, 2);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(dcdctl(b, &out, &err, "pool", "destroy", tag, NULL), ==,
                    0);
    tbroker_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/control/bad-requests", test_bad_requests);
    g_test_add_func("/control/oversized", test_oversized);
    g_test_add_func("/control/dcdctl", test_dcdctl);
    return g_test_run();
}
