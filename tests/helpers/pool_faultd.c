/*
 * pool_faultd.c — a fault-injecting HTTP/1.1 keep-alive server for the
 * tw_pool tests, example and benchmark.
 *
 * The pool must never hand out a connection that the server has closed,
 * reset or written to while it sat idle, and must keep its caps and
 * deadlines when the server is slow or absent.  This server produces each
 * of those situations on demand, in one single-threaded epoll loop:
 *
 *   -l [ADDR:]PORT  serve on ADDR:PORT (ADDR default 127.0.0.1; "[::1]:P"
 *                   for IPv6); repeatable
 *   -c PORT         control port on 127.0.0.1 (line protocol, below)
 *   -S PORT         a "stalled" listener on 127.0.0.1: backlog 0 and its one
 *                   queue slot filled by the server itself, so every other
 *                   SYN is dropped and connect() hangs
 *   -i MS           close connections idle for MS ms (0: never)
 *   -r N            every Nth idle close is a reset (SO_LINGER 0)
 *   -m N            close a connection after N responses
 *   -d MS           delay each response by MS ms
 *   -a MS           accept slowly: at most one accept() per MS ms, backlog 1
 *   -t SECS         exit after SECS seconds (default 600)
 *   -w              exit when standard input reaches EOF (parent died)
 *
 * Requests are anything ending in "\r\n\r\n"; each gets
 * "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".  Once every listener is
 * bound, the server prints "ready" on standard output.
 *
 * Control commands, one per line, one reply line each:
 *   stats                 accepted=.. requests=.. open=.. idle=.. idle_closed=..
 *                         resets=.. killed=.. junk=..
 *   kill fin|rst|junk [N] act on every Nth idle connection (default every
 *                         one): close it, reset it, or write one unexpected
 *                         byte to it; reply "killed K"
 *   quit                  exit
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "twx/clock.h"

#define MAXL 16
#define BUFSZ 4096

enum kind { K_LISTEN, K_SLOWLISTEN, K_CONN, K_CTL_LISTEN, K_CTL, K_STDIN };

struct obj {
    enum kind kind;
    int fd;
    struct obj *next, *prev; /* list of connections (K_CONN, K_CTL) */
    uint64_t last_ms;        /* last activity */
    uint64_t due_ms;         /* delayed responses are due (0: none) */
    unsigned pending;        /* responses not yet written */
    unsigned nresp;          /* responses written */
    int junked;
    size_t len;
    char buf[BUFSZ];
};

static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
static const char RESP_CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

static int ep;
static struct obj *conns; /* K_CONN and K_CTL objects */
static unsigned idle_ms, rst_every, max_resp, delay_ms, accept_ms;
static unsigned long n_accepted, n_requests, n_open, n_idle_closed, n_resets,
    n_killed, n_junk, idle_closes;
static struct obj *slow[MAXL];
static int nslow;
static uint64_t next_accept_ms;
static volatile sig_atomic_t stop;

static void die(const char *what)
{
    fprintf(stderr, "pool_faultd: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static struct obj *owned[2 * MAXL + 4]; /* listeners, stdin: freed at exit */
static int nowned;

static struct obj *obj_new(enum kind k, int fd)
{
    struct obj *o = calloc(1, sizeof(*o));

    if (!o)
        die("calloc");
    if (k != K_CONN && k != K_CTL && nowned < (int)(sizeof(owned) / sizeof(owned[0])))
        owned[nowned++] = o;
    o->kind = k;
    o->fd = fd;
    o->last_ms = twx_now_ms();
    return o;
}

static void watch(struct obj *o)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = o };

    if (epoll_ctl(ep, EPOLL_CTL_ADD, o->fd, &ev) < 0)
        die("epoll_ctl");
}

static void link_conn(struct obj *o)
{
    o->next = conns;
    o->prev = NULL;
    if (conns)
        conns->prev = o;
    conns = o;
}

static void conn_free(struct obj *o, int reset)
{
    if (reset) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        setsockopt(o->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(o->fd); /* also leaves the epoll set */
    if (o->prev)
        o->prev->next = o->next;
    else
        conns = o->next;
    if (o->next)
        o->next->prev = o->prev;
    if (o->kind == K_CONN)
        n_open--;
    free(o);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon;
    long port;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
            return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
        port = strtol(end + 2, NULL, 10);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -1;
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;

        colon = strrchr(s, ':');
        if (colon) {
            if ((size_t)(colon - s) >= sizeof(host))
                return -1;
            memcpy(host, s, (size_t)(colon - s));
            host[colon - s] = 0;
            port = strtol(colon + 1, NULL, 10);
        } else {
            snprintf(host, sizeof(host), "127.0.0.1");
            port = strtol(s, NULL, 10);
        }
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -1;
        *len = sizeof(*a);
    }
    return port > 0 && port < 65536 ? 0 : -1;
}

