/*
 * loadgen_pool.c — `twkit lab load --pool`: requests through libtwkit's
 * connection pool (tw_pool) instead of the epoll engine, one blocking
 * worker thread per pooled connection, so the lab measures the pool as a
 * C program would use it: check a connection out, send, read the whole
 * response, put it back (or discard it when the server will close).
 *
 * Each worker owns one struct lg_thread for its counters and histograms,
 * so nothing is shared but the pool itself and relaxed counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <twkit/error.h>
#include <twkit/pool.h>

#include "lab/loadgen.h"
#include "twx/clock.h"

static struct tw_pool *g_pool;
static struct tw_pool_dest *g_dest[LG_MAX_DST];

int lg_pool_setup(char *err, size_t errlen)
{
    struct tw_pool_opts po;
    tw_pool_opts_init(&po);
    po.max_per_dest = (unsigned)lg.conc;
    po.max_idle_per_dest = (unsigned)lg.conc;
    po.max_uses = lg.rpc;
    po.flags = TW_POOL_NODELAY;
    po.connect_timeout_ms = (uint32_t)(lg.timeout * 1000);
    int e = tw_pool_new(&po, &g_pool);
    if (e < 0) {
        snprintf(err, errlen, "tw_pool_new: %s", tw_strerror(e));
        return -1;
    }
    for (int d = 0; d < lg.ndst; d++) {
        e = tw_pool_dest(g_pool, (struct sockaddr *)&lg.dst[d], sizeof(lg.dst[d]), NULL, 0,
                         &g_dest[d]);
        if (e < 0) {
            snprintf(err, errlen, "tw_pool_dest: %s", tw_strerror(e));
            return -1;
        }
    }
    return 0;
}

void lg_pool_free(void)
{
    if (g_pool)
        tw_pool_free(g_pool);
    g_pool = NULL;
}

/* One request on a blocking pooled socket; 0 ok, else a failure class + 1. */
static int pool_request(int fd, bool *keep, bool *ok)
{
    if (send(fd, lg_req, lg_req_len, MSG_NOSIGNAL) != (ssize_t)lg_req_len)
        return (int)twx_errclass_of(errno) + 1;
    char buf[LG_BUF];
    size_t len = 0;
    struct twx_http_msg m;
    int h;
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (r < 0)
            return (int)twx_errclass_of(errno) + 1;
        if (r == 0)
            return TWX_EC_EOF + 1;
        len += (size_t)r;
        h = twx_http_parse_response(buf, len, &m);
        if (h < 0)
            return TWX_EC_BADMSG + 1;
        if (h > 0)
            break;
    }
    struct lg_body b;
    lg_body_start(&b, &m);
    if (b.kind == TWX_HTTP_BODY_CLOSE)
        return TWX_EC_BADMSG + 1; /* a pool needs framed responses */
    *ok = m.status >= 200 && m.status < 300;
    if (!*ok)
        lg_note_http_error(&m, buf);
    int d = lg_body_feed(&b, buf + h, len - (size_t)h);
    while (d == 0) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            return r == 0 ? TWX_EC_EOF + 1 : (int)twx_errclass_of(errno) + 1;
        d = lg_body_feed(&b, buf, (size_t)r);
    }
    if (d < 0)
        return TWX_EC_BADMSG + 1;
    *keep = twx_http_keepalive(&m);
    return 0;
}

void *lg_pool_worker(void *arg)
{
    struct lg_thread *t = arg;
    uint64_t next = lg_t0;
    double per = lg.rate > 0 ? 1e9 * (double)lg.conc / lg.rate : 0;
    for (;;) {
        uint64_t now = twx_now_ns();
        if (per > 0 && now < next) {
            struct timespec ts = {0, (long)(next - now)};
            nanosleep(&ts, NULL);
            now = twx_now_ns();
        }
        next += (uint64_t)per;
        if (!lg_take(t, now))
            break;
        unsigned d = (unsigned)(t->generated++ * (uint64_t)lg_nth + (unsigned)t->id) %
                     (unsigned)lg.ndst;
        struct tw_pool_conn c;
        uint64_t t0 = twx_now_ns();
        int err = tw_pool_get(g_pool, g_dest[d], TW_POOL_WAIT_DEFAULT, &c);
        if (err < 0) {
            lg_record_err(t, err == TW_EWAITTIMEOUT ? TWX_EC_TIMEDOUT : (int)twx_errclass_of(-err),
                          twx_now_ns());
            if (err == -EADDRNOTAVAIL || err == -EADDRINUSE) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        if (!(c.uses > 1)) {
            lg_inc(&t->attempted);
            lg_inc(&t->connected);
        }
        bool keep = false, ok = false;
        uint64_t t1 = twx_now_ns();
        int r = pool_request(c.fd, &keep, &ok);
        uint64_t t2 = twx_now_ns();
        if (r) {
            lg_record_err(t, r - 1, t2);
            tw_pool_put(g_pool, &c, TW_POOL_DISCARD);
            continue;
        }
        if (!(c.uses > 1))
            twx_hist_add(&t->hconn, (t1 - t0) / 1000);
        if (ok) {
            lg_inc(&t->requests);
            twx_hist_add(&t->hreq, (t2 - t1) / 1000);
        } else {
            lg_record_err(t, TWX_EC_HTTP, t2);
        }
        tw_pool_put(g_pool, &c, keep ? TW_POOL_REUSE : TW_POOL_DISCARD);
    }
    atomic_store(&t->finished, true);
    return NULL;
}
