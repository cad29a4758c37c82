/*
 * app.c — the applications of a run: the server's listener and the two
 * sockets on the tuple, held by twkit itself (made inside their host with
 * twx_topo_socket, used from here).  Every call is recorded as an event on
 * the timeline with its result, the caller's socket is sampled right after
 * it, and the wire is drained, so what the call made the kernel send is
 * recorded next.  Sockets are non-blocking: a call never waits on the
 * wire, which only moves when twkit relays.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "explain.h"
#include "twx/clock.h"
#include "twx/text.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

static const char *host_name(int h)
{
    return h == XH_CLIENT ? "client" : "server";
}

static void errname(char *buf, size_t len, int e)
{
    const char *n = strerrorname_np(e);
    snprintf(buf, len, "%s", n ? n : "error");
}

static int app_event(struct xrun *r, int host, const char *call)
{
    int e = x_event(r, XE_APP, host, -1);
    if (e >= 0)
        snprintf(r->ev[e].text, sizeof(r->ev[e].text), "%s", call);
    r->last_app = e;
    return e;
}

static void set_result(struct xrun *r, int e, int v)
{
    if (e >= 0)
        snprintf(r->ev[e].result, sizeof(r->ev[e].result), "%d", v);
}

static void set_errno(struct xrun *r, int e, int err)
{
    if (e >= 0)
        errname(r->ev[e].result, sizeof(r->ev[e].result), err);
}

static int sockaddr_of(const struct xrun *r, int h, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (r->family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(r->port[h]);
        inet_pton(AF_INET6, r->addr[h], &a->sin6_addr);
        return sizeof(*a);
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(r->port[h]);
    inet_pton(AF_INET, r->addr[h], &a->sin_addr);
    return sizeof(*a);
}

static int new_socket(struct xrun *r, int h)
{
    int fd = twx_topo_socket(&r->topo, h, r->family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        x_fail(r, "cannot make a socket in the %s host: %s", host_name(h), strerror(-fd));
    return fd;
}

int x_listen(struct xrun *r)
{
    int fd = new_socket(r, XH_SERVER);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_storage ss;
    int sl = sockaddr_of(r, XH_SERVER, &ss);
    char call[64];
    snprintf(call, sizeof(call), "listen() on port %u", r->port[XH_SERVER]);
    int e = app_event(r, XH_SERVER, call);
    if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0 || listen(fd, 8) < 0) {
        x_fail(r, "server: listen on port %u: %s", r->port[XH_SERVER], strerror(errno));
        close(fd);
        return -1;
    }
    set_result(r, e, 0);
    r->listener = fd;
    x_sample(r, XH_SERVER, e);
    return 0;
}

int x_connect(struct xrun *r)
{
    int fd = new_socket(r, XH_CLIENT);
    if (fd < 0)
        return -1;
    /* The client's port: always 40000, chosen by connect() itself (the
     * autobind path, where tcp_tw_reuse applies), not by bind(). */
    uint32_t range = (uint32_t)X_CLIENT_PORT << 16 | X_CLIENT_PORT;
    if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof(range)) < 0) {
        x_fail(r, "IP_LOCAL_PORT_RANGE: %s (needs Linux 6.3)", strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage ss;
    int sl = sockaddr_of(r, XH_SERVER, &ss);
    int e = app_event(r, XH_CLIENT, "connect()");
    int rc = connect(fd, (struct sockaddr *)&ss, (socklen_t)sl);
    int err = rc < 0 ? errno : 0;
    if (rc < 0 && err != EINPROGRESS) {
        set_errno(r, e, err);
        close(fd);
        x_sample(r, XH_CLIENT, e);
        return err;
    }
    r->fd[XH_CLIENT] = fd;
    x_sample(r, XH_CLIENT, e);
    x_drain(r);
    socklen_t l = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
        set_errno(r, e, err);
        return err;
    }
    struct sockaddr_storage peer;
    l = sizeof(peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &l) < 0) {
        set_errno(r, e, EINPROGRESS);
        return EINPROGRESS;
    }
    set_result(r, e, 0);
    return 0;
}

int x_accept(struct xrun *r)
{
    int e = app_event(r, XH_SERVER, "accept()");
    int fd = accept4(r->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        set_errno(r, e, errno);
        return -errno;
    }
    set_result(r, e, 0);
    r->fd[XH_SERVER] = fd;
    x_sample(r, XH_SERVER, e);
    return 0;
}

