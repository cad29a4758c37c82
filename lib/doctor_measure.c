/*
 * doctor_measure.c — what `twkit doctor` measures before it judges: the
 * counters over a short window, the socket report at the end of it, the
 * TIME_WAIT sockets followed through it, and the sysctl files.
 *
 * Settings alone say little; the same tcp_tw_reuse value is right on one
 * host and wrong on another.  So doctor samples the TCP counters twice,
 * sample_s seconds apart (rates: ActiveOpens, TCPTimeWaitOverflow,
 * TCPAbortOnData, EstabResets...), and builds the `twkit stat` report at the
 * end (port pressure per destination, client/server TIME_WAIT).
 *
 * No counter tells when an RST kills a TIME_WAIT early (RFC 1337
 * assassination), so doctor follows the TIME_WAIT sockets present at the
 * start whose timer would outlive the window by 2 s: one that is gone at the
 * end although its 4-tuple is not in use again (reuse or a new SYN would put
 * it back) was killed early.  At most TRACK_MAX sockets are followed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <twkit/doctor.h>

#include "twx/clock.h"
#include <twkit/error.h>

#define TRACK_MAX (1u << 18)
#define TRACK_SLACK_MS 2000u

struct tuple {
    uint8_t family, pad;
    uint16_t lport, rport, pad2;
    uint8_t laddr[16], raddr[16];
};

struct track {
    struct tuple *t;
    size_t n, cap;
    uint32_t min_ms;
    bool capped;
    bool *seen;
};

static void tuple_of(const struct tw_sock *s, struct tuple *t)
{
    memset(t, 0, sizeof(*t));
    t->family = s->laddr.family;
    t->lport = s->lport;
    t->rport = s->rport;
    memcpy(t->laddr, s->laddr.u.b, 16);
    memcpy(t->raddr, s->raddr.u.b, 16);
}

static int cmp_tuple(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct tuple));
}

static int track_start_cb(const struct tw_sock *s, void *arg)
{
    struct track *tr = arg;
    if (s->state != TW_TIME_WAIT || s->expires_ms < tr->min_ms)
        return 0;
    if (tr->n == TRACK_MAX) {
        tr->capped = true;
        return 0;
    }
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 256;
        void *p = realloc(tr->t, cap * sizeof(*tr->t));
        if (!p)
            return -ENOMEM;
        tr->t = p;
        tr->cap = cap;
    }
    tuple_of(s, &tr->t[tr->n++]);
    return 0;
}

static int track_end_cb(const struct tw_sock *s, void *arg)
{
    struct track *tr = arg;
    struct tuple t;
    tuple_of(s, &t);
    struct tuple *hit = bsearch(&t, tr->t, tr->n, sizeof(t), cmp_tuple);
    if (hit)
        tr->seen[hit - tr->t] = true;
    return 0;
}

static double now_s(void)
{
    return (double)twx_now_ns() / 1e9;
}

static void sleep_s(double s)
{
    double end = now_s() + s;
    for (;;) {
        double left = end - now_s();
        if (left <= 0)
            return;
        struct timespec ts = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int dump(enum tw_source_kind kind, const char *proc_root, unsigned states, tw_sock_cb cb,
                void *arg, char *errbuf, size_t errlen)
{
    struct tw_source *src = NULL;
    struct tw_query q;
    int e = tw_source_open(kind, kind == TW_SOURCE_NETLINK ? NULL : proc_root, &src);
    if (e) {
        snprintf(errbuf, errlen, "cannot open the socket source: %s", tw_strerror(e));
        return e;
    }
    tw_query_init(&q);
    q.states = states;
    e = tw_source_dump(src, &q, cb, arg);
    if (e < 0)
        snprintf(errbuf, errlen, "socket dump: %s%s%s", tw_strerror(e),
                 *tw_source_errmsg(src) ? ": " : "", tw_source_errmsg(src));
    tw_source_close(src);
    return e < 0 ? e : 0;
}

int tw_doctor_measure(const struct tw_doctor_opts *o, struct tw_doctor_sample **out,
                      char *errbuf, size_t errlen)
{
    struct tw_doctor_opts def = {.sample_s = TW_DOCTOR_DEFAULT_SAMPLE};
    struct track tr = {0};
    struct tw_doctor_sample *s;
    struct tw_kernel sk;
    char dummy[8];
    int e;

    if (!errbuf || !errlen)
        errbuf = dummy, errlen = sizeof(dummy);
    errbuf[0] = '\0';
    if (!o)
        o = &def;
    if (!(o->sample_s >= 0 && o->sample_s <= 3600)) {
        snprintf(errbuf, errlen, "sample window out of range (0-3600 s)");
        return TW_EBADOPT;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->tw0 = s->tw1 = -1;
    s->tw_recycle = -1;

    /* ---- start of the window ---- */
    bool window = o->sample_s > 0;
    e = tw_counters_read(&s->c0, o->proc_root);
    if (e) {
        snprintf(errbuf, errlen, "cannot read the TCP counters (net/snmp, net/netstat): %s",
                 tw_strerror(e));
        goto fail;
    }
    memset(&sk, 0, sizeof(sk));
    if (tw_kernel_read_sockstat(&sk, o->proc_root) == 0)
        s->tw0 = sk.sock_tw;
    if (window) {
        tr.min_ms = (uint32_t)(o->sample_s * 1000) + TRACK_SLACK_MS;
        e = dump(o->source, o->proc_root, TW_STATE_BIT(TW_TIME_WAIT), track_start_cb, &tr,
                 errbuf, errlen);
        if (e)
            goto fail;
        if (tr.n)
            qsort(tr.t, tr.n, sizeof(*tr.t), cmp_tuple);
    }
    double t0 = now_s();
    if (window)
        sleep_s(o->sample_s);

    /* ---- end of the window ---- */
    e = tw_counters_read(&s->c1, o->proc_root);
    if (e) {
        snprintf(errbuf, errlen, "cannot read the TCP counters: %s", tw_strerror(e));
        goto fail;
    }
    s->seconds = window ? now_s() - t0 : 0;
    s->have_counters = true;
    memset(&sk, 0, sizeof(sk));
    if (tw_kernel_read_sockstat(&sk, o->proc_root) == 0)
        s->tw1 = sk.sock_tw;
    if (tr.n) {
        tr.seen = calloc(tr.n, sizeof(*tr.seen));
        if (!tr.seen) {
            e = -ENOMEM;
            goto fail;
        }
        e = dump(o->source, o->proc_root, TW_STATES_ALL & ~TW_STATE_BIT(TW_LISTEN),
                 track_end_cb, &tr, errbuf, errlen);
        if (e)
            goto fail;
        s->tw_tracked = tr.n;
        for (size_t i = 0; i < tr.n; i++)
            s->tw_vanished += !tr.seen[i];
        s->tw_track_capped = tr.capped;
    }

    struct tw_source *src = NULL;
    e = tw_source_open(o->source, o->source == TW_SOURCE_NETLINK ? NULL : o->proc_root, &src);
    if (e) {
        snprintf(errbuf, errlen, "cannot open the socket source: %s", tw_strerror(e));
        goto fail;
    }
    e = tw_report_collect(src, NULL, o->proc_root, &s->report, errbuf, errlen);
    tw_source_close(src);
    if (e)
        goto fail;
    s->k = s->report->kernel;

    char buf[64];
    e = tw_sysctl_read(o->proc_root, "net.ipv4.tcp_tw_recycle", buf, sizeof(buf));
    if (e >= 0) {
        s->tw_recycle_exists = true;
        char *end;
        long v = strtol(buf, &end, 10);
        s->tw_recycle = end != buf ? (int)v : -1;
    }
    e = tw_sysctl_conf_load(&s->conf, o->root);
    if (e) {
        snprintf(errbuf, errlen, "reading the sysctl files: %s", tw_strerror(e));
        goto fail;
    }
    free(tr.t);
    free(tr.seen);
    *out = s;
    return 0;
fail:
    free(tr.t);
    free(tr.seen);
    tw_doctor_sample_free(s);
    return e;
}

void tw_doctor_sample_free(struct tw_doctor_sample *s)
{
    if (!s)
        return;
    tw_report_free(s->report);
    tw_sysctl_conf_release(&s->conf);
    free(s);
}
