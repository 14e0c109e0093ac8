/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control client against a scripted broker: a broker that refuses a
 * client writes one error line and hangs up before reading anything; the
 * client's send then fails, and it must report that line, not crash.
 */
#include <string.h>
#include <unistd.h>
#include <gio/gunixsocketaddress.h>

#include "dcd-client/ctlclient.h"

/* A scripted broker's listening socket in a new dir; path to free. */
static GSocket *listen_tmp(char **dir, char **path)
{
    g_autoptr(GSocketAddress) addr = NULL;
    GSocket *lsn = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                0, NULL);

    *dir = g_dir_make_tmp("ctlclient-XXXXXX", NULL);
    *path = g_build_filename(*dir, "c.sock", NULL);
    addr = g_unix_socket_address_new(*path);
    g_assert_true(g_socket_bind(lsn, addr, TRUE, NULL));
    g_assert_true(g_socket_listen(lsn, NULL));
    return lsn;
}

static void test_refused(void)
{
    g_autofree char *dir = NULL, *path = NULL;
    g_autoptr(GSocket) lsn = listen_tmp(&dir, &path);
    g_autoptr(GSocket) peer = NULL;
    g_autoptr(DcdCtlClient) c = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *big = g_malloc0(4 << 20);
    const char *line = "{\"id\":null,\"error\":{\"class\":\"perm\","
                       "\"desc\":\"uid 1234 may not connect\"}}\n";

    c = dcd_ctl_client_connect(path, &err);
    g_assert_no_error(err);
    peer = g_socket_accept(lsn, NULL, NULL);
    g_assert_nonnull(peer);
    g_assert_cmpint(g_socket_send(peer, line, strlen(line), NULL, NULL), ==,
                    strlen(line));
    g_socket_close(peer, NULL);
    /* an argument too big for the socket buffer: the send must fail */
    memset(big, 'x', (4 << 20) - 1);
    r = dcd_ctl_client_callf(c, "pool-create", &err, "{\"tag\":\"%s\"}", big);
    g_assert_null(r);
    g_assert_error(err, DCD_ERROR, DCD_ERR_PERM);
    g_assert_nonnull(strstr(err->message, "may not connect"));
    unlink(path);
    rmdir(dir);
}

/* A broker that says nothing at all: the client gives up in time. */
static void test_timeout(void)
{
    g_autofree char *dir = NULL, *path = NULL;
    g_autoptr(GSocket) lsn = listen_tmp(&dir, &path);
    g_autoptr(DcdCtlClient) c = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autoptr(GError) err = NULL;
    gint64 t0;

    c = dcd_ctl_client_connect(path, &err);
    g_assert_no_error(err);
    dcd_ctl_client_set_timeout(c, 1000);
    t0 = g_get_monotonic_time();
    r = dcd_ctl_client_call(c, "status", NULL, &err);
    g_assert_null(r);
    g_assert_error(err, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_assert_nonnull(strstr(err->message, "did not answer in 1 s"));
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, G_USEC_PER_SEC / 2);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ctlclient/refused", test_refused);
    g_test_add_func("/ctlclient/timeout", test_timeout);
    return g_test_run();
}
