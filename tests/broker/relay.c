/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relay.c - a unix-socket relay that can cut a host's connection (see
 * relay.h).  One thread polls a wake pipe, the listener and the two ends
 * of the current connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "relay.h"

#define CHUNK 65536
#define MAX_FDS 16

struct TRelay {
    char *path, *target;
    GThread *thread;
    GMutex lock;
    GCond cond;
    int wake[2];
    int listen_fd;              /* -1 while cut */
    int host_fd, broker_fd;     /* the connection, or -1 */
    bool want_listen, quit;
    unsigned gen, done_gen;     /* a request and the thread's answer */
};

static int listen_on(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    unlink(path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, 4), ==, 0);
    return fd;
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void close_conn(TRelay *r)
{
    if (r->host_fd >= 0) {
        close(r->host_fd);
    }
    if (r->broker_fd >= 0) {
        close(r->broker_fd);
    }
    r->host_fd = r->broker_fd = -1;
}

/* Move one chunk from one end to the other, fds with it; false at EOF. */
static bool pump(int from, int to)
{
    char buf[CHUNK];
    char cbuf[CMSG_SPACE(MAX_FDS * sizeof(int))];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
    struct cmsghdr *c;
    int fds[MAX_FDS], nfds = 0;
    ssize_t n = recvmsg(from, &m, MSG_CMSG_CLOEXEC), sent;
    bool ok;

    if (n <= 0) {
        return false;
    }
    for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
            nfds += k;
        }
    }
    iov.iov_len = n;
    m.msg_controllen = 0;
    m.msg_control = NULL;
    if (nfds) {
        memset(cbuf, 0, sizeof(cbuf));
        m.msg_control = cbuf;
        m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    /* the fds ride on the first byte; the rest may need more writes */
    sent = sendmsg(to, &m, MSG_NOSIGNAL);
    for (int i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    while (sent > 0 && sent < n) {
        ssize_t k = send(to, buf + sent, n - sent, MSG_NOSIGNAL);

        if (k <= 0 && errno != EINTR) {
            return false;
        }
        sent += k > 0 ? k : 0;
    }
    ok = sent == n;
    return ok;
}

static gpointer relay_thread(gpointer opaque)
{
    TRelay *r = opaque;

    for (;;) {
        struct pollfd p[4] = {
            { .fd = r->wake[0], .events = POLLIN },
            { .fd = r->listen_fd, .events = POLLIN },
            { .fd = r->host_fd, .events = POLLIN },
            { .fd = r->broker_fd, .events = POLLIN },
        };
        char c;

        if (poll(p, 4, -1) < 0 && errno != EINTR) {
            g_error("relay: poll: %s", g_strerror(errno));
        }
        if (p[0].revents) {
            g_assert_cmpint(read(r->wake[0], &c, 1), ==, 1);
            g_mutex_lock(&r->lock);
            if (!r->want_listen || r->quit) {
                close_conn(r);
                if (r->listen_fd >= 0) {
                    close(r->listen_fd);
                    unlink(r->path);
                    r->listen_fd = -1;
                }
            } else if (r->listen_fd < 0) {
                r->listen_fd = listen_on(r->path);
            }
            r->done_gen = r->gen;
            g_cond_broadcast(&r->cond);
            if (r->quit) {
                g_mutex_unlock(&r->lock);
                return NULL;
            }
            g_mutex_unlock(&r->lock);
            continue;
        }
        if (p[1].revents & POLLIN) {
            int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);

            if (fd >= 0 && r->host_fd >= 0) {
                close(fd);          /* one host at a time */
            } else if (fd >= 0) {
                r->host_fd = fd;
                r->broker_fd = connect_to(r->target);
                if (r->broker_fd < 0) {
                    close_conn(r);
                }
            }
        }
        if ((p[2].revents && !pump(r->host_fd, r->broker_fd)) ||
            (p[3].revents && !pump(r->broker_fd, r->host_fd))) {
            close_conn(r);
        }
    }
}

static void request(TRelay *r, bool listen_, bool quit)
{
    char c = 0;

    g_mutex_lock(&r->lock);
    r->want_listen = listen_;
    r->quit = quit;
    r->gen++;
    g_assert_cmpint(write(r->wake[1], &c, 1), ==, 1);
    while (r->done_gen != r->gen) {
        g_cond_wait(&r->cond, &r->lock);
    }
    g_mutex_unlock(&r->lock);
}

TRelay *trelay_new(const char *dir, const char *target)
{
    TRelay *r = g_new0(TRelay, 1);

    r->path = g_build_filename(dir, "relay.sock", NULL);
    r->target = g_strdup(target);
    r->host_fd = r->broker_fd = -1;
    r->want_listen = true;
    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    g_assert_cmpint(pipe2(r->wake, O_CLOEXEC), ==, 0);
    r->listen_fd = listen_on(r->path);
    r->thread = g_thread_new("relay", relay_thread, r);
    return r;
}

const char *trelay_path(const TRelay *r)
{
    return r->path;
}

void trelay_cut(TRelay *r)
{
    request(r, false, false);
}

void trelay_restore(TRelay *r)
{
    request(r, true, false);
}

void trelay_free(TRelay *r)
{
    if (!r) {
        return;
    }
    request(r, false, true);
    g_thread_join(r->thread);
    close(r->wake[0]);
    close(r->wake[1]);
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->cond);
    g_free(r->path);
    g_free(r->target);
    g_free(r);
}