static int listen_on(const char *spec, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    if (parse_addr(spec, &ss, &len) < 0) {
        fprintf(stderr, "pool_faultd: bad address %s\n", spec);
        exit(2);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        die(spec);
    if (listen(fd, backlog) < 0)
        die("listen");
    return fd;
}

static void send_resp(struct obj *o)
{
    int last = max_resp && o->nresp + 1 >= max_resp;
    const char *r = last ? RESP_CLOSE : RESP;
    size_t n = last ? sizeof(RESP_CLOSE) - 1 : sizeof(RESP) - 1;

    if (write(o->fd, r, n) != (ssize_t)n) {
        conn_free(o, 0);
        return;
    }
    o->nresp++;
    o->pending--;
    o->last_ms = twx_now_ms();
    if (last)
        conn_free(o, 0);
}

/* Count complete requests in o->buf, consume them; returns how many. */
static unsigned take_requests(struct obj *o)
{
    unsigned n = 0;
    char *end;

    o->buf[o->len] = 0;
    while ((end = strstr(o->buf, "\r\n\r\n")) != NULL) {
        size_t used = (size_t)(end - o->buf) + 4;

        memmove(o->buf, o->buf + used, o->len - used + 1);
        o->len -= used;
        n++;
    }
    return n;
}

static void on_conn(struct obj *o)
{
    ssize_t r = read(o->fd, o->buf + o->len, BUFSZ - 1 - o->len);
    unsigned n;

    if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
            return;
        conn_free(o, 0);
        return;
    }
    o->len += (size_t)r;
    o->last_ms = twx_now_ms();
    n = take_requests(o);
    if (o->len == BUFSZ - 1) { /* no request fits: drop it */
        conn_free(o, 1);
        return;
    }
    n_requests += n;
    o->pending += n;
    if (!n)
        return;
    if (delay_ms) {
        if (!o->due_ms)
            o->due_ms = o->last_ms + delay_ms;
        return;
    }
    while (o->pending) {
        unsigned before = o->pending;
        int closing = max_resp && o->nresp + 1 >= max_resp;

        send_resp(o);
        if (closing || o->pending == before)
            return; /* o was freed */
    }
}

static int is_idle(const struct obj *o)
{
    return o->kind == K_CONN && o->len == 0 && o->pending == 0 && !o->junked;
}

static void kill_idle(const char *how, unsigned every, char *reply, size_t rlen)
{
    struct obj *o = conns, *next;
    unsigned i = 0, k = 0;

    if (!every)
        every = 1;
    for (; o; o = next) {
        next = o->next;
        if (!is_idle(o))
            continue;
        if (i++ % every)
            continue;
        k++;
        if (strcmp(how, "fin") == 0) {
            conn_free(o, 0);
        } else if (strcmp(how, "rst") == 0) {
            conn_free(o, 1);
        } else {
            if (write(o->fd, "X", 1) == 1) {
                o->junked = 1;
                n_junk++;
            }
        }
    }
    n_killed += k;
    snprintf(reply, rlen, "killed %u\n", k);
}

static void on_ctl(struct obj *o)
{
    ssize_t r = read(o->fd, o->buf + o->len, BUFSZ - 1 - o->len);
    char *nl;

    if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
            return;
        conn_free(o, 0);
        return;
    }
    o->len += (size_t)r;
    o->buf[o->len] = 0;
    while ((nl = strchr(o->buf, '\n')) != NULL) {
        char reply[512], how[16] = "";
        unsigned every = 1;
        size_t used = (size_t)(nl - o->buf) + 1;

        *nl = 0;
        if (strcmp(o->buf, "stats") == 0) {
            unsigned long idle = 0;

            for (struct obj *c = conns; c; c = c->next)
                idle += is_idle(c);
            snprintf(reply, sizeof(reply),
                     "accepted=%lu requests=%lu open=%lu idle=%lu "
                     "idle_closed=%lu resets=%lu killed=%lu junk=%lu\n",
                     n_accepted, n_requests, n_open, idle, n_idle_closed,
                     n_resets, n_killed, n_junk);
        } else if (sscanf(o->buf, "kill %15s %u", how, &every) >= 1 &&
                   (!strcmp(how, "fin") || !strcmp(how, "rst") ||
                    !strcmp(how, "junk"))) {
            kill_idle(how, every, reply, sizeof(reply));
        } else if (strcmp(o->buf, "quit") == 0) {
            stop = 1;
            snprintf(reply, sizeof(reply), "bye\n");
        } else {
            snprintf(reply, sizeof(reply), "error\n");
        }
        if (write(o->fd, reply, strlen(reply)) < 0) {
            conn_free(o, 0);
            return;
        }
        memmove(o->buf, o->buf + used, o->len - used + 1);
        o->len -= used;
    }
}

