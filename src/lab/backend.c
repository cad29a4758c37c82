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
 * Requests are parsed by the strict parser in http.c; a malformed one gets
 * 400 (501 for chunked bodies) and the connection is closed.  Pipelined
 * requests are answered in order with one write.
 *
 * It prints "ready" on stdout once every socket listens, and its counters
 * as one JSON object when SIGTERM or SIGINT arrives (then exits 0).  Resets
 * are counted when a read fails with ECONNRESET.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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

#include "lab/http.h"
#include <twkit/sock.h>

#include "lab/lab.h"
#include "tool.h"

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
        struct lab_http_msg m;
        int r = lab_http_parse_request(c->in + off, c->in_len - off, &m);
        if (r == 0)
            break;
        if (BK_BUF - c->out_len < 512)
            break; /* answer the rest after this batch is written */
        if (r < 0) {
            add(&g_stats.bad_requests);
            int st = r == LAB_HTTP_EUNSUP ? 501 : r == LAB_HTTP_ETOOBIG ? 431 : 400;
            c->out_len += fmt_response(c->out + c->out_len, BK_BUF - c->out_len, st, 1);
            c->close_after = true;
            c->refused = true;
            off = c->in_len;
            break;
        }
        add(&g_stats.requests);
        off += (size_t)r;
        c->body_left = m.content_length > 0 ? m.content_length : 0;
        bool close = g_mode != BK_KEEPALIVE || !lab_http_keepalive(&m);
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

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: twkit lab backend --listen ADDR:PORT [--listen ...] [OPTIONS]\n"
            "\n"
            "The lab's HTTP/1.1 backend: epoll, one thread per core, a fixed\n"
            "13-byte response.  Prints \"ready\" when listening; on SIGTERM or\n"
            "SIGINT prints its counters as JSON and exits.\n"
            "\n"
            "Options:\n"
            "  -l, --listen ADDR:PORT   address to listen on (up to 8)\n"
            "  -t, --threads N          worker threads (default: cores)\n"
            "  -m, --mode MODE          keepalive (default), close, rst\n"
            "      --backlog N          listen backlog (default 4096)\n"
            "  -h, --help               this help\n"
            "\n"
            "Examples:\n"
            "  twkit lab backend --listen 127.0.0.1:8080\n"
            "  twkit lab backend -l 198.18.0.2:8001 -l 198.18.0.2:8002 -m close\n");
}

int lab_backend_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"threads", required_argument, 0, 't'},
        {"mode", required_argument, 0, 'm'},   {"backlog", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "l:t:m:h", opts, NULL)) != -1) {
        switch (o) {
        case 'l':
            if (g_nlisten == BK_MAX_LISTEN)
                return twx_usage_err("lab backend", "at most %d --listen", BK_MAX_LISTEN);
            if (lab_parse_hostport(optarg, &g_listen[g_nlisten]) < 0)
                return twx_usage_err("lab backend", "bad --listen '%s': want IPv4:PORT", optarg);
            g_nlisten++;
            break;
        case 't': {
            uint64_t v;
            if (tw_parse_u64(optarg, 1, 256, &v))
                return twx_usage_err("lab backend", "bad --threads '%s': want 1-256", optarg);
            nthreads = (long)v;
            break;
        }
        case 'b': {
            uint64_t v;
            if (tw_parse_u64(optarg, 1, 65535, &v))
                return twx_usage_err("lab backend", "bad --backlog '%s': want 1-65535", optarg);
            g_backlog = (int)v;
            break;
        }
        case 'm':
            if (!strcmp(optarg, "keepalive"))
                g_mode = BK_KEEPALIVE;
            else if (!strcmp(optarg, "close"))
                g_mode = BK_CLOSE;
            else if (!strcmp(optarg, "rst"))
                g_mode = BK_RST;
            else
                return twx_usage_err("lab backend", "bad --mode '%s': keepalive, close or rst", optarg);
            break;
        case 'h':
            usage(stdout);
            return TW_EXIT_OK;
        default:
            return twx_usage_err("lab backend", "unknown option");
        }
    }
    if (optind < argc)
        return twx_usage_err("lab backend", "unexpected argument '%s'", argv[optind]);
    if (!g_nlisten)
        return twx_usage_err("lab backend", "--listen is required");

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
            char a[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &g_listen[k].sin_addr, a, sizeof(a));
            twx_err("lab backend: cannot listen on %s:%u: %s", a, ntohs(g_listen[k].sin_port),
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
                char a[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &g_listen[k].sin_addr, a, sizeof(a));
                twx_err("lab backend: cannot listen on %s:%u: %s", a,
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
    printf("ready\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    printf("{\"accepted\":%llu,\"requests\":%llu,\"resets\":%llu,\"bad_requests\":%llu,"
           "\"peer_closed\":%llu,\"server_closed\":%llu}\n",
           (unsigned long long)atomic_load(&g_stats.accepted),
           (unsigned long long)atomic_load(&g_stats.requests),
           (unsigned long long)atomic_load(&g_stats.resets),
           (unsigned long long)atomic_load(&g_stats.bad_requests),
           (unsigned long long)atomic_load(&g_stats.peer_closed),
           (unsigned long long)atomic_load(&g_stats.server_closed));
    fflush(stdout);
    /* Worker threads block in epoll_wait forever: leave without joining. */
    _exit(TW_EXIT_OK);
}
