/*
 * loadgen.c — the engine of `twkit lab load`, the lab's HTTP/1.1 load
 * generator: several threads, each an epoll loop over its share of
 * connection slots (the tw_pool workers are loadgen_pool.c, the command
 * cmd_load.c).
 *
 * Work arrives as "requests": in a closed loop (no --rate) every slot takes
 * the next request as soon as it is free; in an open loop (--rate R) the
 * threads release R requests per second on a schedule and hand each to an
 * idle keep-alive connection or a free slot (a new connection), so a slow
 * server shows up as latency and backlog instead of a lower offered rate.
 * Both are bounded by a request count and by time.
 *
 * Per connection: requests per connection (1 = short connections), who
 * closes (the client; the server, asked with "Connection: close"; or the
 * client with an RST through SO_LINGER {1, 0}), source addresses (round
 * robin over --source, bound with or without IP_BIND_ADDRESS_NO_PORT), and
 * destinations spread round robin.
 *
 * The load's duration, which every rate divides by, runs from the start
 * until the generator stopped taking new work: --duration elapsed,
 * --count spent, the first EADDRNOTAVAIL/EADDRINUSE with
 * --stop-on-exhaustion, or a signal (lg_take notes that moment).
 * Responses still in flight then are waited for and counted, but the
 * drain does not stretch the duration; an open loop's arrivals that are
 * still waiting for a free slot then are not sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
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

struct lg_opts lg;
struct lg_thread *lg_th;
int lg_nth;
uint64_t lg_t0;
char lg_req[512], lg_req_close[512];
size_t lg_req_len, lg_req_close_len;

static uint64_t g_end;                   /* lg_t0 + --duration */
static _Atomic uint64_t g_taken;         /* requests taken from the budget */
static _Atomic int g_stop;               /* stop generating (exhaustion, signal) */
static _Atomic uint64_t g_stop_ns;       /* when the load stopped, 0 = not yet */
static _Atomic uint64_t g_first_eana;    /* ns since start + 1, 0 = none */
static _Atomic uint64_t g_eana_after;    /* connections ok before it */
static _Atomic uint64_t g_first_einuse, g_einuse_after; /* the same for EADDRINUSE */
static _Atomic unsigned g_src_rr, g_dst_rr;
static _Atomic int g_http_noted;         /* the first non-2xx was kept */
static int g_http_status;
static char *g_http_reason;

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