static void accept_one(int lfd, enum kind k)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct obj *o;

    if (fd < 0)
        return;
    o = obj_new(k, fd);
    if (k == K_CONN) {
        int one = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        n_accepted++;
        n_open++;
    }
    link_conn(o);
    watch(o);
}

/* Timers: delayed responses, idle closes, slow accepts. */
static void tick(void)
{
    uint64_t now = twx_now_ms();
    struct obj *o, *next;

    for (o = conns; o; o = next) {
        next = o->next;
        if (o->kind != K_CONN)
            continue;
        if (o->due_ms && now >= o->due_ms) {
            o->due_ms = 0;
            while (o->pending) {
                int closing = max_resp && o->nresp + 1 >= max_resp;
                unsigned before = o->pending;

                send_resp(o);
                if (closing || o->pending == before)
                    break;
            }
            continue;
        }
        if (idle_ms && is_idle(o) && now - o->last_ms >= idle_ms) {
            int rst = rst_every && (++idle_closes % rst_every) == 0;

            n_idle_closed++;
            n_resets += rst;
            conn_free(o, rst);
        }
    }
    if (nslow && now >= next_accept_ms) {
        for (int i = 0; i < nslow; i++)
            accept_one(slow[i]->fd, K_CONN);
        next_accept_ms = now + accept_ms;
    }
}

static int tick_ms(void)
{
    int t = -1;

    if (idle_ms || delay_ms)
        t = 2;
    if (accept_ms && (t < 0 || (int)accept_ms < t))
        t = (int)accept_ms;
    return t;
}

static void usage(void)
{
    fprintf(stderr, "usage: pool_faultd [-l [ADDR:]PORT]... [-c PORT] [-S PORT] "
                    "[-i MS] [-r N] [-m N] [-d MS] [-a MS] [-t SECS] [-w]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *lspec[MAXL];
    int nl = 0, opt, watch_stdin = 0, ctl_port = 0, stall_port = 0;
    unsigned limit_s = 600;
    struct epoll_event evs[64];
    uint64_t end;

    while ((opt = getopt(argc, argv, "l:c:S:i:r:m:d:a:t:w")) != -1) {
        switch (opt) {
        case 'l':
            if (nl == MAXL)
                usage();
            lspec[nl++] = optarg;
            break;
        case 'c': ctl_port = (int)strtol(optarg, NULL, 10); break;
        case 'S': stall_port = (int)strtol(optarg, NULL, 10); break;
        case 'i': idle_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': rst_every = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'm': max_resp = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'd': delay_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'a': accept_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 't': limit_s = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'w': watch_stdin = 1; break;
        default: usage();
        }
    }
    if (watch_stdin)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    for (int i = 0; i < nl; i++) {
        int fd = listen_on(lspec[i], accept_ms ? 1 : 4096);

        if (accept_ms)
            slow[nslow++] = obj_new(K_SLOWLISTEN, fd);
        else
            watch(obj_new(K_LISTEN, fd));
    }
    if (ctl_port) {
        char spec[32];

        snprintf(spec, sizeof(spec), "127.0.0.1:%d", ctl_port);
        watch(obj_new(K_CTL_LISTEN, listen_on(spec, 16)));
    }
    if (stall_port) {
        char spec[32];
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)stall_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int filler;

        snprintf(spec, sizeof(spec), "127.0.0.1:%d", stall_port);
        (void)listen_on(spec, 0); /* never accepted, never closed */
        filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (filler < 0 || connect(filler, (struct sockaddr *)&a, sizeof(a)) < 0)
            die("stall filler");
    }
    if (watch_stdin)
        watch(obj_new(K_STDIN, 0));
    printf("ready\n");
    fflush(stdout);

    end = twx_now_ms() + (uint64_t)limit_s * 1000;
    while (!stop && twx_now_ms() < end) {
        int n = epoll_wait(ep, evs, 64, tick_ms() < 0 ? 1000 : tick_ms());

        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct obj *o = evs[i].data.ptr;

            switch (o->kind) {
            case K_LISTEN:
                for (int k = 0; k < 64; k++)
                    accept_one(o->fd, K_CONN);
                break;
            case K_CTL_LISTEN:
                accept_one(o->fd, K_CTL);
                break;
            case K_CONN:
                on_conn(o);
                break;
            case K_CTL:
                /* a kill may free connections with events later in evs:
                 * drop the rest of the batch (epoll is level-triggered,
                 * so they are reported again) */
                on_ctl(o);
                n = 0;
                break;
            case K_STDIN: {
                char b[64];

                if (read(0, b, sizeof(b)) <= 0)
                    stop = 1;
                break;
            }
            case K_SLOWLISTEN:
                break;
            }
        }
        if (tick_ms() >= 0)
            tick();
    }
    while (conns)
        conn_free(conns, 0);
    for (int i = 0; i < nowned; i++) {
        close(owned[i]->fd);
        free(owned[i]);
    }
    close(ep);
    return 0;
}
