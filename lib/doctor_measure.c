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
 * end although its 4-tuple is not in use again ended early.  Whether it was
 * server side (its local port was listening at the start) matters: a new
 * SYN on the same 4-tuple takes a server-side TIME_WAIT over (RFC 6191), and
 * if that new connection is gone too by the end, its TIME_WAIT vanished
 * without any RST.  At most TRACK_MAX sockets are followed.
 *
 * A recording (opts.fixture) replaces all of this with files: the socket
 * dump and kernel files of `twkit stat --record`, counters at the start of
 * the window from window/, and the sysctl files from root/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <twkit/doctor.h>
#include <twkit/error.h>

#include "twx/clock.h"
#include "twx/file.h"

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
    uint8_t listen[65536 / 8]; /* listening ports at the start */
};

static void set_bit(uint8_t *map, unsigned port)
{
    map[port >> 3] |= (uint8_t)(1u << (port & 7));
}

static bool bit(const uint8_t *map, unsigned port)
{
    return (map[port >> 3] >> (port & 7)) & 1;
}

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
    if (s->state == TW_LISTEN) {
        set_bit(tr->listen, s->lport);
        return 0;
    }
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

static int listen_cb(const struct tw_sock *s, void *arg)
{
    if (s->state == TW_LISTEN)
        set_bit(arg, s->lport);
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

/* What is read the same way live and from a recording: the report, the
 * listeners, the sysctls the report does not keep, the sysctl files. */
static int measure_end(struct tw_doctor_sample *s, enum tw_source_kind kind, const char *path,
                       const char *proc_root, const char *conf_root, char *errbuf,
                       size_t errlen)
{
    struct tw_source *src = NULL;
    int e = tw_source_open(kind, path, &src);
    if (e) {
        snprintf(errbuf, errlen, "cannot open the socket source: %s", tw_strerror(e));
        return e;
    }
    e = tw_report_collect(src, NULL, proc_root, &s->report, errbuf, errlen);
    if (!e) {
        struct tw_query q;
        tw_query_init(&q);
        q.states = TW_STATE_BIT(TW_LISTEN);
        e = tw_source_dump(src, &q, listen_cb, s->listen);
        if (e < 0)
            snprintf(errbuf, errlen, "listener dump: %s", tw_strerror(e));
        else
            e = 0, s->have_listen = true;
    }
    tw_source_close(src);
    if (e)
        return e;
    s->k = s->report->kernel;

    char buf[64];
    if (tw_sysctl_read(proc_root, "net.ipv4.tcp_tw_recycle", buf, sizeof(buf)) >= 0) {
        s->tw_recycle_exists = true;
        char *end;
        long v = strtol(buf, &end, 10);
        s->tw_recycle = end != buf ? (int)v : -1;
    }
    if (tw_sysctl_read(proc_root, "net.ipv4.tcp_ehash_entries", buf, sizeof(buf)) >= 0) {
        long v = strtol(buf, NULL, 10);
        s->ehash_entries = v < 0 ? -v : v;
    }
    if (conf_root && (e = tw_sysctl_conf_load(&s->conf, conf_root))) {
        snprintf(errbuf, errlen, "reading the sysctl files: %s", tw_strerror(e));
        return e;
    }
    s->conf_read = conf_root != NULL;
    return 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A recording: counters at the start from window/ (if any), the rest from the top. */
static int measure_fixture(const struct tw_doctor_opts *o, struct tw_doctor_sample *s,
                           char *errbuf, size_t errlen)
{
    char win[4096], root[4096];
    const char *dir = o->fixture;
    struct tw_kernel sk;
    int e = tw_counters_read(&s->c1, dir);
    if (e) {
        snprintf(errbuf, errlen, "fixture %s: cannot read net/snmp, net/netstat: %s", dir,
                 tw_strerror(e));
        return e;
    }
    s->have_counters = true;
    memset(&sk, 0, sizeof(sk));
    if (tw_kernel_read_sockstat(&sk, dir) == 0)
        s->tw1 = sk.sock_tw;
    snprintf(win, sizeof(win), "%s/window", dir);
    if (is_dir(win)) {
        char p[4200], *txt = NULL, *end;
        size_t len = 0;
        snprintf(p, sizeof(p), "%s/seconds", win);
        e = twx_read_file(p, 64, &txt, &len);
        double sec = e ? -1 : strtod(txt, &end);
        if (e || end == txt || !(sec > 0 && sec <= 3600)) {
            snprintf(errbuf, errlen, "fixture %s: window/seconds: %s", dir,
                     e ? tw_strerror(e) : "not a number of seconds (0-3600)");
            free(txt);
            return e ? e : TW_EMALFORMED;
        }
        free(txt);
        if ((e = tw_counters_read(&s->c0, win))) {
            snprintf(errbuf, errlen, "fixture %s: window/net/snmp, netstat: %s", dir,
                     tw_strerror(e));
            return e;
        }
        s->seconds = sec;
        memset(&sk, 0, sizeof(sk));
        if (tw_kernel_read_sockstat(&sk, win) == 0)
            s->tw0 = sk.sock_tw;
    } else {
        s->c0 = s->c1;
    }
    snprintf(root, sizeof(root), "%s/root", dir);
    const char *conf_root = o->root ? o->root : is_dir(root) ? root : NULL;
    return measure_end(s, TW_SOURCE_FIXTURE, dir, dir, conf_root, errbuf, errlen);
}

int tw_doctor_measure(const struct tw_doctor_opts *o, struct tw_doctor_sample **out,
                      char *errbuf, size_t errlen)
{
    struct tw_doctor_opts def = {.sample_s = TW_DOCTOR_DEFAULT_SAMPLE};
    struct track *tr = NULL;
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
    tr = calloc(1, sizeof(*tr));
    if (!s || !tr) {
        free(s);
        free(tr);
        return -ENOMEM;
    }
    s->tw0 = s->tw1 = -1;
    s->tw_recycle = -1;
    if (o->fixture) {
        if ((e = measure_fixture(o, s, errbuf, errlen)))
            goto fail;
        goto done;
    }

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
        tr->min_ms = (uint32_t)(o->sample_s * 1000) + TRACK_SLACK_MS;
        e = dump(o->source, o->proc_root, TW_STATE_BIT(TW_TIME_WAIT) | TW_STATE_BIT(TW_LISTEN),
                 track_start_cb, tr, errbuf, errlen);
        if (e)
            goto fail;
        if (tr->n)
            qsort(tr->t, tr->n, sizeof(*tr->t), cmp_tuple);
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
    if (tr->n) {
        tr->seen = calloc(tr->n, sizeof(*tr->seen));
        if (!tr->seen) {
            e = -ENOMEM;
            goto fail;
        }
        e = dump(o->source, o->proc_root, TW_STATES_ALL & ~TW_STATE_BIT(TW_LISTEN),
                 track_end_cb, tr, errbuf, errlen);
        if (e)
            goto fail;
        s->tw_tracked = tr->n;
        for (size_t i = 0; i < tr->n; i++) {
            bool server = bit(tr->listen, tr->t[i].lport);
            s->tw_vanished += !tr->seen[i];
            s->tw_tracked_server += server;
            s->tw_vanished_server += server && !tr->seen[i];
        }
        s->tw_track_capped = tr->capped;
    }
    e = measure_end(s, o->source, o->source == TW_SOURCE_NETLINK ? NULL : o->proc_root,
                    o->proc_root, o->root ? o->root : "/", errbuf, errlen);
    if (e)
        goto fail;
done:
    free(tr->t);
    free(tr->seen);
    free(tr);
    *out = s;
    return 0;
fail:
    free(tr->t);
    free(tr->seen);
    free(tr);
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
