/*
 * loadgen_epoll.c — the epoll engine of `twkit lab load`: each thread an
 * epoll loop over its share of connection slots, each slot a small state
 * machine (connecting, reading a response, idle keep-alive, waiting for the
 * server's FIN, backing off after a local failure).  The budget, the stop
 * and what both engines count are loadgen.c's; the tw_pool workers that
 * replace this engine under --pool are loadgen_pool.c.
 *
 * A slot connects from the next --source (round robin, bound with or
 * without IP_BIND_ADDRESS_NO_PORT) to the next destination, sends the
 * request (the "Connection: close" one for its last request when the server
 * is to close), reads the response head and body, and then stays idle for
 * the next request, waits for the server's FIN, or closes (with an RST
 * through SO_LINGER {1, 0} under --close rst).  Timeouts and backoffs are
 * found by a scan every 10 ms; when the load stops, a thread closes its
 * idle connections and waits up to --timeout for the responses in flight.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab/loadgen.h"
#include "twx/clock.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static _Atomic unsigned g_src_rr, g_dst_rr;

enum { S_FREE, S_CONNECTING, S_READING, S_IDLE, S_WAIT_EOF, S_BACKOFF };

struct lg_slot {
    int fd;
    int state;
    int idx;
    uint64_t t_start, deadline;
    unsigned reqs_done;
    size_t in_len;
    bool head_done, resp_keepalive, resp_ok;
    struct lg_body body;
    char in[LG_BUF];
};

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
    lg_record_err(t, kind, now);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    /* Local failures return at once; without a pause a closed loop would
     * spin on them.  An open loop keeps its schedule. */
    if (lg.rate == 0 && (kind == TWX_EC_ADDRNOTAVAIL || kind == TWX_EC_ADDRINUSE ||
                        kind == TWX_EC_MFILE)) {
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
    bool last = lg.rpc && s->reqs_done + 1 >= lg.rpc;
    const char *r = lg_req;
    size_t n = lg_req_len;
    if (lg.close == LG_CLOSE_SERVER && last) {
        r = lg_req_close;
        n = lg_req_close_len;
    }
    s->t_start = now;
    s->deadline = now + (uint64_t)(lg.timeout * 1e9);
    s->in_len = 0;
    s->head_done = false;
    ssize_t w = send(s->fd, r, n, MSG_NOSIGNAL);
    if (w != (ssize_t)n) {
        slot_fail(t, s, w < 0 ? twx_errclass_of(errno) : TWX_EC_OTHER, now);
        return;
    }
    if (s->state == S_CONNECTING) /* afterwards EPOLLIN stays registered */
        set_events(t, s, EPOLLIN, EPOLL_CTL_MOD);
    s->state = S_READING;
}

