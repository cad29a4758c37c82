/*
 * loadgen.c — `twkit lab load`'s generator, what its two engines share: the
 * request budget and the moment the load stopped, the failures and first
 * EADDRNOTAVAIL/EADDRINUSE it counts, the framing of a response body, and
 * the life cycle (start the threads, stop them, join them and sum up their
 * counters and histograms into the result).  The engines are the epoll
 * loops of loadgen_epoll.c and, under --pool, the tw_pool workers of
 * loadgen_pool.c; the command is cmd_load.c.
 *
 * Work arrives as "requests": in a closed loop (no --rate) every slot takes
 * the next request as soon as it is free; in an open loop (--rate R) the
 * threads release R requests per second on a schedule and hand each to an
 * idle keep-alive connection or a free slot (a new connection), so a slow
 * server shows up as latency and backlog instead of a lower offered rate.
 * Both are bounded by a request count and by time.
 *
 * The load's duration, which every rate divides by, runs from the start
 * until the generator stopped taking new work: --duration elapsed,
 * --count spent, the first EADDRNOTAVAIL/EADDRINUSE with
 * --stop-on-exhaustion, or a signal (lg_take notes that moment).
 * Responses still in flight then are waited for and counted, but the
 * drain does not stretch the duration; an open loop's arrivals that are
 * still waiting for a free slot then are not sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/loadgen.h"
#include "twx/clock.h"

struct lg_opts lg;
struct lg_thread *lg_th;
int lg_nth;
uint64_t lg_t0;
char lg_req[512], lg_req_close[512];
size_t lg_req_len, lg_req_close_len;
uint64_t lg_end;
_Atomic int lg_halt;

static _Atomic uint64_t g_taken;         /* requests taken from the budget */
static _Atomic uint64_t g_stop_ns;       /* when the load stopped, 0 = not yet */
static _Atomic uint64_t g_first_eana;    /* ns since start + 1, 0 = none */
static _Atomic uint64_t g_eana_after;    /* connections ok before it */
static _Atomic uint64_t g_first_einuse, g_einuse_after; /* the same for EADDRINUSE */
static _Atomic int g_http_noted;         /* the first non-2xx was kept */
static int g_http_status;
static char *g_http_reason;

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
        atomic_store(&lg_halt, 1);
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
    if (atomic_load_explicit(&lg_halt, memory_order_relaxed)) {
        note_stop(now);
        t->budget_done = true;
        return false;
    }
    if (now >= lg_end) {
        note_stop(lg_end); /* the window closed at lg_end, whenever we look */
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
        lg_th[i].rate = lg.rate / lg_nth;
        if (lg_epoll_setup(&lg_th[i], per + (i < extra)) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    lg_t0 = twx_now_ns();
    lg_end = lg_t0 + (uint64_t)(lg.duration * 1e9);
    for (int i = 0; i < lg_nth; i++) {
        int e = pthread_create(&lg_th[i].th, NULL, lg.pool ? lg_pool_worker : lg_epoll_worker,
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
    atomic_store(&lg_halt, 1);
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
