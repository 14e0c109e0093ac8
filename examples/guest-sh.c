/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest-sh.c - run one shell command in a guest of the rig through its
 * command port (the second serial port, a unix socket on the host; see
 * guest/README.md) and print its output.  Exits with the command's
 * status.  With --wait-ready it first waits until the guest answers.  examples/two-vms.sh uses it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

static bool send_line(GSocketConnection *conn, const char *line,
                      GError **errp)
{
    /* "LENGTH COMMAND": the guest runs only a line that arrived whole */
    g_autofree char *l = g_strdup_printf("%zu %s\n", strlen(line), line);

    return g_output_stream_write_all(
        g_io_stream_get_output_stream(G_IO_STREAM(conn)), l, strlen(l), NULL,
        NULL, errp);
}

/*
 * The port may be connected before or after init opened it, so its
 * "=== ready" may have gone by.  Knock (an echo each second) until
 * something answers, then send a marker and skip all up to its answer:
 * knocks typed ahead are answered before it.
 */
static bool sync_port(GSocketConnection *conn, GDataInputStream *in,
                      GError **errp)
{
    GSocket *s = g_socket_connection_get_socket(conn);
    g_autofree char *marker = g_strdup_printf("guest-sh-sync-%d", getpid());
    g_autofree char *echo = g_strdup_printf("echo %s", marker);
    bool alive = false, synced = false;

    while (!alive) {
        if (!send_line(conn, "true", errp)) {
            return false;
        }
        if (g_socket_condition_timed_wait(s, G_IO_IN, G_USEC_PER_SEC, NULL,
                                          NULL)) {
            alive = true;
        }
    }
    if (!send_line(conn, echo, errp)) {
        return false;
    }
    while (!synced) {
        g_autofree char *line = g_data_input_stream_read_line_utf8(in, NULL,
                                                                   NULL, errp);

        if (!line) {
            return false;
        }
        synced = !strcmp(line, marker);
    }
    /* its own "=== rc 0" */
    g_free(g_data_input_stream_read_line_utf8(in, NULL, NULL, errp));
    return true;
}

int main(int argc, char **argv)
{
    gboolean wait_ready = FALSE;
    int timeout = 120;
    const GOptionEntry entries[] = {
        { "wait-ready", 0, 0, G_OPTION_ARG_NONE, &wait_ready,
          "wait for the guest to come up first", NULL },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
          "give up after this many seconds (default 120)", "S" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("SOCKET COMMAND - run a command in a guest");
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    char *line;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 3 ||
        strchr(argv[2], '\n') || timeout < 1) {
        fprintf(stderr, "guest-sh: %s\n", err ? err->message :
                "usage: guest-sh [--wait-ready] SOCKET COMMAND");
        return 2;
    }
    addr = g_unix_socket_address_new(argv[1]);
    if (!(conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr),
                                         NULL, &err))) {
        fprintf(stderr, "guest-sh: %s: %s\n", argv[1], err->message);
        return 2;
    }
    g_socket_set_timeout(g_socket_connection_get_socket(conn), timeout);
    in = g_data_input_stream_new(
        g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    if (wait_ready && !sync_port(conn, in, &err)) {
        fprintf(stderr, "guest-sh: the guest did not come up: %s\n",
                err->message);
        return 2;
    }
    if (!send_line(conn, argv[2], &err)) {
        fprintf(stderr, "guest-sh: %s\n", err->message);
        return 2;
    }
    while (!err &&
           (line = g_data_input_stream_read_line_utf8(in, NULL, NULL, &err))) {
        guint64 rc;

        if (g_str_has_prefix(line, "=== mangled ")) {
            fprintf(stderr, "guest-sh: the command did not arrive whole; "
                    "the guest got %s\n", line + 12);
            g_free(line);
            return 2;
        }
        if (g_str_has_prefix(line, "=== rc ") &&
            g_ascii_string_to_unsigned(line + 7, 10, 0, 255, &rc, NULL)) {
            g_free(line);
            return rc;
        }
        puts(line);
        g_free(line);
    }
    fprintf(stderr, "guest-sh: the guest did not answer%s%s\n",
            err ? ": " : "", err ? err->message : "");
    return 2;
}
