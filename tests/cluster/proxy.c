/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy.c - blocking sockets, a thread per direction.  Ending either
 * direction shuts both sockets down, so the other pump ends too.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

typedef struct Conn {
    TProxy *p;
    int cfd, ufd;            /* client (the broker), upstream (etcd) */
    GThread *up, *down;
} Conn;

struct TProxy {
    int lfd;
    unsigned port, target;
    gint hold;               /* atomic */
    gint stop;               /* atomic */
    GThread *acceptor;
    GMutex lock;
    GPtrArray *conns;
};

static void end_conn(Conn *c)
{
    shutdown(c->cfd, SHUT_RDWR);
    shutdown(c->ufd, SHUT_RDWR);
}

static void pump(Conn *c, int from, int to, bool answers)
{
    char buf[65536];

    for (;;) {
        ssize_t n = read(from, buf, sizeof(buf));
        char *q = buf;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (answers && g_atomic_int_get(&c->p->hold)) {
            continue;  /* etcd answered; nobody hears it */
        }
        while (n > 0) {
            ssize_t w = write(to, q, n);

            if (w <= 0) {
                end_conn(c);
                return;
            }
            q += w;
            n -= w;
        }
    }
    end_conn(c);
}

static gpointer pump_up(gpointer opaque)
{
    Conn *c = opaque;

    pump(c, c->cfd, c->ufd, false);
    return NULL;
}

static gpointer pump_down(gpointer opaque)
{
    Conn *c = opaque;

    pump(c, c->ufd, c->cfd, true);
    return NULL;
}

static int loopback_socket(unsigned port, bool listening, unsigned *bound)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    if (!listening) {
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    g_assert_cmpint(listen(fd, 16), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &len), ==, 0);
    *bound = ntohs(a.sin_port);
    return fd;
}

static gpointer acceptor(gpointer opaque)
{
    TProxy *p = opaque;

    for (;;) {
        int cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        Conn *c;

        if (g_atomic_int_get(&p->stop)) {
            if (cfd >= 0) {
                close(cfd);
            }
            return NULL;
        }
        if (cfd < 0) {
            continue;
        }
        c = g_new0(Conn, 1);
        c->p = p;
        c->cfd = cfd;
        c->ufd = loopback_socket(p->target, false, NULL);
        if (c->ufd < 0) {
            close(cfd);
            g_free(c);
            continue;
        }
        c->up = g_thread_new("proxy-up", pump_up, c);
        c->down = g_thread_new("proxy-down", pump_down, c);
        g_mutex_lock(&p->lock);
        g_ptr_array_add(p->conns, c);
        g_mutex_unlock(&p->lock);
    }
}

TProxy *tproxy_new(unsigned target_port)
{
    TProxy *p = g_new0(TProxy, 1);

    p->target = target_port;
    p->lfd = loopback_socket(0, true, &p->port);
    g_mutex_init(&p->lock);
    p->conns = g_ptr_array_new();
    p->acceptor = g_thread_new("proxy-accept", acceptor, p);
    return p;
}

unsigned tproxy_port(const TProxy *p)
{
    return p->port;
}

void tproxy_hold(TProxy *p, bool hold)
{
    g_atomic_int_set(&p->hold, hold);
}

void tproxy_free(TProxy *p)
{
    g_atomic_int_set(&p->stop, 1);
    shutdown(p->lfd, SHUT_RDWR);
    g_thread_join(p->acceptor);
    close(p->lfd);
    for (guint i = 0; i < p->conns->len; i++) {
        Conn *c = p->conns->pdata[i];

        end_conn(c);
        g_thread_join(c->up);
        g_thread_join(c->down);
        close(c->cfd);
        close(c->ufd);
        g_free(c);
    }
    g_ptr_array_unref(p->conns);
    g_mutex_clear(&p->lock);
    g_free(p);
}
