/*
 * loadgen.c — `twkit lab load`: the lab's HTTP/1.1 load generator.
 *
 * Several threads, each an epoll loop over its share of connection slots.
 * Work arrives as "requests": in a closed loop (no --rate) every slot takes
 * the next request as soon as it is free; in an open loop (--rate R) the
 * threads release R requests per second on a schedule and hand each to an
 * idle keep-alive connection or a free slot (a new connection), so a slow
 * server shows up as latency and backlog instead of a lower offered rate.
 * Both are bounded by a request count and by time.
 *
 * Per connection: requests per connection (1 = short connections), who
 * closes (the client; the server, asked with "Connection: close"; or the
 * client with an RST through SO_LINGER {1, 0}), source-address spreading
 * (round robin over --source addresses, bound with or without
 * IP_BIND_ADDRESS_NO_PORT), and destinations spread round robin.
 *
 * It records connections and requests per second, connect and request
 * latency histograms, every failure by kind (errno) over time, and the time
 * of the first EADDRNOTAVAIL together with the number of connections that
 * succeeded before it.  With --series MS it prints a cumulative line every MS
 * milliseconds ("T ms attempted connected requests err0 err1 ..."; kinds in
 * lab.h order), which `twkit lab` reads; the result is one JSON object
 * (--json) or a short human summary.
 *
 * Safety: it connects only to loopback and 198.18.0.0/15 (lab_addr_allowed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <twkit/error.h>
#include <twkit/pool.h>

#include "lab/http.h"
#include <twkit/sock.h>

#include "lab/lab.h"
#include "tool.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define LG_MAX_DST 16
#define LG_MAX_SRC 64
#define LG_BUF 8192

enum lg_close { LG_CLOSE_CLIENT, LG_CLOSE_SERVER, LG_CLOSE_RST };
enum lg_bind { LG_BIND_NONE, LG_BIND_PORT, LG_BIND_NOPORT };

static struct {
    struct sockaddr_in dst[LG_MAX_DST];
    int ndst;
    struct in_addr src[LG_MAX_SRC];
    int nsrc;
    enum lg_bind bind;
    int threads, conc;
    double rate;          /* requests/s; 0 = closed loop */
    uint64_t count;       /* request budget; 0 = unlimited (time bound) */
    double duration;      /* seconds */
    unsigned rpc;         /* requests per connection; 0 = unlimited */
    enum lg_close close;
    bool stop_eana;       /* stop at the first EADDRNOTAVAIL or EADDRINUSE */
    unsigned series_ms;
    bool json;
    bool pool;            /* reuse through tw_pool */
    double timeout;       /* per connect / request, seconds */
    char host[64];
    char path[256];
} O;

static char g_req[512], g_req_close[512];
static size_t g_req_len, g_req_close_len;

static _Atomic uint64_t g_taken;     /* requests taken from the budget */
static _Atomic int g_stop;           /* stop generating (EADDRNOTAVAIL, signal) */
static _Atomic uint64_t g_first_eana; /* ns since start, 0 = none */
static _Atomic uint64_t g_eana_after; /* connections ok before it */
static _Atomic uint64_t g_first_einuse, g_einuse_after; /* the same for EADDRINUSE */
static _Atomic unsigned g_src_rr, g_dst_rr;
static uint64_t g_t0, g_end;

struct lg_thread;

enum { S_FREE, S_CONNECTING, S_READING, S_IDLE, S_WAIT_EOF, S_BACKOFF };

struct lg_slot {
    int fd;
    int state;
    int idx;
    uint64_t t_start, deadline;
    unsigned reqs_done;
    size_t in_len;
    bool head_done, resp_keepalive, resp_ok;
    enum lab_body body;
    int64_t body_left;
    struct lab_chunked ch;
    char in[LG_BUF];
};

struct lg_thread {
    pthread_t th;
    int id, ep;
    int nslots;
    struct lg_slot *slots;
    int *free_stack, nfree;
    int *idle_stack, nidle;
    int nbackoff;
    double rate;          /* this thread's share */
    uint64_t generated;   /* arrivals generated (open loop) */
    uint64_t pending;     /* arrivals waiting for a connection */
    bool budget_done;
    struct lab_hist hconn, hreq;
    _Atomic uint64_t attempted, connected, requests, err[LAB_E_MAX];
    uint64_t last_done_ns;
};

static struct lg_thread *g_th;

