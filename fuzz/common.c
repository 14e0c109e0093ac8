/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * common.c - helpers shared by the fuzz targets (see fuzz.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "fuzz.h"

/* Far more than any input needs; a loop that never settles is a bug. */
#define PUMP_LIMIT 1000000
/* Pumps a blocked write waits for the broker to read. */
#define WRITE_RETRIES 4

const char *const fuzz_tag_str[FUZZ_NTAGS] = {
    "5be13bce-ae34-4a77-b6c3-16df975fcf1a",
    "0d2f4c1e-7a3b-4c5d-8e9f-a0b1c2d3e4f5",
    "c0ffee00-1234-4bcd-9ef0-123456789abc",
    "deadbeef-0000-4000-8000-000000000001",
};

void fuzz_tag(unsigned i, DcdTag *tag)
{
    bool ok = dcd_tag_parse(fuzz_tag_str[i % FUZZ_NTAGS], tag);

    g_assert(ok);
}

void fuzz_fail(const char *file, int line, const char *cond,
               const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: fuzz check failed: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void quiet_log(const gchar *domain, GLogLevelFlags level,
                      const gchar *msg, gpointer opaque)
{
}

static GLogWriterOutput quiet_writer(GLogLevelFlags level,
                                     const GLogField *fields, gsize n,
                                     gpointer opaque)
{
    return G_LOG_WRITER_HANDLED;
}

/*
 * liburcu's call_rcu worker sleeps 10 ms after every wake-up, so the
 * rcu_barrier() in each dcd_broker_free() would hold a target to about
 * 100 inputs a second.  Here (the names are liburcu's, so these replace
 * its own for the whole program) a callback runs at once, after a grace
 * period, and rcu_barrier() has nothing left to wait for.  The broker
 * never calls call_rcu() inside a read-side section, which this needs.
 * Objects are freed sooner than in the daemon, never later, so a use
 * after call_rcu() shows up more readily, not less.
 */
void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
    synchronize_rcu();
    func(head);
}

void rcu_barrier(void)
{
}

static struct cds_lfht *keep_table;

void fuzz_init_logging(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    /*
     * liburcu starts its hash-table resize thread with the first table
     * and joins it with the last: one table for good keeps that out of
     * every input's broker.
     */
    keep_table = cds_lfht_new(1, 1, 0, CDS_LFHT_AUTO_RESIZE, NULL);
    /* A critical is a bug the tests would catch: let the fuzzer see it. */
    g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    if (!g_getenv("FUZZ_VERBOSE")) {
        g_log_set_default_handler(quiet_log, NULL);
        g_log_set_writer_func(quiet_writer, NULL, NULL);
    }
}

void fuzz_pump(bool (*idle_fn)(gpointer), gpointer opaque)
{
    for (unsigned n = 0;; n++) {
        FUZZ_CHECK(n < PUMP_LIMIT, "main loop busy after %u iterations", n);
        if (g_main_context_iteration(NULL, FALSE)) {
            continue;
        }
        if (idle_fn && idle_fn(opaque)) {
            continue;
        }
        return;
    }
}

void fuzz_socketpair(int *ours, GSocket **theirs)
{
    g_autoptr(GError) err = NULL;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        fuzz_fail(__FILE__, __LINE__, "socketpair", "%s", g_strerror(errno));
    }
    g_unix_set_fd_nonblocking(sv[0], TRUE, NULL);
    *ours = sv[0];
    *theirs = g_socket_new_from_fd(sv[1], &err);
    FUZZ_CHECK(*theirs, "g_socket_new_from_fd: %s", err->message);
}

bool fuzz_write(int fd, const void *buf, size_t len, const int *fds,
                unsigned nfds)
{
    const uint8_t *p = buf;
    unsigned tries = 0;

    while (len) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * 16)];
        } ctl;
        struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        /* fds ride on the first byte, as the protocol says. */
        if (nfds) {
            struct cmsghdr *c;

            g_assert(nfds <= 16);
            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            /* The broker reads from the loop; give it a turn. */
            if (++tries > WRITE_RETRIES) {
                return false;
            }
            for (unsigned i = 0; i < 64; i++) {
                g_main_context_iteration(NULL, FALSE);
            }
            continue;
        }
        if (n < 0) {
            return false; /* EPIPE, ECONNRESET: the broker hung up */
        }
        tries = 0;
        nfds = 0;
        p += n;
        len -= n;
    }
    return true;
}

void fuzz_clear_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        if (g_file_test(path, G_FILE_TEST_IS_DIR) &&
            !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
            fuzz_clear_dir(path);
            g_rmdir(path);
        } else {
            g_unlink(path);
        }
    }
}

static char *tmpdir;

static void remove_tmpdir(void)
{
    if (tmpdir) {
        fuzz_clear_dir(tmpdir);
        g_rmdir(tmpdir);
    }
}

const char *fuzz_tmpdir(void)
{
    static bool registered;
    g_autoptr(GError) err = NULL;

    if (!tmpdir) {
        /* The state loader fsyncs: memory makes that cheap. */
        if (!g_getenv("TMPDIR") && access("/dev/shm", W_OK) == 0) {
            tmpdir = g_strdup("/dev/shm/dcd-fuzz-XXXXXX");
            tmpdir = g_mkdtemp(tmpdir) ? tmpdir : (g_free(tmpdir), NULL);
        }
    }
    if (!tmpdir) {
        tmpdir = g_dir_make_tmp("dcd-fuzz-XXXXXX", &err);
        FUZZ_CHECK(tmpdir, "g_dir_make_tmp: %s", err->message);
    }
    if (!registered) {
        registered = true;
        atexit(remove_tmpdir);
    }
    return tmpdir;
}
