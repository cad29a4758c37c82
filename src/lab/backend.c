/*
 * backend.c — `twkit lab backend`: the lab's HTTP/1.1 server.
 *
 * One thread per core, each with its own epoll loop and its own listening
 * socket per address (SO_REUSEPORT lets the kernel spread connections), so
 * threads share nothing but relaxed counters.  It answers every request
 * with the same small response ("Hello, world\n") and closes the way the
 * mode says:
 *   keepalive  honour HTTP: keep the connection open unless the request
 *              asks to close (HTTP/1.0 without keep-alive, Connection: close);
 *              then the server closes first and the TIME_WAIT is its own;
 *   close      close after every response (server-side close);
 *   rst        close after every response with SO_LINGER {1, 0}: an RST,
 *              no TIME_WAIT (the anti-pattern, for the `rst` scenario).
 * Requests are parsed by the strict parser of twx/http; a malformed one
 * gets 400 (501 for chunked bodies) and the connection is closed.
 * Pipelined requests are answered in order with one write.
 *
 * It prints the "ready" message (docs/lab-ipc.md) on stdout once every
 * socket listens, and its counters as the "backend" message when SIGTERM
 * or SIGINT arrives (then exits 0).  Resets are counted when a read fails
 * with ECONNRESET.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab/lab.h"
#include "lab/msg.h"
#include "tool.h"
#include "twx/http.h"

#define BK_MAX_LISTEN 8
#define BK_BUF 16384

enum bk_mode { BK_KEEPALIVE, BK_CLOSE, BK_RST };

static const char BODY[] = "Hello, world\n";

struct bk_stats {
    _Atomic uint64_t accepted, requests, resets, bad_requests, peer_closed, server_closed;
};

static struct bk_stats g_stats;
static enum bk_mode g_mode = BK_KEEPALIVE;
static struct sockaddr_in g_listen[BK_MAX_LISTEN];
static int g_nlisten;
static int g_backlog = 4096;

struct bk_conn {
    int fd;
    bool listener;
    size_t in_len;      /* bytes in in[] */
    int64_t body_left;  /* request body bytes still to skip */
    size_t out_len, out_off;
    bool close_after;   /* close once out[] is written */
    bool refused;       /* close_after because the request was refused (4xx/5xx) */
    bool lingering;     /* refused: FIN sent, discarding input until the peer's FIN */
    char in[BK_BUF];
    char out[BK_BUF];
};