static void inc(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t ld(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t total_connected(void)
{
    uint64_t s = 0;
    for (int i = 0; i < O.threads; i++)
        s += ld(&g_th[i].connected);
    return s;
}

static void record_err(struct lg_thread *t, int kind, uint64_t now)
{
    inc(&t->err[kind]);
    if (kind == LAB_E_ADDRNOTAVAIL) {
        uint64_t zero = 0, when = now - g_t0 + 1;
        if (atomic_compare_exchange_strong(&g_first_eana, &zero, when))
            atomic_store(&g_eana_after, total_connected());
        if (O.stop_eana)
            atomic_store(&g_stop, 1);
    } else if (kind == LAB_E_ADDRINUSE) {
        uint64_t zero = 0, when = now - g_t0 + 1;
        if (atomic_compare_exchange_strong(&g_first_einuse, &zero, when))
            atomic_store(&g_einuse_after, total_connected());
        if (O.stop_eana)
            atomic_store(&g_stop, 1);
    }
}

/* Take one request from the budget (false when it is spent or time is up). */
static bool take(struct lg_thread *t, uint64_t now)
{
    if (t->budget_done)
        return false;
    if (atomic_load_explicit(&g_stop, memory_order_relaxed) || now >= g_end) {
        t->budget_done = true;
        return false;
    }
    if (O.count) {
        uint64_t n = atomic_fetch_add(&g_taken, 1);
        if (n >= O.count) {
            t->budget_done = true;
            return false;
        }
    }
    return true;
}

static void slot_release(struct lg_thread *t, struct lg_slot *s)
{
    if (s->fd >= 0) {
        close(s->fd); /* the only reference: epoll forgets it by itself */
        s->fd = -1;
    }
    s->state = S_FREE;
    t->free_stack[t->nfree++] = s->idx;
}

static void slot_fail(struct lg_thread *t, struct lg_slot *s, int kind, uint64_t now)
{
    record_err(t, kind, now);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    /* Local failures return at once; without a pause a closed loop would
     * spin on them.  An open loop keeps its schedule. */
    if (O.rate == 0 && (kind == LAB_E_ADDRNOTAVAIL || kind == LAB_E_ADDRINUSE ||
                        kind == LAB_E_MFILE)) {
        s->state = S_BACKOFF;
        s->deadline = now + 1000000; /* 1 ms */
        t->nbackoff++;
        return;
    }
    s->state = S_FREE;
    t->free_stack[t->nfree++] = s->idx;
}

static void set_events(struct lg_thread *t, struct lg_slot *s, uint32_t ev, int op)
{
    struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)s->idx};
    epoll_ctl(t->ep, op, s->fd, &e);
}

static void send_request(struct lg_thread *t, struct lg_slot *s, uint64_t now)
{
    bool last = O.rpc && s->reqs_done + 1 >= O.rpc;
    const char *r = g_req;
    size_t n = g_req_len;
    if (O.close == LG_CLOSE_SERVER && last) {
        r = g_req_close;
        n = g_req_close_len;
    }
    s->t_start = now;
    s->deadline = now + (uint64_t)(O.timeout * 1e9);
    s->in_len = 0;
    s->head_done = false;
    ssize_t w = send(s->fd, r, n, MSG_NOSIGNAL);
    if (w != (ssize_t)n) {
        slot_fail(t, s, w < 0 ? lab_err_kind(errno) : LAB_E_OTHER, now);
        return;
    }
    if (s->state == S_CONNECTING) /* afterwards EPOLLIN stays registered */
        set_events(t, s, EPOLLIN, EPOLL_CTL_MOD);
    s->state = S_READING;
}