static uint64_t ld(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t total_connected(void)
{
    uint64_t s = 0;
    for (int i = 0; i < lg_nth; i++)
        s += ld(&lg_th[i].connected);
    return s;
}

static void note_first(_Atomic uint64_t *first, _Atomic uint64_t *after, uint64_t now)
{
    uint64_t zero = 0, when = now - lg_t0 + 1;
    if (atomic_compare_exchange_strong(first, &zero, when))
        atomic_store(after, total_connected());
}

void lg_record_err(struct lg_thread *t, int cls, uint64_t now)
{
    lg_inc(&t->err[cls]);
    if (cls != TWX_EC_ADDRNOTAVAIL && cls != TWX_EC_ADDRINUSE)
        return;
    if (cls == TWX_EC_ADDRNOTAVAIL)
        note_first(&g_first_eana, &g_eana_after, now);
    else
        note_first(&g_first_einuse, &g_einuse_after, now);
    if (lg.stop_eana)
        atomic_store(&g_stop, 1);
}

void lg_note_http_error(const struct twx_http_msg *m, const char *head)
{
    int zero = 0;
    if (!atomic_compare_exchange_strong(&g_http_noted, &zero, 1))
        return;
    g_http_status = m->status;
    g_http_reason = strndup(head + m->reason_off, m->reason_len);
}

void lg_body_start(struct lg_body *b, const struct twx_http_msg *m)
{
    memset(b, 0, sizeof(*b));
    b->kind = twx_http_response_body(m);
    b->left = m->content_length;
}

int lg_body_feed(struct lg_body *b, const char *buf, size_t n)
{
    switch (b->kind) {
    case TWX_HTTP_BODY_NONE:
        return 1;
    case TWX_HTTP_BODY_LENGTH:
        if ((int64_t)n >= b->left) {
            b->left = 0;
            return 1;
        }
        b->left -= (int64_t)n;
        return 0;
    case TWX_HTTP_BODY_CHUNKED: {
        long r = twx_http_chunked_feed(&b->ch, buf, n);
        if (r < 0)
            return -1;
        return b->ch.done ? 1 : 0;
    }
    case TWX_HTTP_BODY_CLOSE:
        return 0;
    }
    return -1;
}

static void note_stop(uint64_t when)
{
    uint64_t cur = atomic_load(&g_stop_ns);
    while ((cur == 0 || when < cur) && !atomic_compare_exchange_weak(&g_stop_ns, &cur, when))
        ;
}

bool lg_take(struct lg_thread *t, uint64_t now)
{
    if (t->budget_done)
        return false;
    if (atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        note_stop(now);
        t->budget_done = true;
        return false;
    }
    if (now >= g_end) {
        note_stop(g_end); /* the window closed at g_end, whenever we look */
        t->budget_done = true;
        return false;
    }
    if (lg.count) {
        uint64_t n = atomic_fetch_add(&g_taken, 1);
        if (n >= lg.count) {
            note_stop(now);
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
            if (now >= g_end || atomic_load_explicit(&g_stop, memory_order_relaxed)) {
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
        bool stopping = t->budget_done || atomic_load(&g_stop) || now >= g_end;
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

/* ---- life cycle -------------------------------------------------------------- */

int lg_start(char *err, size_t errlen)
{
    lg_nth = lg.pool ? lg.conc : lg.threads;
    lg_th = calloc((size_t)lg_nth, sizeof(*lg_th));
    if (!lg_th) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (lg.pool && lg_pool_setup(err, errlen) < 0)
        return -1;
    int per = lg.conc / lg_nth, extra = lg.conc % lg_nth;
    for (int i = 0; i < lg_nth; i++)
        lg_th[i].id = i;
    for (int i = 0; i < lg_nth && !lg.pool; i++) {
        struct lg_thread *t = &lg_th[i];
        t->nslots = per + (i < extra);
        t->rate = lg.rate / lg_nth;
        t->slots = calloc((size_t)t->nslots, sizeof(*t->slots));
        t->free_stack = calloc((size_t)t->nslots, sizeof(int));
        t->idle_stack = calloc((size_t)t->nslots, sizeof(int));
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        if (!t->slots || !t->free_stack || !t->idle_stack || t->ep < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int k = 0; k < t->nslots; k++) {
            t->slots[k].fd = -1;
            t->slots[k].idx = k;
            t->free_stack[t->nfree++] = t->nslots - 1 - k;
        }
    }
    lg_t0 = twx_now_ns();
    g_end = lg_t0 + (uint64_t)(lg.duration * 1e9);
    for (int i = 0; i < lg_nth; i++) {
        int e = pthread_create(&lg_th[i].th, NULL, lg.pool ? lg_pool_worker : thread_main,
                               &lg_th[i]);
        if (e) {
            snprintf(err, errlen, "cannot start threads: %s", strerror(e));
            lg_nth = i; /* the ones started */
            lg_stop();
            return -1;
        }
    }
    return 0;
}

bool lg_finished(void)
{
    for (int i = 0; i < lg_nth; i++)
        if (!atomic_load(&lg_th[i].finished))
            return false;
    return true;
}

void lg_stop(void)
{
    atomic_store(&g_stop, 1);
}

void lg_counts(struct lab_counts *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < lg_nth; i++) {
        c->attempted += ld(&lg_th[i].attempted);
        c->connected += ld(&lg_th[i].connected);
        c->requests += ld(&lg_th[i].requests);
        for (int k = 0; k < TWX_EC_MAX; k++)
            c->err[k] += ld(&lg_th[i].err[k]);
    }
}

static void lat(struct lab_lat *l, const struct twx_hist *h)
{
    l->p50 = twx_hist_quantile(h, .50);
    l->p90 = twx_hist_quantile(h, .90);
    l->p99 = twx_hist_quantile(h, .99);
    l->max = h->max;
    l->mean = twx_hist_mean(h);
}

static void first(struct lab_first *f, _Atomic uint64_t *at, _Atomic uint64_t *after)
{
    uint64_t v = atomic_load(at);
    f->seen = v != 0;
    f->t_s = v ? (double)(v - 1) / 1e9 : 0;
    f->after = atomic_load(after);
}

void lg_finish(struct lab_load_result *r)
{
    for (int i = 0; i < lg_nth; i++)
        pthread_join(lg_th[i].th, NULL);
    uint64_t end = twx_now_ns();
    lg_pool_free();
    memset(r, 0, sizeof(*r));
    struct twx_hist *hc = calloc(1, sizeof(*hc)), *hr = calloc(1, sizeof(*hr));
    for (int i = 0; hc && hr && i < lg_nth; i++) {
        twx_hist_merge(hc, &lg_th[i].hconn);
        twx_hist_merge(hr, &lg_th[i].hreq);
    }
    if (hc && hr) {
        lat(&r->conn_lat, hc);
        lat(&r->req_lat, hr);
    }
    free(hc);
    free(hr);
    lg_counts(&r->n);
    uint64_t stop = atomic_load(&g_stop_ns);
    if (!stop || stop > end)
        stop = end;
    r->load_s = (double)(stop - lg_t0) / 1e9;
    r->wall_s = (double)(end - lg_t0) / 1e9;
    r->threads = lg.pool ? 0 : (uint64_t)lg.threads;
    r->concurrency = (uint64_t)lg.conc;
    r->rate = lg.rate;
    r->requests_per_conn = lg.rpc;
    snprintf(r->close, sizeof(r->close), "%s",
             lg.close == LG_CLOSE_CLIENT ? "client" : lg.close == LG_CLOSE_SERVER ? "server" : "rst");
    r->sources = (uint64_t)lg.nsrc;
    r->pool = lg.pool;
    first(&r->eana, &g_first_eana, &g_eana_after);
    first(&r->einuse, &g_first_einuse, &g_einuse_after);
    r->http_status = g_http_status;
    r->http_reason = g_http_reason;
    g_http_reason = NULL;
    for (int i = 0; i < lg_nth; i++) {
        free(lg_th[i].slots);
        free(lg_th[i].free_stack);
        free(lg_th[i].idle_stack);
        if (!lg.pool)
            close(lg_th[i].ep);
    }
    free(lg_th);
    lg_th = NULL;
    lg_nth = 0;
}