static void add(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* conn: 0 none, 1 "close", 2 "keep-alive" (HTTP/1.0 clients need it to keep
 * the connection; ab -k waits for the server to close otherwise). */
static size_t fmt_response(char *out, size_t cap, int status, int conn)
{
    const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request"
                       : status == 501 ? "Not Implemented" : "Request Header Fields Too Large";
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\nServer: twkit-lab\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n%s\r\n%s",
                     status, reason, status == 200 ? sizeof(BODY) - 1 : 0,
                     conn == 1 ? "Connection: close\r\n" : conn == 2 ? "Connection: keep-alive\r\n" : "",
                     status == 200 ? BODY : "");
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static void conn_close(int ep, struct bk_conn *c, bool rst)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (!rst) {
        /* Unread input would turn close() into an RST that can destroy the
         * response in the peer's buffer (a refused request's remainder):
         * discard what has arrived first. */
        char junk[4096];
        while (recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
            ;
    }
    if (rst) {
        struct linger l = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(c->fd);
    free(c);
}

/*
 * After the last response.  A refused request may still have input on the
 * way (a body, the rest of a pipeline): close() now would send an RST that
 * can destroy the response before the peer reads it.  So, as nginx's
 * lingering close does, send our FIN (shutdown) and discard input until the
 * peer's FIN, then close.
 */
static void finish_conn(int ep, struct bk_conn *c)
{
    add(&g_stats.server_closed);
    if (c->refused && g_mode != BK_RST && shutdown(c->fd, SHUT_WR) == 0) {
        c->lingering = true;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    conn_close(ep, c, g_mode == BK_RST);
}

/* Write pending output; returns 1 done, 0 would block, -1 error. */
static int flush_out(struct bk_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    c->out_len = c->out_off = 0;
    return 1;
}

/* Parse and answer every complete request in c->in.  Returns -1 on a fatal
 * protocol error (a response has been queued with close_after). */
static void serve(struct bk_conn *c)
{
    size_t off = 0;
    while (!c->close_after) {
        if (c->body_left > 0) {
            size_t n = c->in_len - off;
            if ((int64_t)n > c->body_left)
                n = (size_t)c->body_left;
            off += n;
            c->body_left -= (int64_t)n;
            if (c->body_left > 0)
                break;
        }
        if (off >= c->in_len)
            break;
        struct twx_http_msg m;
        int r = twx_http_parse_request(c->in + off, c->in_len - off, &m);
        if (r == 0)
            break;
        if (BK_BUF - c->out_len < 512)
            break; /* answer the rest after this batch is written */
        if (r < 0) {
            add(&g_stats.bad_requests);
            int st = r == TWX_HTTP_EUNSUP ? 501 : r == TWX_HTTP_ETOOBIG ? 431 : 400;
            c->out_len += fmt_response(c->out + c->out_len, BK_BUF - c->out_len, st, 1);
            c->close_after = true;
            c->refused = true;
            off = c->in_len;
            break;
        }
        add(&g_stats.requests);
        off += (size_t)r;
        c->body_left = m.content_length > 0 ? m.content_length : 0;
        bool close = g_mode != BK_KEEPALIVE || !twx_http_keepalive(&m);
        int conn = close ? (g_mode != BK_RST ? 1 : 0) : (m.minor == 0 ? 2 : 0);
        c->out_len += fmt_response(c->out + c->out_len, BK_BUF - c->out_len, 200, conn);
        if (close)
            c->close_after = true;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static void on_readable(int ep, struct bk_conn *c)
{
    if (c->lingering) {
        char junk[4096];
        ssize_t r;
        while ((r = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
            ;
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            conn_close(ep, c, false);
        return;
    }
    for (;;) {
        if (c->in_len == BK_BUF) {
            /* a head that does not fit: the parser already refused it, or
             * the peer pipelines faster than we write; stop reading. */
            break;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, BK_BUF - c->in_len, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            if (errno == ECONNRESET)
                add(&g_stats.resets);
            conn_close(ep, c, false);
            return;
        }
        if (r == 0) {
            add(&g_stats.peer_closed);
            conn_close(ep, c, false);
            return;
        }
        c->in_len += (size_t)r;
        if ((size_t)r < BK_BUF / 2)
            break;
    }
    serve(c);
    int f = flush_out(c);
    if (f < 0) {
        conn_close(ep, c, false);
        return;
    }
    if (f == 0) {
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    if (c->close_after)
        finish_conn(ep, c);
}

static void on_writable(int ep, struct bk_conn *c)
{
    int f = flush_out(c);
    if (f < 0) {
        conn_close(ep, c, false);
        return;
    }
    if (f == 0)
        return;
    if (c->close_after) {
        finish_conn(ep, c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    serve(c);
    if (c->out_len)
        on_writable(ep, c);
}

static void on_accept(int ep, struct bk_conn *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or EMFILE: retry on the next event */
        }
        add(&g_stats.accepted);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct bk_conn *c = malloc(sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->listener = false;
        c->in_len = c->out_len = c->out_off = 0;
        c->body_left = 0;
        c->close_after = false;
        c->refused = c->lingering = false;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}

static int listen_on(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 || listen(fd, g_backlog) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

struct bk_thread {
    pthread_t th;
    int ep;
};

static void *thread_main(void *arg)
{
    struct bk_thread *t = arg;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(t->ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct bk_conn *c = evs[i].data.ptr;
            if (c->listener)
                on_accept(t->ep, c);
            else if (evs[i].events & EPOLLOUT)
                on_writable(t->ep, c);
            else
                on_readable(t->ep, c);
        }
    }
    return NULL;
}

struct backend_args {
    struct listen_list {
        struct sockaddr_in a[BK_MAX_LISTEN];
        int n;
    } listen;
    uint64_t threads, backlog;
    int mode;
};

/* In the order of enum bk_mode. */
static const char *const mode_choices[] = {"keepalive", "close", "rst", NULL};

static int opt_listen(void *field, const char *v, char *err, size_t len)
{
    struct listen_list *l = field;
    if (l->n == BK_MAX_LISTEN) {
        snprintf(err, len, "at most %d addresses", BK_MAX_LISTEN);
        return -1;
    }
    if (lab_parse_hostport(v, &l->a[l->n]) < 0) {
        snprintf(err, len, "'%s' is not IPv4:PORT", v);
        return -1;
    }
    l->n++;
    return 0;
}

#define A struct backend_args
static const struct twx_opt backend_opts[] = {
    {.lng = "listen", .shrt = 'l', .type = TWX_FN, .off = offsetof(A, listen), .arg = "ADDR:PORT",
     .help = "address to listen on (required; up to 8)",
     .doc = "An IPv4 address and port to listen on; repeat it for up to 8. Required. A "
            "port that anything else holds is an error, never a silent share of an "
            "SO_REUSEPORT group.",
     .example = "127.0.0.1:8080", .fn = opt_listen, .flags = TWX_REPEAT},
    {.lng = "threads", .shrt = 't', .type = TWX_UINT, .off = offsetof(A, threads), .arg = "N",
     .help = "worker threads", .doc = "Worker threads, each with its own epoll loop and "
     "listening sockets (SO_REUSEPORT spreads connections over them).",
     .dflt = "the number of cores", .example = "2", .min = 1, .max = 256},
    {.lng = "mode", .shrt = 'm', .type = TWX_CHOICE, .off = offsetof(A, mode), .arg = "MODE",
     .help = "how connections end",
     .doc = "How connections end: *keepalive* honours HTTP (the connection stays open "
            "unless the request asks to close; then the server closes first), *close* "
            "closes after every response, *rst* closes after every response with "
            "SO_LINGER {1, 0} (an RST, no TIME_WAIT).",
     .dflt = "keepalive", .example = "close", .choices = mode_choices},
    {.lng = "backlog", .type = TWX_UINT, .off = offsetof(A, backlog), .arg = "N",
     .help = "listen backlog", .doc = "The backlog of each listening socket.",
     .dflt = "4096", .example = "128", .min = 1, .max = 65535},
    TOOL_OPT_HELP,
};
#undef A

static const struct twx_exit backend_exits[] = {
    {TW_EXIT_OK, "stopped by SIGTERM or SIGINT after printing its counters"},
    {TW_EXIT_RUNTIME, "runtime error: an address cannot be listened on, threads"},
    {TW_EXIT_USAGE, "usage error"},
};

static int run_backend(int argc, char **argv);

const struct twx_cmd lab_backend_command = {
    .name = "lab backend",
    .synopsis = "--listen ADDR:PORT [OPTIONS]",
    .summary = "the lab's HTTP/1.1 backend",
    .about = "The lab's HTTP/1.1 backend: epoll, one thread per core, a fixed 13-byte\n"
             "response.  It prints the \"ready\" message when it listens and its counters\n"
             "as the \"backend\" message on SIGTERM or SIGINT (docs/lab-ipc.md).\n",
    .opts = backend_opts,
    .n_opts = sizeof(backend_opts) / sizeof(backend_opts[0]),
    .args_size = sizeof(struct backend_args),
    .examples = "  twkit lab backend --listen 127.0.0.1:8080\n"
                "  twkit lab backend -l 198.18.0.2:8001 -l 198.18.0.2:8002 -m close\n",
    .exits = backend_exits,
    .n_exits = sizeof(backend_exits) / sizeof(backend_exits[0]),
    .man = "twkit-lab",
    .run = run_backend,
};

static int run_backend(int argc, char **argv)
{
    struct backend_args a;
    memset(&a, 0, sizeof(a));
    long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
    a.threads = nthreads > 0 ? (uint64_t)nthreads : 1;
    a.backlog = 4096;
    struct twx_parsed p;
    int rc = twx_opt_parse(&lab_backend_command, argc, argv, &a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    if (!a.listen.n)
        return twx_usage_err(lab_backend_command.name, "--listen is required");
    memcpy(g_listen, a.listen.a, sizeof(g_listen));
    g_nlisten = a.listen.n;
    g_mode = (enum bk_mode)a.mode;
    g_backlog = (int)a.backlog;
    nthreads = (long)a.threads;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* A port in use by anyone must be an error, not a silent share of an
     * SO_REUSEPORT group: probe each address without SO_REUSEPORT first. */
    for (int k = 0; k < g_nlisten; k++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, (const struct sockaddr *)&g_listen[k], sizeof(g_listen[k])) < 0) {
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &g_listen[k].sin_addr, ip, sizeof(ip));
            twx_err("lab backend: cannot listen on %s:%u: %s", ip, ntohs(g_listen[k].sin_port),
                     strerror(errno));
            return TW_EXIT_RUNTIME;
        }
        close(fd);
    }
    struct bk_thread *th = calloc((size_t)nthreads, sizeof(*th));
    if (!th)
        return TW_EXIT_RUNTIME;
    for (long i = 0; i < nthreads; i++) {
        th[i].ep = epoll_create1(EPOLL_CLOEXEC);
        if (th[i].ep < 0) {
            twx_err("lab backend: epoll: %s", strerror(errno));
            return TW_EXIT_RUNTIME;
        }
        for (int k = 0; k < g_nlisten; k++) {
            int fd = listen_on(&g_listen[k]);
            if (fd < 0) {
                char ip[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &g_listen[k].sin_addr, ip, sizeof(ip));
                twx_err("lab backend: cannot listen on %s:%u: %s", ip,
                         ntohs(g_listen[k].sin_port), strerror(-fd));
                return TW_EXIT_RUNTIME;
            }
            struct bk_conn *l = calloc(1, sizeof(*l));
            if (!l)
                return TW_EXIT_RUNTIME;
            l->fd = fd;
            l->listener = true;
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
            epoll_ctl(th[i].ep, EPOLL_CTL_ADD, fd, &ev);
        }
    }
    for (long i = 0; i < nthreads; i++) {
        if (pthread_create(&th[i].th, NULL, thread_main, &th[i]) != 0) {
            twx_err("lab backend: cannot start threads");
            return TW_EXIT_RUNTIME;
        }
    }
    lab_msg_ready(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    struct lab_be_counts c = {
        .accepted = atomic_load(&g_stats.accepted),
        .requests = atomic_load(&g_stats.requests),
        .resets = atomic_load(&g_stats.resets),
        .bad_requests = atomic_load(&g_stats.bad_requests),
        .peer_closed = atomic_load(&g_stats.peer_closed),
        .server_closed = atomic_load(&g_stats.server_closed),
    };
    lab_msg_backend(stdout, &c);
    /* Worker threads block in epoll_wait forever: leave without joining. */
    _exit(TW_EXIT_OK);
}