static void start_conn(struct lg_thread *t, struct lg_slot *s, uint64_t now)
{
    inc(&t->attempted);
    s->reqs_done = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        slot_fail(t, s, lab_err_kind(errno), now);
        return;
    }
    s->fd = fd;
    int one = 1;
    /* No TCP_NODELAY: each request is one write and the previous one is
     * always acknowledged by its response, so Nagle never delays it. */
    if (O.nsrc) {
        unsigned k = atomic_fetch_add_explicit(&g_src_rr, 1, memory_order_relaxed);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = O.src[k % (unsigned)O.nsrc]};
        if (O.bind == LG_BIND_NOPORT)
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            slot_fail(t, s, lab_err_kind(errno), now);
            return;
        }
    }
    unsigned d = atomic_fetch_add_explicit(&g_dst_rr, 1, memory_order_relaxed);
    const struct sockaddr_in *dst = &O.dst[d % (unsigned)O.ndst];
    s->t_start = now;
    s->deadline = now + (uint64_t)(O.timeout * 1e9);
    if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
        slot_fail(t, s, lab_err_kind(errno), now);
        return;
    }
    s->state = S_CONNECTING;
    set_events(t, s, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Give work to free or idle slots while there is work. */
static void dispatch(struct lg_thread *t, uint64_t now)
{
    for (;;) {
        if (t->nidle == 0 && t->nfree == 0)
            return;
        if (O.rate > 0) {
            if (!t->pending)
                return;
            t->pending--;
        } else if (!take(t, now)) {
            return;
        }
        if (t->nidle) {
            struct lg_slot *s = &t->slots[t->idle_stack[--t->nidle]];
            send_request(t, s, now);
        } else {
            struct lg_slot *s = &t->slots[t->free_stack[--t->nfree]];
            start_conn(t, s, now);
        }
    }
}

static void response_done(struct lg_thread *t, struct lg_slot *s, uint64_t now, bool eof)
{
    s->reqs_done++;
    if (s->resp_ok) {
        inc(&t->requests);
        lab_hist_add(&t->hreq, (now - s->t_start) / 1000);
    } else {
        record_err(t, LAB_E_HTTP, now);
    }
    t->last_done_ns = now;
    bool more = !eof && s->resp_keepalive && O.close != LG_CLOSE_SERVER &&
                (O.rpc == 0 || s->reqs_done < O.rpc);
    if (eof) {
        slot_release(t, s);
    } else if (more) {
        s->state = S_IDLE; /* EPOLLIN still armed: notices a server close */
        t->idle_stack[t->nidle++] = s->idx;
    } else if (O.close == LG_CLOSE_SERVER || !s->resp_keepalive) {
        s->state = S_WAIT_EOF; /* the server closes first */
        s->deadline = now + (uint64_t)(O.timeout * 1e9);
    } else {
        if (O.close == LG_CLOSE_RST) {
            struct linger l = {1, 0};
            setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        }
        slot_release(t, s);
    }
}

/* Consume body bytes in buf; returns 1 when the response is complete,
 * 0 for more, -1 malformed. */
static int body_feed(struct lg_slot *s, const char *buf, size_t n)
{
    switch (s->body) {
    case LAB_BODY_NONE:
        return 1;
    case LAB_BODY_LENGTH:
        if ((int64_t)n >= s->body_left) {
            s->body_left = 0;
            return 1;
        }
        s->body_left -= (int64_t)n;
        return 0;
    case LAB_BODY_CHUNKED: {
        long r = lab_chunked_feed(&s->ch, buf, n);
        if (r < 0)
            return -1;
        return s->ch.done ? 1 : 0;
    }
    case LAB_BODY_CLOSE:
        return 0;
    }
    return -1;
}

static void on_read(struct lg_thread *t, struct lg_slot *s, uint64_t now)
{
    for (;;) {
        char *p = s->head_done ? s->in : s->in + s->in_len;
        size_t cap = s->head_done ? LG_BUF : LG_BUF - s->in_len;
        ssize_t r = recv(s->fd, p, cap, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            slot_fail(t, s, lab_err_kind(errno), now);
            return;
        }
        if (r == 0) {
            if (s->state == S_WAIT_EOF) {
                slot_release(t, s);
            } else if (s->head_done && s->body == LAB_BODY_CLOSE) {
                response_done(t, s, now, true);
            } else {
                slot_fail(t, s, LAB_E_EOF, now);
            }
            return;
        }
        if (s->state == S_WAIT_EOF)
            continue; /* bytes after the response: ignore until the FIN */
        int done;
        if (!s->head_done) {
            s->in_len += (size_t)r;
            struct lab_http_msg m;
            int h = lab_http_parse_response(s->in, s->in_len, &m);
            if (h == 0)
                continue;
            if (h < 0) {
                slot_fail(t, s, LAB_E_BADMSG, now);
                return;
            }
            s->head_done = true;
            s->resp_keepalive = lab_http_keepalive(&m);
            s->resp_ok = m.status >= 200 && m.status < 300;
            s->body = lab_http_response_body(&m);
            s->body_left = m.content_length;
            memset(&s->ch, 0, sizeof(s->ch));
            if (s->body == LAB_BODY_CLOSE)
                s->resp_keepalive = false;
            done = body_feed(s, s->in + h, s->in_len - (size_t)h);
        } else {
            done = body_feed(s, s->in, (size_t)r);
        }
        if (done < 0) {
            slot_fail(t, s, LAB_E_BADMSG, now);
            return;
        }
        if (done) {
            response_done(t, s, now, false);
            return;
        }
    }
}

static void on_event(struct lg_thread *t, struct lg_slot *s, uint32_t ev, uint64_t now)
{
    switch (s->state) {
    case S_CONNECTING: {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            slot_fail(t, s, lab_err_kind(err), now);
            return;
        }
        if (!(ev & EPOLLOUT))
            return;
        inc(&t->connected);
        lab_hist_add(&t->hconn, (now - s->t_start) / 1000);
        send_request(t, s, now);
        return;
    }
    case S_READING:
    case S_WAIT_EOF:
        on_read(t, s, now);
        return;
    case S_IDLE:
        /* remove from the idle stack first */
        for (int i = 0; i < t->nidle; i++)
            if (t->idle_stack[i] == s->idx) {
                t->idle_stack[i] = t->idle_stack[--t->nidle];
                break;
            }
        {
            char b[64];
            ssize_t r = recv(s->fd, b, sizeof(b), MSG_DONTWAIT);
            if (r > 0)
                record_err(t, LAB_E_BADMSG, now);
        }
        slot_release(t, s);
        return;
    default:
        return;
    }
}

/* Timeouts and backoff: a slow scan, every 10 ms. */
static void scan(struct lg_thread *t, uint64_t now)
{
    for (int i = 0; i < t->nslots; i++) {
        struct lg_slot *s = &t->slots[i];
        if (s->state == S_BACKOFF && now >= s->deadline) {
            t->nbackoff--;
            s->state = S_FREE;
            t->free_stack[t->nfree++] = s->idx;
        } else if ((s->state == S_CONNECTING || s->state == S_READING ||
                    s->state == S_WAIT_EOF) && now >= s->deadline) {
            slot_fail(t, s, LAB_E_TIMEDOUT, now);
        }
    }
}