int x_send(struct xrun *r, int h, const char *data)
{
    char esc[64], call[96];
    snprintf(call, sizeof(call), "send(\"%s\")", twx_esc(esc, sizeof(esc), data));
    int e = app_event(r, h, call);
    ssize_t n = send(r->fd[h], data, strlen(data), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
        set_errno(r, e, errno);
    else
        set_result(r, e, (int)n);
    x_sample(r, h, e);
    x_drain(r);
    return n < 0 ? -errno : (int)n;
}

int x_recv(struct xrun *r, int h, char *buf, size_t len)
{
    int e = app_event(r, h, "recv()");
    ssize_t n = recv(r->fd[h], buf, len - 1, MSG_DONTWAIT);
    int err = errno;
    if (n < 0) {
        buf[0] = 0;
        set_errno(r, e, err);
    } else {
        buf[n] = 0;
        char esc[64];
        if (e >= 0) {
            if (n == 0)
                snprintf(r->ev[e].result, sizeof(r->ev[e].result), "0 (end of data)");
            else
                snprintf(r->ev[e].result, sizeof(r->ev[e].result), "%d \"%s\"", (int)n,
                         twx_esc(esc, sizeof(esc), buf));
        }
    }
    x_sample(r, h, e);
    x_drain(r);
    return n < 0 ? -err : (int)n;
}

static void do_close(struct xrun *r, int h, const char *call)
{
    int e = app_event(r, h, call);
    if (r->fd[h] >= 0) {
        close(r->fd[h]);
        r->fd[h] = -1;
    }
    set_result(r, e, 0);
    x_sample(r, h, e);
    x_drain(r);
}

void x_close(struct xrun *r, int h)
{
    do_close(r, h, "close()");
}

void x_linger0(struct xrun *r, int h)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    if (r->fd[h] >= 0 && setsockopt(r->fd[h], SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0)
        x_fail(r, "SO_LINGER: %s", strerror(errno));
    do_close(r, h, "close(), SO_LINGER {1, 0}");
}

void x_shutdown_wr(struct xrun *r, int h)
{
    int e = app_event(r, h, "shutdown(SHUT_WR)");
    if (shutdown(r->fd[h], SHUT_WR) < 0)
        set_errno(r, e, errno);
    else
        set_result(r, e, 0);
    x_sample(r, h, e);
    x_drain(r);
}

int x_sock_error(struct xrun *r, int h)
{
    int e = app_event(r, h, "getsockopt(SO_ERROR)");
    int err = 0;
    socklen_t l = sizeof(err);
    if (r->fd[h] < 0 || getsockopt(r->fd[h], SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        err = r->fd[h] < 0 ? EBADF : errno;
    if (err)
        set_errno(r, e, err);
    else
        set_result(r, e, 0);
    return err;
}

int x_destroy(struct xrun *r, int h)
{
    int e = x_event(r, XE_NOTE, h, -1);
    if (e >= 0)
        snprintf(r->ev[e].text, sizeof(r->ev[e].text), "SOCK_DESTROY");
    r->last_app = e;
    int rc = x_diag_destroy(r, h);
    if (rc < 0) {
        set_errno(r, e, -rc);
        if (rc == -EOPNOTSUPP)
            x_fail(r, "SOCK_DESTROY is not supported by this kernel (CONFIG_INET_DIAG_DESTROY)");
        else
            x_fail(r, "SOCK_DESTROY in the %s host: %s", host_name(h), strerror(-rc));
    } else {
        set_result(r, e, 0);
    }
    x_sample(r, h, e);
    return rc;
}

int x_bind_probe(struct xrun *r, int h)
{
    char call[64];
    snprintf(call, sizeof(call), "bind(port %u)", r->port[h]);
    int fd = new_socket(r, h);
    if (fd < 0)
        return -1;
    int e = app_event(r, h, call);
    struct sockaddr_storage ss;
    int sl = sockaddr_of(r, h, &ss);
    int err = bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0 ? errno : 0;
    close(fd);
    if (err)
        set_errno(r, e, err);
    else
        set_result(r, e, 0);
    return err;
}

int64_t x_wait_gone(struct xrun *r, int h, int timeout_ms)
{
    uint64_t start = x_now(r);
    for (int waited = 0; waited <= timeout_ms && !r->failed; waited += 250) {
        x_pump(r, 250);
        x_sample(r, h, -1);
        if (r->lane[h] != 6)
            return (int64_t)((x_now(r) - start) / 1000000);
    }
    return -1;
}