static void start_conn(struct lg_thread *t, struct lg_slot *s, uint64_t now)
{
    lg_inc(&t->attempted);
    s->reqs_done = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        slot_fail(t, s, twx_errclass_of(errno), now);
        return;
    }
    s->fd = fd;
    int one = 1;
    /* No TCP_NODELAY: each request is one write and the previous one is
     * always acknowledged by its response, so Nagle never delays it. */
    if (lg.nsrc) {
        unsigned k = atomic_fetch_add_explicit(&g_src_rr, 1, memory_order_relaxed);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = lg.src[k % (unsigned)lg.nsrc]};
        if (lg.bind == LG_BIND_NOPORT)
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            slot_fail(t, s, twx_errclass_of(errno), now);
            return;
        }
    }
    unsigned d = atomic_fetch_add_explicit(&g_dst_rr, 1, memory_order_relaxed);
    const struct sockaddr_in *dst = &lg.dst[d % (unsigned)lg.ndst];
    s->t_start = now;
    s->deadline = now + (uint64_t)(lg.timeout * 1e9);
    if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
        slot_fail(t, s, twx_errclass_of(errno), now);
        return;
    }
    s->state = S_CONNECTING;
    set_events(t, s, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Give work to free or idle slots while there is work. */
static void dispatch(struct lg_thread *t, uint64_t now)
{
    /* A fresh clock each time: near exhaustion one connect() can take
     * milliseconds (the kernel scans the port range). */
    for (;; now = twx_now_ns()) {
        if (t->nidle == 0 && t->nfree == 0)
            return;
        if (lg.rate > 0) {
            if (!t->pending)
                return;
            if (now >= lg_end || atomic_load_explicit(&lg_halt, memory_order_relaxed)) {
                /* The window closed: arrivals still waiting for a slot are
                 * not sent, so the load ends at --duration, not when a
                 * backlog is worked off. */
                (void)lg_take(t, now);
                t->pending = 0;
                return;
            }
            t->pending--;
        } else if (!lg_take(t, now)) {
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
        lg_inc(&t->requests);
        twx_hist_add(&t->hreq, (now - s->t_start) / 1000);
    } else {
        lg_record_err(t, TWX_EC_HTTP, now);
    }
    bool more = !eof && s->resp_keepalive && lg.close != LG_CLOSE_SERVER &&
                (lg.rpc == 0 || s->reqs_done < lg.rpc);
    if (eof) {
        slot_release(t, s);
    } else if (more) {
        s->state = S_IDLE; /* EPOLLIN still armed: notices a server close */
        t->idle_stack[t->nidle++] = s->idx;
    } else if (lg.close == LG_CLOSE_SERVER || !s->resp_keepalive) {
        s->state = S_WAIT_EOF; /* the server closes first */
        s->deadline = now + (uint64_t)(lg.timeout * 1e9);
    } else {
        if (lg.close == LG_CLOSE_RST) {
            struct linger l = {1, 0};
            setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        }
        slot_release(t, s);
    }
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
            slot_fail(t, s, twx_errclass_of(errno), now);
            return;
        }
        if (r == 0) {
            if (s->state == S_WAIT_EOF) {
                slot_release(t, s);
            } else if (s->head_done && s->body.kind == TWX_HTTP_BODY_CLOSE) {
                response_done(t, s, now, true);
            } else {
                slot_fail(t, s, TWX_EC_EOF, now);
            }
            return;
        }
        if (s->state == S_WAIT_EOF)
            continue; /* bytes after the response: ignore until the FIN */
        int done;
        if (!s->head_done) {
            s->in_len += (size_t)r;
            struct twx_http_msg m;
            int h = twx_http_parse_response(s->in, s->in_len, &m);
            if (h == 0)
                continue;
            if (h < 0) {
                slot_fail(t, s, TWX_EC_BADMSG, now);
                return;
            }
            s->head_done = true;
            s->resp_keepalive = twx_http_keepalive(&m);
            s->resp_ok = m.status >= 200 && m.status < 300;
            if (!s->resp_ok)
                lg_note_http_error(&m, s->in);
            lg_body_start(&s->body, &m);
            if (s->body.kind == TWX_HTTP_BODY_CLOSE)
                s->resp_keepalive = false;
            done = lg_body_feed(&s->body, s->in + h, s->in_len - (size_t)h);
        } else {
            done = lg_body_feed(&s->body, s->in, (size_t)r);
        }
        if (done < 0) {
            slot_fail(t, s, TWX_EC_BADMSG, now);
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
            slot_fail(t, s, twx_errclass_of(err), now);
            return;
        }
        if (!(ev & EPOLLOUT))
            return;
        lg_inc(&t->connected);
        twx_hist_add(&t->hconn, (now - s->t_start) / 1000);
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
                lg_record_err(t, TWX_EC_BADMSG, now);
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
            slot_fail(t, s, TWX_EC_TIMEDOUT, now);
        }
    }
}

void *lg_epoll_worker(void *arg)
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
        if (lg.rate > 0 && !t->budget_done) {
            uint64_t due = (uint64_t)((double)(now - lg_t0) * t->rate / 1e9) + 1;
            while (t->generated < due && lg_take(t, now)) {
                t->generated++;
                t->pending++;
            }
        }
        if (now - last_scan >= 10000000 || t->nbackoff) {
            scan(t, now);
            last_scan = now;
        }
        dispatch(t, now);
        bool stopping = t->budget_done || atomic_load(&lg_halt) || now >= lg_end;
        if (stopping) {
            if (!t->budget_done)
                (void)lg_take(t, now); /* notes when the load stopped */
            t->budget_done = true;
            t->pending = 0;
            while (t->nidle) /* idle keep-alive connections: the client closes */
                slot_release(t, &t->slots[t->idle_stack[--t->nidle]]);
            if (!drain_until)
                drain_until = now + (uint64_t)(lg.timeout * 1e9);
            if (t->nfree + t->nbackoff == t->nslots || now >= drain_until)
                break;
        }
    }
    for (int i = 0; i < t->nslots; i++)
        if (t->slots[i].fd >= 0) {
            close(t->slots[i].fd);
            t->slots[i].fd = -1;
        }
    atomic_store(&t->finished, true);
    return NULL;
}

int lg_epoll_setup(struct lg_thread *t, int nslots)
{
    t->nslots = nslots;
    t->slots = calloc((size_t)t->nslots, sizeof(*t->slots));
    t->free_stack = calloc((size_t)t->nslots, sizeof(int));
    t->idle_stack = calloc((size_t)t->nslots, sizeof(int));
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!t->slots || !t->free_stack || !t->idle_stack || t->ep < 0)
        return -1;
    for (int k = 0; k < t->nslots; k++) {
        t->slots[k].fd = -1;
        t->slots[k].idx = k;
        t->free_stack[t->nfree++] = t->nslots - 1 - k;
    }
    return 0;
}