static void *thread_main(void *arg)
{
    struct lg_thread *t = arg;
    struct epoll_event evs[256];
    uint64_t last_scan = 0;
    uint64_t drain_until = 0;
    for (;;) {
        int n = epoll_wait(t->ep, evs, 256, 1);
        uint64_t now = twx_now_ns();
        for (int i = 0; i < n; i++)
            on_event(t, &t->slots[evs[i].data.u32], evs[i].events, now);
        if (O.rate > 0 && !t->budget_done) {
            uint64_t due = (uint64_t)((double)(now - g_t0) * t->rate / 1e9) + 1;
            while (t->generated < due && take(t, now)) {
                t->generated++;
                t->pending++;
            }
        }
        if (now - last_scan >= 10000000 || t->nbackoff) {
            scan(t, now);
            last_scan = now;
        }
        dispatch(t, now);
        bool stopping = t->budget_done || atomic_load(&g_stop) || now >= g_end;
        if (stopping) {
            t->budget_done = true;
            t->pending = 0;
            while (t->nidle) /* idle keep-alive connections: the client closes */
                slot_release(t, &t->slots[t->idle_stack[--t->nidle]]);
            if (!drain_until)
                drain_until = now + (uint64_t)(O.timeout * 1e9);
            if (t->nfree + t->nbackoff == t->nslots || now >= drain_until)
                break;
        }
    }
    for (int i = 0; i < t->nslots; i++)
        if (t->slots[i].fd >= 0) {
            close(t->slots[i].fd);
            t->slots[i].fd = -1;
        }
    return NULL;
}

/* ---- reuse through tw_pool (blocking workers) ------------------------------ */

struct lg_pool_worker {
    pthread_t th;
    struct lg_thread *t;
    struct tw_pool *pool;
    struct tw_pool_dest *dest[LG_MAX_DST];
};

/* One request on a blocking pooled socket; 0 ok, else an error kind + 1. */
static int pool_request(int fd, bool *keep, bool *ok)
{
    if (send(fd, g_req, g_req_len, MSG_NOSIGNAL) != (ssize_t)g_req_len)
        return lab_err_kind(errno) + 1;
    char buf[LG_BUF];
    size_t len = 0;
    struct lab_http_msg m;
    int h;
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (r < 0)
            return lab_err_kind(errno) + 1;
        if (r == 0)
            return LAB_E_EOF + 1;
        len += (size_t)r;
        h = lab_http_parse_response(buf, len, &m);
        if (h < 0)
            return LAB_E_BADMSG + 1;
        if (h > 0)
            break;
    }
    struct lg_slot s = {0};
    s.body = lab_http_response_body(&m);
    s.body_left = m.content_length;
    if (s.body == LAB_BODY_CLOSE)
        return LAB_E_BADMSG + 1; /* a pool needs framed responses */
    int d = body_feed(&s, buf + h, len - (size_t)h);
    while (d == 0) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            return r == 0 ? LAB_E_EOF + 1 : lab_err_kind(errno) + 1;
        d = body_feed(&s, buf, (size_t)r);
    }
    if (d < 0)
        return LAB_E_BADMSG + 1;
    *keep = lab_http_keepalive(&m);
    *ok = m.status >= 200 && m.status < 300;
    return 0;
}

