/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qtest.c - the qtest backend: one command line out, one reply line
 * back.  Block transfers use base64 and are cut into pieces so no line
 * grows without bound.
 */
#include <string.h>

#include "dcd-host/qtest.h"
#include "err.h"

#define BLOCK_MAX (1u << 20)

typedef struct QtestIo {
    DcdHostIo io;
    GIOStream *stream;
    GDataInputStream *in;
    GOutputStream *out;
    uint64_t trips;
} QtestIo;

#define IO_ERR(errp, ...) ERR(errp, DCD_HOST_ERR_IO, __VA_ARGS__)

/* Send one command; the reply's text after "OK" goes to *rest. */
static bool qt_cmd(QtestIo *q, char **rest, GError **errp,
                   const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static bool qt_cmd(QtestIo *q, char **rest, GError **errp,
                   const char *fmt, ...)
{
    g_autofree char *line = NULL;
    va_list ap;
    GError *err = NULL;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    if (!g_output_stream_write_all(q->out, line, strlen(line), NULL, NULL,
                                   &err)) {
        IO_ERR(errp, "qtest: send failed: %s", err->message);
        g_error_free(err);
        return false;
    }
    q->trips++;
    for (;;) {
        g_autofree char *reply = g_data_input_stream_read_line(q->in, NULL,
                                                               NULL, &err);

        if (!reply) {
            IO_ERR(errp, "qtest: connection lost%s%s", err ? ": " : "",
                err ? err->message : "");
            g_clear_error(&err);
            return false;
        }
        /* interrupt notices only come after irq_intercept; skip them */
        if (g_str_has_prefix(reply, "IRQ ")) {
            continue;
        }
        if (g_str_has_prefix(reply, "OK")) {
            if (rest) {
                *rest = g_strdup(g_strchug(reply + 2));
            }
            return true;
        }
        IO_ERR(errp, "qtest: '%.*s' failed: %s", (int)MIN(strlen(line) - 1, 64),
            line, reply);
        return false;
    }
}

static bool parse_u64(const char *s, uint64_t *val, GError **errp)
{
    char *end;

    *val = g_ascii_strtoull(s, &end, 0);
    if (end == s) {
        IO_ERR(errp, "qtest: bad value '%s'", s);
        return false;
    }
    return true;
}

static const char size_ch[9] = { [1] = 'b', [2] = 'w', [4] = 'l', [8] = 'q' };

static bool qt_read(DcdHostIo *io, uint64_t addr, unsigned size,
                    uint64_t *val, GError **errp)
{
    g_autofree char *r = NULL;

    return qt_cmd((QtestIo *)io, &r, errp, "read%c 0x%" G_GINT64_MODIFIER "x\n",
                  size_ch[size], addr) &&
           parse_u64(r, val, errp);
}

static bool qt_write(DcdHostIo *io, uint64_t addr, unsigned size,
                     uint64_t val, GError **errp)
{
    return qt_cmd((QtestIo *)io, NULL, errp,
                  "write%c 0x%" G_GINT64_MODIFIER "x 0x%" G_GINT64_MODIFIER
                  "x\n", size_ch[size], addr, val);
}

static bool qt_read_block(DcdHostIo *io, uint64_t addr, void *buf,
                          size_t len, GError **errp)
{
    uint8_t *p = buf;

    while (len) {
        size_t n = MIN(len, BLOCK_MAX);
        g_autofree char *r = NULL;
        g_autofree guchar *data = NULL;
        gsize got;

        if (!qt_cmd((QtestIo *)io, &r, errp,
                    "b64read 0x%" G_GINT64_MODIFIER "x 0x%zx\n", addr, n)) {
            return false;
        }
        data = g_base64_decode(r, &got);
        if (got != n) {
            IO_ERR(errp, "qtest: b64read returned %zu bytes, wanted %zu",
                (size_t)got, n);
            return false;
        }
        memcpy(p, data, n);
        p += n;
        addr += n;
        len -= n;
    }
    return true;
}

static bool qt_write_block(DcdHostIo *io, uint64_t addr, const void *buf,
                           size_t len, GError **errp)
{
    const uint8_t *p = buf;

    while (len) {
        size_t n = MIN(len, BLOCK_MAX);
        g_autofree char *b64 = g_base64_encode(p, n);

        if (!qt_cmd((QtestIo *)io, NULL, errp,
                    "b64write 0x%" G_GINT64_MODIFIER "x 0x%zx %s\n", addr, n,
                    b64)) {
            return false;
        }
        p += n;
        addr += n;
        len -= n;
    }
    return true;
}

static bool qt_port_read(DcdHostIo *io, uint16_t port, unsigned size,
                         uint32_t *val, GError **errp)
{
    g_autofree char *r = NULL;
    uint64_t v;

    if (!qt_cmd((QtestIo *)io, &r, errp, "in%c 0x%x\n", size_ch[size], port) ||
        !parse_u64(r, &v, errp)) {
        return false;
    }
    *val = v;
    return true;
}

static bool qt_port_write(DcdHostIo *io, uint16_t port, unsigned size,
                          uint32_t val, GError **errp)
{
    return qt_cmd((QtestIo *)io, NULL, errp, "out%c 0x%x 0x%x\n",
                  size_ch[size], port, val);
}

static bool qt_wait(DcdHostIo *io, uint64_t ns, GError **errp)
{
    g_autofree char *r = NULL;

    return qt_cmd((QtestIo *)io, &r, errp,
                  "clock_step %" G_GUINT64_FORMAT "\n", ns);
}

static void qt_free(DcdHostIo *io)
{
    QtestIo *q = (QtestIo *)io;

    g_io_stream_close(q->stream, NULL, NULL);
    g_object_unref(q->in);
    g_object_unref(q->stream);
    g_free(q);
}

static const DcdHostIoOps qtest_ops = {
    .read = qt_read,
    .write = qt_write,
    .read_block = qt_read_block,
    .write_block = qt_write_block,
    .port_read = qt_port_read,
    .port_write = qt_port_write,
    .wait = qt_wait,
    .free = qt_free,
};

DcdHostIo *dcd_qtest_new(GIOStream *stream)
{
    QtestIo *q = g_new0(QtestIo, 1);

    q->io.ops = &qtest_ops;
    q->stream = g_object_ref(stream);
    q->in = g_data_input_stream_new(g_io_stream_get_input_stream(stream));
    g_data_input_stream_set_newline_type(q->in,
                                         G_DATA_STREAM_NEWLINE_TYPE_LF);
    q->out = g_io_stream_get_output_stream(stream);
    return &q->io;
}

DcdHostIo *dcd_qtest_connect(const char *path, GError **errp)
{
    g_autoptr(GIOStream) s = dcd_io_unix_connect(path, "qtest", errp);

    if (!s) {
        return NULL;
    }
    return dcd_qtest_new(s);
}

uint64_t dcd_qtest_round_trips(DcdHostIo *io)
{
    return io->ops == &qtest_ops ? ((QtestIo *)io)->trips : 0;
}

GIOStream *dcd_io_unix_connect(const char *path, const char *what,
                               GError **errp)
{
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GError) err = NULL;
    GSocketConnection *conn;

    conn = g_socket_client_connect(sc, G_SOCKET_CONNECTABLE(addr), NULL,
                                   &err);
    if (!conn) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_IO,
                    "%s: cannot connect to %s: %s", what, path, err->message);
        return NULL;
    }
    return G_IO_STREAM(conn);
}