static void *pool_worker(void *arg)
{
    struct lg_pool_worker *w = arg;
    struct lg_thread *t = w->t;
    uint64_t next = g_t0;
    double per = O.rate > 0 ? 1e9 * (double)O.conc / O.rate : 0;
    for (;;) {
        uint64_t now = twx_now_ns();
        if (per > 0 && now < next) {
            struct timespec ts = {0, (long)(next - now)};
            nanosleep(&ts, NULL);
            now = twx_now_ns();
        }
        next += (uint64_t)per;
        if (!take(t, now))
            break;
        unsigned d = atomic_fetch_add_explicit(&g_dst_rr, 1, memory_order_relaxed) % (unsigned)O.ndst;
        struct tw_pool_conn c;
        uint64_t t0 = twx_now_ns();
        int err = tw_pool_get(w->pool, w->dest[d], TW_POOL_WAIT_DEFAULT, &c);
        if (err < 0) {
            record_err(t, err == TW_EWAITTIMEOUT ? LAB_E_TIMEDOUT : lab_err_kind(-err), twx_now_ns());
            if (err == -EADDRNOTAVAIL || err == -EADDRINUSE) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        if (!(c.uses > 1)) {
            inc(&t->attempted);
            inc(&t->connected);
        }
        bool keep = false, ok = false;
        uint64_t t1 = twx_now_ns();
        int r = pool_request(c.fd, &keep, &ok);
        uint64_t t2 = twx_now_ns();
        if (r) {
            record_err(t, r - 1, t2);
            tw_pool_put(w->pool, &c, TW_POOL_DISCARD);
            continue;
        }
        /* shared hists are per thread; pool workers share t: guard by lock-free
         * design: each worker has its own lg_thread (see lab_load_main). */
        if (!(c.uses > 1))
            lab_hist_add(&t->hconn, (t1 - t0) / 1000);
        if (ok) {
            inc(&t->requests);
            lab_hist_add(&t->hreq, (t2 - t1) / 1000);
        } else {
            record_err(t, LAB_E_HTTP, t2);
        }
        t->last_done_ns = t2;
        tw_pool_put(w->pool, &c, keep ? TW_POOL_REUSE : TW_POOL_DISCARD);
    }
    return NULL;
}

/* ---- options, output ------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: twkit lab load --connect ADDR:PORT [OPTIONS]\n"
            "\n"
            "The lab's HTTP/1.1 load generator (epoll, several threads).  It only\n"
            "connects to loopback (127.0.0.0/8) and 198.18.0.0/15.\n"
            "\n"
            "Options:\n"
            "  -c, --connect ADDR:PORT  destination (repeat to spread, up to 16)\n"
            "  -t, --threads N          threads (default: cores)\n"
            "  -C, --concurrency N      connections at once (default 64)\n"
            "  -r, --rate R             open loop: R requests/s (default: closed loop)\n"
            "  -n, --count N            stop after N requests (default: no limit)\n"
            "  -d, --duration S         stop after S seconds (default 10)\n"
            "  -k, --requests-per-conn K  requests per connection, 0 = unlimited\n"
            "                           (default 1: short connections)\n"
            "      --close WHO          client (default), server, rst\n"
            "  -s, --source ADDR        bind to ADDR (repeat to spread over several)\n"
            "      --bind MODE          with --source: no-port (default,\n"
            "                           IP_BIND_ADDRESS_NO_PORT) or port (plain bind)\n"
            "      --pool               reuse connections through libtwkit's tw_pool\n"
            "      --stop-on-exhaustion  stop at the first EADDRNOTAVAIL or EADDRINUSE\n"
            "      --timeout S          connect and request timeout (default 5)\n"
            "      --host NAME          Host header (default: the address)\n"
            "      --path PATH          request path (default /)\n"
            "      --series MS          print a cumulative line every MS ms\n"
            "      --json               result as JSON (schema: docs/lab-json.md)\n"
            "  -h, --help               this help\n"
            "\n"
            "Examples:\n"
            "  twkit lab load -c 127.0.0.1:8080 -C 64 -d 5\n"
            "  twkit lab load -c 127.0.0.1:8080 -k 0 -C 32 -n 100000 --json\n"
            "  twkit lab load -c 198.18.0.2:80 -r 2000 -s 198.18.0.1 -s 198.18.0.11\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* tw_parse_u64, the one number parser, with the unsigned long long this file uses. */
static int parse_ulong(const char *s, unsigned long long lo, unsigned long long hi,
                       unsigned long long *out)
{
    uint64_t v;
    if (tw_parse_u64(s, lo, hi, &v))
        return -1;
    *out = v;
    return 0;
}

static void print_hist(FILE *f, const char *key, const struct lab_hist *h)
{
    fprintf(f, "\"%s\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"max\":%llu,\"mean\":%.1f}", key,
            (unsigned long long)lab_hist_quantile(h, 0.50),
            (unsigned long long)lab_hist_quantile(h, 0.90),
            (unsigned long long)lab_hist_quantile(h, 0.99), (unsigned long long)h->max,
            h->n ? (double)h->sum / (double)h->n : 0.0);
}

static void series_line(uint64_t now)
{
    uint64_t a = 0, c = 0, r = 0, e[LAB_E_MAX] = {0};
    for (int i = 0; i < O.threads; i++) {
        a += ld(&g_th[i].attempted);
        c += ld(&g_th[i].connected);
        r += ld(&g_th[i].requests);
        for (int k = 0; k < LAB_E_MAX; k++)
            e[k] += ld(&g_th[i].err[k]);
    }
    printf("T %llu %llu %llu %llu", (unsigned long long)((now - g_t0) / 1000000),
           (unsigned long long)a, (unsigned long long)c, (unsigned long long)r);
    for (int k = 0; k < LAB_E_MAX; k++)
        printf(" %llu", (unsigned long long)e[k]);
    putchar('\n');
    fflush(stdout);
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, 1);
}

int lab_load_main(int argc, char **argv)
{
    enum { OPT_CLOSE = 256, OPT_BIND, OPT_STOP, OPT_TIMEOUT, OPT_HOST, OPT_PATH, OPT_SERIES,
           OPT_JSON, OPT_POOL };
    static const struct option opts[] = {
        {"connect", required_argument, 0, 'c'},
        {"threads", required_argument, 0, 't'},
        {"concurrency", required_argument, 0, 'C'},
        {"rate", required_argument, 0, 'r'},
        {"count", required_argument, 0, 'n'},
        {"duration", required_argument, 0, 'd'},
        {"requests-per-conn", required_argument, 0, 'k'},
        {"close", required_argument, 0, OPT_CLOSE},
        {"source", required_argument, 0, 's'},
        {"bind", required_argument, 0, OPT_BIND},
        {"pool", no_argument, 0, OPT_POOL},
        {"stop-on-exhaustion", no_argument, 0, OPT_STOP},
        {"timeout", required_argument, 0, OPT_TIMEOUT},
        {"host", required_argument, 0, OPT_HOST},
        {"path", required_argument, 0, OPT_PATH},
        {"series", required_argument, 0, OPT_SERIES},
        {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *me = "lab load";
    memset(&O, 0, sizeof(O));
    O.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    O.conc = 64;
    O.duration = 10;
    O.rpc = 1;
    O.timeout = 5;
    O.bind = LG_BIND_NOPORT;
    strcpy(O.path, "/");
    bool bind_set = false;
    int o;
    unsigned long long u;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:t:C:r:n:d:k:s:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            if (O.ndst == LG_MAX_DST)
                return twx_usage_err(me, "at most %d --connect", LG_MAX_DST);
            if (lab_parse_hostport(optarg, &O.dst[O.ndst]) < 0)
                return twx_usage_err(me, "bad --connect '%s': want IPv4:PORT", optarg);
            if (!lab_addr_allowed(O.dst[O.ndst].sin_addr)) {
                twx_err("refusing to send traffic to %s: the lab only talks to "
                         "127.0.0.0/8 and 198.18.0.0/15", optarg);
                return TW_EXIT_USAGE;
            }
            O.ndst++;
            break;
        case 's':
            if (O.nsrc == LG_MAX_SRC)
                return twx_usage_err(me, "at most %d --source", LG_MAX_SRC);
            if (inet_pton(AF_INET, optarg, &O.src[O.nsrc]) != 1)
                return twx_usage_err(me, "bad --source '%s': want an IPv4 address", optarg);
            O.nsrc++;
            break;
        case 't':
            if (parse_ulong(optarg, 1, 256, &u) < 0)
                return twx_usage_err(me, "bad --threads '%s': want 1-256", optarg);
            O.threads = (int)u;
            break;
        case 'C':
            if (parse_ulong(optarg, 1, 100000, &u) < 0)
                return twx_usage_err(me, "bad --concurrency '%s': want 1-100000", optarg);
            O.conc = (int)u;
            break;
        case 'r':
            if (parse_double(optarg, 0.001, 10e6, &O.rate) < 0)
                return twx_usage_err(me, "bad --rate '%s': want a number of requests/s "
                                      "between 0.001 and 10000000", optarg);
            break;
        case 'n':
            if (parse_ulong(optarg, 1, (1ull << 62), &u) < 0)
                return twx_usage_err(me, "bad --count '%s': want a positive integer", optarg);
            O.count = u;
            break;
        case 'd':
            if (parse_double(optarg, 0.01, 86400, &O.duration) < 0)
                return twx_usage_err(me, "bad --duration '%s': want 0.01-86400 seconds", optarg);
            break;
        case 'k':
            if (parse_ulong(optarg, 0, 1u << 30, &u) < 0)
                return twx_usage_err(me, "bad --requests-per-conn '%s'", optarg);
            O.rpc = (unsigned)u;
            break;
        case OPT_CLOSE:
            if (!strcmp(optarg, "client"))
                O.close = LG_CLOSE_CLIENT;
            else if (!strcmp(optarg, "server"))
                O.close = LG_CLOSE_SERVER;
            else if (!strcmp(optarg, "rst"))
                O.close = LG_CLOSE_RST;
            else
                return twx_usage_err(me, "bad --close '%s': client, server or rst", optarg);
            break;
        case OPT_BIND:
            bind_set = true;
            if (!strcmp(optarg, "no-port"))
                O.bind = LG_BIND_NOPORT;
            else if (!strcmp(optarg, "port"))
                O.bind = LG_BIND_PORT;
            else
                return twx_usage_err(me, "bad --bind '%s': no-port or port", optarg);
            break;
        case OPT_POOL: O.pool = true; break;
        case OPT_STOP: O.stop_eana = true; break;
        case OPT_TIMEOUT:
            if (parse_double(optarg, 0.001, 3600, &O.timeout) < 0)
                return twx_usage_err(me, "bad --timeout '%s'", optarg);
            break;
        case OPT_HOST:
            if (strlen(optarg) >= sizeof(O.host) || strpbrk(optarg, "\r\n \t"))
                return twx_usage_err(me, "bad --host '%s'", optarg);
            strcpy(O.host, optarg);
            break;
        case OPT_PATH:
            if (optarg[0] != '/' || strlen(optarg) >= sizeof(O.path) || strpbrk(optarg, "\r\n \t"))
                return twx_usage_err(me, "bad --path '%s': want /...", optarg);
            strcpy(O.path, optarg);
            break;
        case OPT_SERIES:
            if (parse_ulong(optarg, 10, 60000, &u) < 0)
                return twx_usage_err(me, "bad --series '%s': want 10-60000 ms", optarg);
            O.series_ms = (unsigned)u;
            break;
        case OPT_JSON: O.json = true; break;
        case 'h':
            usage(stdout);
            return TW_EXIT_OK;
        default:
            return twx_usage_err(me, "unknown option");
        }
    }
    if (optind < argc)
        return twx_usage_err(me, "unexpected argument '%s'", argv[optind]);
    if (!O.ndst)
        return twx_usage_err(me, "--connect is required");
    if (bind_set && !O.nsrc)
        return twx_usage_err(me, "--bind needs --source");
    if (O.pool && (O.close != LG_CLOSE_CLIENT || O.nsrc))
        return twx_usage_err(me, "--pool works with --close client and no --source");
    if (O.threads > O.conc)
        O.threads = O.conc;
    if (!O.host[0])
        inet_ntop(AF_INET, &O.dst[0].sin_addr, O.host, sizeof(O.host));
    g_req_len = (size_t)snprintf(g_req, sizeof(g_req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                                 O.path, O.host);
    g_req_close_len = (size_t)snprintf(g_req_close, sizeof(g_req_close),
                                       "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                                       O.path, O.host);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)O.conc + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (O.pool && O.conc > 64)
        O.conc = 64; /* one blocking worker thread per pooled connection */
    int nth = O.pool ? O.conc : O.threads;
    g_th = calloc((size_t)nth, sizeof(*g_th));
    if (!g_th)
        return TW_EXIT_RUNTIME;
    struct tw_pool *pool = NULL;
    struct lg_pool_worker *pw = NULL;
    if (O.pool) {
        struct tw_pool_opts po;
        tw_pool_opts_init(&po);
        po.max_per_dest = (unsigned)O.conc;
        po.max_idle_per_dest = (unsigned)O.conc;
        po.max_uses = O.rpc;
        po.flags = TW_POOL_NODELAY;
        po.connect_timeout_ms = (uint32_t)(O.timeout * 1000);
        int e = tw_pool_new(&po, &pool);
        if (e < 0) {
            twx_err("lab load: tw_pool_new: %s", tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
        pw = calloc((size_t)nth, sizeof(*pw));
        if (!pw)
            return TW_EXIT_RUNTIME;
        struct tw_pool_dest *dests[LG_MAX_DST];
        for (int d = 0; d < O.ndst; d++) {
            e = tw_pool_dest(pool, (struct sockaddr *)&O.dst[d], sizeof(O.dst[d]), NULL, 0, &dests[d]);
            if (e < 0) {
                twx_err("lab load: tw_pool_dest: %s", tw_strerror(e));
                return TW_EXIT_RUNTIME;
            }
        }
        for (int i = 0; i < nth; i++) {
            pw[i].t = &g_th[i];
            pw[i].pool = pool;
            memcpy(pw[i].dest, dests, sizeof(dests));
        }
    }
    int per = O.conc / nth, extra = O.conc % nth;
    for (int i = 0; i < nth && !O.pool; i++) {
        struct lg_thread *t = &g_th[i];
        t->id = i;
        t->nslots = per + (i < extra);
        t->rate = O.rate / nth;
        t->slots = calloc((size_t)t->nslots, sizeof(*t->slots));
        t->free_stack = calloc((size_t)t->nslots, sizeof(int));
        t->idle_stack = calloc((size_t)t->nslots, sizeof(int));
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        if (!t->slots || !t->free_stack || !t->idle_stack || t->ep < 0) {
            twx_err("lab load: out of memory");
            return TW_EXIT_RUNTIME;
        }
        for (int k = 0; k < t->nslots; k++) {
            t->slots[k].fd = -1;
            t->slots[k].idx = k;
            t->free_stack[t->nfree++] = t->nslots - 1 - k;
        }
    }
    g_t0 = twx_now_ns();
    g_end = g_t0 + (uint64_t)(O.duration * 1e9);
    for (int i = 0; i < nth; i++) {
        int e = O.pool ? pthread_create(&pw[i].th, NULL, pool_worker, &pw[i])
                       : pthread_create(&g_th[i].th, NULL, thread_main, &g_th[i]);
        if (e) {
            twx_err("lab load: cannot start threads: %s", strerror(e));
            return TW_EXIT_RUNTIME;
        }
    }
    O.threads = nth; /* series_line and totals sum over every thread */
    if (O.series_ms) {
        /* Report until every thread is done; threads end on their own. */
        uint64_t next = g_t0 + (uint64_t)O.series_ms * 1000000;
        uint64_t hard = g_end + (uint64_t)(O.timeout * 1e9) + 2000000000ull;
        for (;;) {
            uint64_t now = twx_now_ns();
            if (now < next) {
                struct timespec ts = {0, (long)(next - now)};
                nanosleep(&ts, NULL);
                continue;
            }
            series_line(now);
            next += (uint64_t)O.series_ms * 1000000;
            bool all = true;
            for (int i = 0; i < nth; i++) {
                struct lg_thread *t = &g_th[i];
                if (O.pool ? false : !(t->budget_done && t->nfree + t->nbackoff == t->nslots))
                    all = false;
            }
            if (O.pool)
                all = atomic_load(&g_stop) || now >= g_end ||
                      (O.count && atomic_load(&g_taken) >= O.count);
            if (all || now > hard)
                break;
        }
    }
    for (int i = 0; i < nth; i++)
        pthread_join(O.pool ? pw[i].th : g_th[i].th, NULL);
    uint64_t end = twx_now_ns();
    if (O.series_ms)
        series_line(end);
    if (pool)
        tw_pool_free(pool);

    struct lab_hist hc = {0}, hr = {0};
    uint64_t a = 0, c = 0, r = 0, e[LAB_E_MAX] = {0}, etot = 0, last = g_t0;
    for (int i = 0; i < nth; i++) {
        lab_hist_merge(&hc, &g_th[i].hconn);
        lab_hist_merge(&hr, &g_th[i].hreq);
        a += ld(&g_th[i].attempted);
        c += ld(&g_th[i].connected);
        r += ld(&g_th[i].requests);
        for (int k = 0; k < LAB_E_MAX; k++) {
            e[k] += ld(&g_th[i].err[k]);
            etot += ld(&g_th[i].err[k]);
        }
        if (g_th[i].last_done_ns > last)
            last = g_th[i].last_done_ns;
    }
    double secs = (double)(end - g_t0) / 1e9;
    double busy = (double)(last - g_t0) / 1e9;
    if (busy <= 0)
        busy = secs;
    uint64_t fe = atomic_load(&g_first_eana);
    uint64_t fi = atomic_load(&g_first_einuse);
    if (O.series_ms) {
        /* The summary line `twkit lab` reads (see lab.c, read_load). */
        printf("F %llu %llu %llu %.3f %.3f %llu %llu %llu %llu %llu %llu %llu %llu %.3f %llu %.3f %llu\n",
               (unsigned long long)a, (unsigned long long)c, (unsigned long long)r, secs, busy,
               (unsigned long long)lab_hist_quantile(&hc, .5), (unsigned long long)lab_hist_quantile(&hc, .9),
               (unsigned long long)lab_hist_quantile(&hc, .99), (unsigned long long)hc.max,
               (unsigned long long)lab_hist_quantile(&hr, .5), (unsigned long long)lab_hist_quantile(&hr, .9),
               (unsigned long long)lab_hist_quantile(&hr, .99), (unsigned long long)hr.max,
               fe ? (double)(fe - 1) / 1e9 : -1.0, (unsigned long long)atomic_load(&g_eana_after),
               fi ? (double)(fi - 1) / 1e9 : -1.0, (unsigned long long)atomic_load(&g_einuse_after));
    }
    if (O.json) {
        printf("{\"duration_s\":%.3f,\"threads\":%d,\"concurrency\":%d,\"rate\":%g,"
               "\"requests_per_conn\":%u,\"close\":\"%s\",\"sources\":%d,\"pool\":%s,",
               secs, O.pool ? 0 : O.threads, O.conc, O.rate, O.rpc,
               O.close == LG_CLOSE_CLIENT ? "client" : O.close == LG_CLOSE_SERVER ? "server" : "rst",
               O.nsrc, O.pool ? "true" : "false");
        printf("\"connections\":{\"attempted\":%llu,\"ok\":%llu,\"per_s\":%.1f},",
               (unsigned long long)a, (unsigned long long)c, (double)c / busy);
        printf("\"requests\":{\"ok\":%llu,\"per_s\":%.1f},", (unsigned long long)r,
               (double)r / busy);
        print_hist(stdout, "connect_latency_us", &hc);
        putchar(',');
        print_hist(stdout, "request_latency_us", &hr);
        printf(",\"errors\":{");
        bool first = true;
        for (int k = 0; k < LAB_E_MAX; k++)
            if (e[k]) {
                printf("%s\"%s\":%llu", first ? "" : ",", lab_err_name(k), (unsigned long long)e[k]);
                first = false;
            }
        printf("},\"errors_total\":%llu,\"first_eaddrnotavail\":", (unsigned long long)etot);
        if (fe)
            printf("{\"t_s\":%.3f,\"after_connections\":%llu}", (double)(fe - 1) / 1e9,
                   (unsigned long long)atomic_load(&g_eana_after));
        else
            printf("null");
        printf(",\"first_eaddrinuse\":");
        if (fi)
            printf("{\"t_s\":%.3f,\"after_connections\":%llu}", (double)(fi - 1) / 1e9,
                   (unsigned long long)atomic_load(&g_einuse_after));
        else
            printf("null");
        printf("}\n");
    } else {
        printf("%.2f s: %llu connections (%.0f/s), %llu requests (%.0f/s), %llu errors\n", secs,
               (unsigned long long)c, (double)c / busy, (unsigned long long)r, (double)r / busy,
               (unsigned long long)etot);
        printf("connect latency us: p50 %llu  p90 %llu  p99 %llu  max %llu\n",
               (unsigned long long)lab_hist_quantile(&hc, .5), (unsigned long long)lab_hist_quantile(&hc, .9),
               (unsigned long long)lab_hist_quantile(&hc, .99), (unsigned long long)hc.max);
        printf("request latency us: p50 %llu  p90 %llu  p99 %llu  max %llu\n",
               (unsigned long long)lab_hist_quantile(&hr, .5), (unsigned long long)lab_hist_quantile(&hr, .9),
               (unsigned long long)lab_hist_quantile(&hr, .99), (unsigned long long)hr.max);
        for (int k = 0; k < LAB_E_MAX; k++)
            if (e[k])
                printf("  %-14s %llu\n", lab_err_name(k), (unsigned long long)e[k]);
        if (fe)
            printf("first EADDRNOTAVAIL at %.3f s, after %llu connections\n", (double)(fe - 1) / 1e9,
                   (unsigned long long)atomic_load(&g_eana_after));
    }
    fflush(stdout);
    for (int i = 0; i < nth; i++) {
        free(g_th[i].slots);
        free(g_th[i].free_stack);
        free(g_th[i].idle_stack);
        if (!O.pool)
            close(g_th[i].ep);
    }
    free(g_th);
    g_th = NULL;
    free(pw);
    return TW_EXIT_OK;
}
