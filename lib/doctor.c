/*
 * doctor.c — the findings engine of `twkit doctor`: a declarative table of
 * rules run over one measurement (struct tw_doctor_sample).
 *
 * Tuning guides repeat claims that are false on current Linux (TIME_WAIT
 * shortened by tcp_fin_timeout, tcp_tw_recycle, "reuse helps servers").
 * Each rule here looks at measured numbers only — sysctls, counter deltas
 * over the sampling window, the socket report of `twkit stat`, the sysctl
 * configuration files — and says what is wrong for *this* load, why (the
 * kernel code or RFC that makes it so), and the exact fix.  A rule that sees
 * nothing wrong says nothing, so a healthy host gets a short all-clear.
 *
 * The explanations and sources are text in the rules, checked against
 * kernel-facts.md; the facts the text relies on are re-measured on the
 * running kernel by tests/integration/doctor_facts_*.sh.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/doctor.h>
#include <twkit/error.h>

#include "internal.h"

/* ---- severities, lookups -------------------------------------------------- */

const char *tw_severity_name(enum tw_severity s)
{
    switch (s) {
    case TW_SEV_OK: return "ok";
    case TW_SEV_INFO: return "info";
    case TW_SEV_WARN: return "warn";
    case TW_SEV_CRIT: return "crit";
    }
    return "?";
}

uint64_t tw_doctor_delta(const struct tw_doctor_sample *s, enum tw_counter_id id)
{
    if (!s->have_counters || s->seconds <= 0 || id >= TW_C_MAX || !s->c0.have[id] ||
        !s->c1.have[id] || s->c1.v[id] < s->c0.v[id])
        return 0;
    return s->c1.v[id] - s->c0.v[id];
}

double tw_doctor_connect_rate(const struct tw_doctor_sample *s)
{
    if (s->seconds <= 0)
        return 0;
    return (double)tw_doctor_delta(s, TW_C_ACTIVE_OPENS) / s->seconds;
}

const struct tw_finding *tw_doctor_find(const struct tw_doctor_result *r, const char *id)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (!strcmp(r->f[i].id, id))
            return &r->f[i];
    return NULL;
}

const char *tw_finding_evidence(const struct tw_finding *f, const char *key)
{
    for (size_t i = 0; f && i < f->n_evidence; i++)
        if (!strcmp(f->evidence[i].key, key))
            return f->evidence[i].value;
    return NULL;
}

/* ---- values doctor may write ----------------------------------------------- */

struct managed {
    const char *key;
    long lo, hi;     /* inclusive range of each number */
    int nums;        /* numbers in the value (2 for the port range) */
};

/* What the kernel accepts (net/ipv4/sysctl_net_ipv4.c extra1/extra2). */
static const struct managed managed[] = {
    {"net.ipv4.tcp_tw_reuse", 0, 2, 1},
    {"net.ipv4.tcp_tw_reuse_delay", 1, 60000, 1},
    {"net.ipv4.tcp_timestamps", 0, 2, 1},
    {"net.ipv4.tcp_max_tw_buckets", 0, INT_MAX, 1},
    {"net.ipv4.tcp_rfc1337", 0, 1, 1},
    {"net.ipv4.ip_local_port_range", 1, 65535, 2},
};

/* Settings a conf file may hold that doctor checks but never writes. */
static const struct managed checked_only[] = {
    {"net.ipv4.tcp_fin_timeout", 1, INT_MAX / 1000, 1},
};

static const struct managed *find_managed(const char *key, bool include_checked)
{
    for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++)
        if (!strcmp(managed[i].key, key))
            return &managed[i];
    if (include_checked)
        for (size_t i = 0; i < sizeof(checked_only) / sizeof(checked_only[0]); i++)
            if (!strcmp(checked_only[i].key, key))
                return &checked_only[i];
    return NULL;
}

/* Parse value as m->nums decimal numbers in range (whitespace separated). */
static bool value_ok(const struct managed *m, const char *value)
{
    const char *p = value;
    long v[2] = {0, 0};

    for (int i = 0; i < m->nums; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || x < m->lo || x > m->hi)
            return false;
        v[i] = x;
        p = end;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return false;
    return m->nums < 2 || v[0] <= v[1];
}

/* Shared with doctor_apply.c (rollback checks the keys of a state file). */

bool tw__doctor_managed(const char *key)
{
    return key && find_managed(key, false) != NULL;
}

bool tw_doctor_change_safe(const char *key, const char *value)
{
    const struct managed *m = key && value ? find_managed(key, false) : NULL;
    return m && value_ok(m, value);
}

/* ---- building findings ----------------------------------------------------- */

struct ctx {
    const struct tw_doctor_sample *s;
    const struct tw_kernel *k;
    const struct tw_report *rep;    /* may be NULL */
    struct tw_doctor_result *r;
    int err;
    double rate;                    /* ActiveOpens per second */
    /* derived from the report */
    const struct tw_pressure *busiest; /* highest pct, or NULL */
    unsigned hot, hot_nonloop, hot_reuse;
    uint32_t eff;                   /* effective range */
};

static struct tw_finding *add(struct ctx *x, const char *id, enum tw_severity sev,
                              const char *explain, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static struct tw_finding *add(struct ctx *x, const char *id, enum tw_severity sev,
                              const char *explain, const char *source, const char *fmt, ...)
{
    static struct tw_finding sink; /* written when out of memory; never read */
    struct tw_doctor_result *r = x->r;
    size_t cap = r->n ? r->n : 0;

    if (x->err)
        return memset(&sink, 0, sizeof(sink));
    /* grow by one chunk of 16 */
    if (r->n % 16 == 0) {
        void *p = realloc(r->f, (cap + 16) * sizeof(*r->f));
        if (!p) {
            x->err = -ENOMEM;
            return memset(&sink, 0, sizeof(sink));
        }
        r->f = p;
    }
    struct tw_finding *f = &r->f[r->n++];
    memset(f, 0, sizeof(*f));
    f->id = id;
    f->severity = sev;
    f->explain = explain;
    f->source = source;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->summary, sizeof(f->summary), fmt, ap);
    va_end(ap);
    return f;
}

static void ev(struct tw_finding *f, bool numeric, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void ev(struct tw_finding *f, bool numeric, const char *key, const char *fmt, ...)
{
    if (f->n_evidence >= TW_DOCTOR_EVIDENCE_MAX)
        return;
    struct tw_evidence *e = &f->evidence[f->n_evidence++];
    snprintf(e->key, sizeof(e->key), "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->value, sizeof(e->value), fmt, ap);
    va_end(ap);
    e->numeric = numeric;
}

#define EVN(f, key, fmt, ...) ev(f, true, key, fmt, __VA_ARGS__)
#define EVS(f, key, fmt, ...) ev(f, false, key, fmt, __VA_ARGS__)

static void fix(struct tw_finding *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fix(struct tw_finding *f, const char *fmt, ...)
{
    size_t used = strlen(f->fix);
    if (used && used + 1 < sizeof(f->fix))
        f->fix[used++] = '\n', f->fix[used] = '\0';
    if (used + 1 >= sizeof(f->fix))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->fix + used, sizeof(f->fix) - used, fmt, ap);
    va_end(ap);
}

static void change(struct tw_finding *f, const char *key, const char *current, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static void change(struct tw_finding *f, const char *key, const char *current, const char *fmt,
                   ...)
{
    char value[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    if (!tw_doctor_change_safe(key, value) || !f->id)
        return; /* a rule must never propose what apply would refuse */
    f->has_change = true;
    snprintf(f->change.key, sizeof(f->change.key), "%s", key);
    snprintf(f->change.value, sizeof(f->change.value), "%s", value);
    snprintf(f->change.current, sizeof(f->change.current), "%s", current);
    f->change.finding = f->id;
    f->change.severity = f->severity;
}

static const char *dest_str(const struct tw_pressure *p, char *buf, size_t len)
{
    char l[64], r[64];
    tw_addr_str(&p->laddr, l, sizeof(l));
    tw_addr_str(&p->raddr, r, sizeof(r));
    if (p->raddr.family == AF_INET6)
        snprintf(buf, len, "%s -> [%s]:%u", l, r, p->rport);
    else
        snprintf(buf, len, "%s -> %s:%u", l, r, p->rport);
    return buf;
}

static double reuse_delay_s(const struct tw_kernel *k)
{
    return k->tw_reuse_delay_ms > 0 ? k->tw_reuse_delay_ms / 1000.0 : 1.0;
}

static uint64_t tw_obj_bytes(const struct tw_kernel *k)
{
    return k->tw_slab_v4 ? k->tw_slab_v4 : TW_DOCTOR_TW_OBJ_BYTES;
}

/* ---- the rules ------------------------------------------------------------- */

static const char SRC_PRESSURE[] =
    "net/ipv4/inet_hashtables.c __inet_hash_connect(), __inet_check_established(); "
    "include/net/tcp.h TCP_TIMEWAIT_LEN; RFC 6056";
static const char EXPL_PRESSURE[] =
    "Ephemeral ports run out per destination (source IP, destination IP, destination "
    "port), not per host: connect() shares a local port between destinations as long "
    "as the 4-tuple is unique. A client-side TIME_WAIT holds its 4-tuple for 60 s "
    "(TCP_TIMEWAIT_LEN, a constant), so one destination sustains about effective "
    "range / 60 new connections per second unless tcp_tw_reuse can reclaim TIME_WAIT. "
    "When the range is full connect() fails with EADDRNOTAVAIL, and it slows down "
    "(scanning the range) before it fails.";

static void rule_port_pressure(struct ctx *x)
{
    const struct tw_report *rep = x->rep;
    unsigned shown = 0;

    if (!rep)
        return;
    for (size_t i = 0; i < rep->n_pressure && shown < 5; i++) {
        const struct tw_pressure *p = &rep->pressure[i];
        if (p->pct < TW_DOCTOR_WARN_PCT)
            continue;
        char d[160];
        uint64_t used = p->in_use > p->reclaimable ? p->in_use - p->reclaimable : 0;
        uint64_t free_ports = rep->effective_range > used ? rep->effective_range - used : 0;
        double hold = p->reuse_applies ? reuse_delay_s(x->k) : 60.0;
        double sustain = rep->effective_range / hold;
        double tte = x->rate > 0 ? free_ports / x->rate : -1;
        enum tw_severity sev = TW_SEV_WARN;
        if (p->pct >= TW_DOCTOR_CRIT_PCT || (tte >= 0 && tte < 60 && x->rate > sustain))
            sev = TW_SEV_CRIT;
        struct tw_finding *f =
            add(x, "port-pressure", sev, EXPL_PRESSURE, SRC_PRESSURE,
                "%s uses %.0f%% of its %u ephemeral ports", dest_str(p, d, sizeof(d)), p->pct,
                rep->effective_range);
        EVS(f, "destination", "%s", d);
        EVN(f, "pressure_pct", "%.1f", p->pct);
        EVN(f, "in_use", "%" PRIu64, p->in_use);
        EVN(f, "time_wait", "%" PRIu64, p->time_wait);
        EVN(f, "established", "%" PRIu64, p->established);
        EVN(f, "reclaimable", "%" PRIu64, p->reclaimable);
        EVN(f, "effective_range", "%u", rep->effective_range);
        EVN(f, "free_ports", "%" PRIu64, free_ports);
        EVN(f, "connect_rate", "%.1f", x->rate);
        if (tte >= 0)
            EVN(f, "time_to_exhaustion_s", "%.1f", tte);
        else
            EVS(f, "time_to_exhaustion_s", "%s", "n/a (no connect in the window)");
        EVN(f, "sustainable_rate", "%.1f", sustain);
        EVS(f, "reuse_applies", "%s", p->reuse_applies ? "yes" : "no");
        if (tte >= 0)
            fix(f, "At the host's current %.1f connects/s the %" PRIu64
                   " free ports last about %.0f s (ActiveOpens is host-wide: an upper bound "
                   "on this destination's share).",
                x->rate, free_ports, tte);
        fix(f, "Reuse connections: HTTP keep-alive or a connection pool (tw_pool in "
               "libtwkit); this removes the TIME_WAIT at its source.");
        fix(f, "Where the protocol allows, let the server close first: its TIME_WAIT costs "
               "memory only.");
        fix(f, "Spread the load over more destination ports or source addresses: each "
               "(source, destination, port) has its own range.");
        fix(f, "If the program calls bind() before connect(), set IP_BIND_ADDRESS_NO_PORT "
               "on the socket first, so the port is chosen per destination.");
        if (!p->reuse_applies)
            fix(f, "Kernel side: let tcp_tw_reuse reclaim TIME_WAIT (see the tw-reuse "
                   "findings).");
        shown++;
    }
}

static const char SRC_REUSE[] =
    "net/ipv4/tcp_ipv4.c tcp_twsk_unique(); commit 79e9fed46038; "
    "Documentation/networking/ip-sysctl.rst";
static const char EXPL_REUSE[] =
    "tcp_tw_reuse lets connect() take over a TIME_WAIT 4-tuple once it is older than "
    "tcp_tw_reuse_delay (1 s by default) and the peer sent TCP timestamps; PAWS "
    "(RFC 7323) then keeps old segments out of the new connection. 0 = never, 1 = every "
    "destination, 2 (the default) = loopback only. It applies to connect() only and "
    "never helps a server's TIME_WAIT.";

static void rule_reuse_off(struct ctx *x)
{
    if (x->k->tw_reuse != 0)
        return;
    struct tw_finding *f;
    if (x->hot)
        f = add(x, "tw-reuse-off", TW_SEV_WARN, EXPL_REUSE, SRC_REUSE,
                "tcp_tw_reuse = 0 while %u destination(s) are under port pressure", x->hot);
    else
        f = add(x, "tw-reuse-off", TW_SEV_INFO, EXPL_REUSE, SRC_REUSE, "%s",
                "tcp_tw_reuse = 0: connect() never reclaims TIME_WAIT (default is 2)");
    EVN(f, "tcp_tw_reuse", "%d", x->k->tw_reuse);
    EVN(f, "tcp_timestamps", "%d", x->k->timestamps);
    EVN(f, "hot_destinations", "%u", x->hot);
    EVN(f, "hot_non_loopback", "%u", x->hot_nonloop);
    if (!x->hot) {
        fix(f, "Nothing urgent: no destination is under port pressure. The default 2 "
               "(loopback only) is safe: sysctl -w net.ipv4.tcp_tw_reuse=2");
        return;
    }
    const char *v = x->hot_nonloop ? "1" : "2";
    fix(f, "sysctl -w net.ipv4.tcp_tw_reuse=%s%s", v,
        x->hot_nonloop ? "   (1: every destination; 2 covers loopback only)" : "");
    if (x->k->timestamps == 0)
        fix(f, "and turn timestamps back on (tcp_timestamps=1): reuse needs them.");
    fix(f, "Better still: keep-alive or a connection pool.");
    change(f, "net.ipv4.tcp_tw_reuse", "0", "%s", v);
}

static const char EXPL_REUSE2[] =
    "With tcp_tw_reuse = 2 only loopback connections are reclaimed: a socket bound to lo, "
    "or a 127/8, ::1 or ::ffff:127.0.0.0/104 address at either end. The host's own other "
    "addresses are not loopback even though their packets use lo.";

static void rule_reuse_loopback(struct ctx *x)
{
    if (x->k->tw_reuse != 2 || !x->hot_nonloop)
        return;
    struct tw_finding *f =
        add(x, "tw-reuse-loopback-only", TW_SEV_WARN, EXPL_REUSE2, SRC_REUSE,
            "tcp_tw_reuse = 2 is loopback only; %u non-loopback destination(s) are under "
            "port pressure",
            x->hot_nonloop);
    EVN(f, "tcp_tw_reuse", "%d", x->k->tw_reuse);
    EVN(f, "hot_non_loopback", "%u", x->hot_nonloop);
    EVN(f, "tcp_timestamps", "%d", x->k->timestamps);
    if (x->busiest && !x->busiest->loopback) {
        char d[160];
        EVS(f, "busiest", "%s", dest_str(x->busiest, d, sizeof(d)));
        EVN(f, "busiest_pct", "%.1f", x->busiest->pct);
    }
    fix(f, "sysctl -w net.ipv4.tcp_tw_reuse=1   (connect() only; needs tcp_timestamps on "
           "both ends)");
    fix(f, "Better still: keep-alive or a connection pool.");
    change(f, "net.ipv4.tcp_tw_reuse", "2", "1");
}

static const char SRC_TS[] = "net/ipv4/tcp_ipv4.c tcp_twsk_unique() (tw_ts_recent_stamp); "
                             "RFC 7323 section 5 (PAWS)";
static const char EXPL_TS[] =
    "connect() reclaims a TIME_WAIT only when the peer sent timestamps on the old "
    "connection (tw_ts_recent_stamp != 0): PAWS is what keeps its delayed segments out of "
    "the new one. With tcp_timestamps = 0 this host offers none, no peer echoes any, and "
    "tcp_tw_reuse never reclaims anything, whatever its value.";

static void rule_timestamps(struct ctx *x)
{
    if (x->k->timestamps != 0)
        return;
    enum tw_severity sev = x->hot ? TW_SEV_CRIT : x->k->tw_reuse ? TW_SEV_WARN : TW_SEV_INFO;
    struct tw_finding *f = add(x, "timestamps-off", sev, EXPL_TS, SRC_TS,
                               "tcp_timestamps = 0: tcp_tw_reuse = %d cannot reclaim any "
                               "TIME_WAIT",
                               x->k->tw_reuse);
    EVN(f, "tcp_timestamps", "%d", x->k->timestamps);
    EVN(f, "tcp_tw_reuse", "%d", x->k->tw_reuse);
    EVN(f, "hot_destinations", "%u", x->hot);
    fix(f, "sysctl -w net.ipv4.tcp_timestamps=1");
    change(f, "net.ipv4.tcp_timestamps", "0", "1");
}

static const char SRC_DELAY[] =
    "commits 19ce8cd30465, ca6a6f93867a (Linux 6.14); net/ipv4/tcp_ipv4.c "
    "tcp_twsk_unique(); RFC 7323 section 5.4";
static const char EXPL_DELAY[] =
    "Since Linux 6.14 connect() reclaims a TIME_WAIT only once it is older than "
    "tcp_tw_reuse_delay ms (default 1000, range 1-60000). A destination can then open at "
    "most effective range / delay new connections per second; above that connect() fails "
    "with EADDRNOTAVAIL even with reuse on. The 1 s default allows for peers whose "
    "timestamp clock ticks as slowly as once a second (RFC 7323 5.4); Linux ticks every "
    "1 ms.";

static void rule_reuse_delay(struct ctx *x)
{
    const struct tw_kernel *k = x->k;
    if (k->tw_reuse_delay_ms < 0 || !x->eff)
        return;
    double cap = x->eff * 1000.0 / k->tw_reuse_delay_ms;
    bool applies = x->hot_reuse > 0 && k->timestamps != 0;
    if (applies && x->rate >= cap / 2) {
        struct tw_finding *f =
            add(x, "tw-reuse-delay", TW_SEV_WARN, EXPL_DELAY, SRC_DELAY,
                "tcp_tw_reuse_delay = %d ms caps reuse at %.1f connects/s per destination; "
                "the host makes %.1f/s",
                k->tw_reuse_delay_ms, cap, x->rate);
        EVN(f, "tcp_tw_reuse_delay_ms", "%d", k->tw_reuse_delay_ms);
        EVN(f, "effective_range", "%u", x->eff);
        EVN(f, "reuse_cap_per_s", "%.1f", cap);
        EVN(f, "connect_rate", "%.1f", x->rate);
        EVN(f, "hot_destinations", "%u", x->hot_reuse);
        long nd = x->rate > 0 ? (long)floor(x->eff * 1000.0 / (2 * x->rate)) : 0;
        if (nd < 1)
            nd = 1;
        if (nd < k->tw_reuse_delay_ms) {
            fix(f, "If every peer uses a timestamp clock of %ld ms or finer (Linux does): "
                   "sysctl -w net.ipv4.tcp_tw_reuse_delay=%ld   (cap becomes %.0f/s)",
                nd, nd, x->eff * 1000.0 / nd);
            char cur[32];
            snprintf(cur, sizeof(cur), "%d", k->tw_reuse_delay_ms);
            change(f, "net.ipv4.tcp_tw_reuse_delay", cur, "%ld", nd);
        }
        fix(f, "Keep-alive or a pool removes the cap altogether.");
        return;
    }
    if (k->tw_reuse_delay_ms != 1000) {
        struct tw_finding *f =
            add(x, "tw-reuse-delay", TW_SEV_INFO, EXPL_DELAY, SRC_DELAY,
                "tcp_tw_reuse_delay = %d ms (default 1000): reuse capped at %.1f "
                "connects/s per destination",
                k->tw_reuse_delay_ms, cap);
        EVN(f, "tcp_tw_reuse_delay_ms", "%d", k->tw_reuse_delay_ms);
        EVN(f, "effective_range", "%u", x->eff);
        EVN(f, "reuse_cap_per_s", "%.1f", cap);
        EVN(f, "connect_rate", "%.1f", x->rate);
        fix(f, "Nothing needed at the current rate.");
    }
}

static const char SRC_BUCKETS[] =
    "net/ipv4/tcp_minisocks.c tcp_time_wait(); net/ipv4/inet_timewait_sock.c "
    "inet_twsk_alloc()";
static const char EXPL_BUCKETS[] =
    "Once tcp_max_tw_buckets TIME_WAIT (and FIN_WAIT2) minisocks exist in the namespace, "
    "tcp_time_wait() closes each further socket at once without TIME_WAIT and counts "
    "TcpExt TCPTimeWaitOverflow. Current kernels log nothing (ip-sysctl.rst's \"warning "
    "is printed\" is stale; 2.6-era kernels printed \"TCP: time wait bucket table "
    "overflow\"). Those connections lose TIME_WAIT's protection against delayed segments, "
    "as with an RST close. Each TIME_WAIT costs about 256 B of slab plus about 256 B per "
    "distinct local port.";

static void rule_buckets(struct ctx *x)
{
    const struct tw_kernel *k = x->k;
    const struct tw_doctor_sample *s = x->s;
    if (k->max_tw_buckets < 0)
        return;
    uint64_t ov = tw_doctor_delta(s, TW_C_TW_OVERFLOW);
    long tw = s->tw1 >= 0 ? s->tw1 : k->sock_tw;
    double pct = k->max_tw_buckets > 0 ? 100.0 * tw / k->max_tw_buckets : 100.0;
    uint64_t total = s->have_counters && s->c1.have[TW_C_TW_OVERFLOW] ? s->c1.v[TW_C_TW_OVERFLOW]
                                                                       : 0;
    struct tw_finding *f;

    if (ov > 0)
        f = add(x, "tw-buckets", TW_SEV_WARN, EXPL_BUCKETS, SRC_BUCKETS,
                "tcp_max_tw_buckets = %ld reached: %" PRIu64
                " sockets closed without TIME_WAIT in %.1f s",
                k->max_tw_buckets, ov, s->seconds);
    else if (pct >= TW_DOCTOR_BUCKETS_CLOSE && tw > 0)
        f = add(x, "tw-buckets", TW_SEV_WARN, EXPL_BUCKETS, SRC_BUCKETS,
                "TIME_WAIT at %.0f%% of tcp_max_tw_buckets = %ld", pct, k->max_tw_buckets);
    else if (total > 0)
        f = add(x, "tw-buckets", TW_SEV_INFO, EXPL_BUCKETS, SRC_BUCKETS,
                "TCPTimeWaitOverflow = %" PRIu64 " since the namespace started (none in the "
                "window)",
                total);
    else
        return;
    EVN(f, "tcp_max_tw_buckets", "%ld", k->max_tw_buckets);
    EVN(f, "sockstat_tw", "%ld", tw);
    EVN(f, "tw_pct_of_max", "%.1f", pct);
    EVN(f, "overflow_in_window", "%" PRIu64, ov);
    EVN(f, "overflow_total", "%" PRIu64, total);
    EVN(f, "window_s", "%.1f", s->seconds);
    if (f->severity < TW_SEV_WARN) {
        fix(f, "Nothing now; watch TcpExt TCPTimeWaitOverflow in /proc/net/netstat (no log "
               "line will tell you).");
        return;
    }
    long base = k->max_tw_buckets > tw ? k->max_tw_buckets : tw;
    long nv = 4096;
    while (nv < 2 * base && nv < (1L << 30))
        nv *= 2;
    uint64_t mem = (uint64_t)nv * 2 * tw_obj_bytes(k);
    char cur[32];
    snprintf(cur, sizeof(cur), "%ld", k->max_tw_buckets);
    fix(f, "sysctl -w net.ipv4.tcp_max_tw_buckets=%ld   (worst case about %" PRIu64
           " MiB of slab)",
        nv, (mem + (1 << 20) - 1) >> 20);
    fix(f, "If it was lowered to get rid of TIME_WAIT: that is what overflow does, with the "
           "same hazard as an RST close. Remove the TIME_WAIT at its source instead "
           "(keep-alive, a pool, server-side close).");
    change(f, "net.ipv4.tcp_max_tw_buckets", cur, "%ld", nv);
}

static const char SRC_FIN[] = "include/net/tcp.h TCP_TIMEWAIT_LEN, tcp_fin_time(); "
                              "net/ipv4/tcp.c tcp_close()";
static const char EXPL_FIN[] =
    "tcp_fin_timeout only bounds how long an orphaned FIN_WAIT2 socket (this side closed, "
    "the peer never did) waits for the peer's FIN. TIME_WAIT lasts TCP_TIMEWAIT_LEN = 60 "
    "s, a compile-time constant; no sysctl changes it.";

static void rule_fin_timeout(struct ctx *x)
{
    const struct tw_sysctl_entry *e = tw_sysctl_conf_find(&x->s->conf, "net.ipv4.tcp_fin_timeout");
    if (x->k->fin_timeout < 0 || x->k->fin_timeout >= 60)
        return;
    struct tw_finding *f = add(x, "fin-timeout-myth", TW_SEV_INFO, EXPL_FIN, SRC_FIN,
                               "tcp_fin_timeout = %d does not shorten TIME_WAIT (it stays "
                               "60 s)",
                               x->k->fin_timeout);
    EVN(f, "tcp_fin_timeout", "%d", x->k->fin_timeout);
    EVN(f, "timewait_len_s", "%d", 60);
    if (x->rep)
        EVN(f, "fin_wait2_orphans", "%" PRIu64, x->rep->fw2_minisocks);
    if (e)
        EVS(f, "configured_in", "%s:%u", e->file, e->line);
    fix(f, "Nothing to tune for TIME_WAIT: its length is fixed. Leave tcp_fin_timeout at "
           "its default (60) unless orphaned FIN_WAIT2 sockets pile up.");
    fix(f, "To have less TIME_WAIT: keep-alive, a pool, or let the server close first.");
}

static const char SRC_RECYCLE[] = "commit 4396e46187ca \"tcp: remove tcp_tw_recycle\" (Linux "
                                  "4.12); commit d82bae12dc38";
static const char EXPL_RECYCLE[] =
    "tcp_tw_recycle cut TIME_WAIT to about 3.5 RTO and made the passive side drop SYNs "
    "whose timestamp was older than the last one seen from that address; clients behind "
    "NAT (several hosts, one address, unrelated timestamps) saw SYNs never answered. Linux "
    "4.12 removed it. On current kernels the line does nothing except make "
    "`sysctl --system` report an error, and it misleads the next reader.";

static void rule_recycle(struct ctx *x)
{
    const struct tw_sysctl_conf *c = &x->s->conf;
    unsigned n = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct tw_sysctl_entry *e = &c->e[i];
        if (strcmp(e->key, "net.ipv4.tcp_tw_recycle"))
            continue;
        bool live = x->s->tw_recycle_exists && x->s->tw_recycle > 0;
        struct tw_finding *f =
            add(x, "tw-recycle-config", live ? TW_SEV_CRIT : TW_SEV_WARN, EXPL_RECYCLE,
                SRC_RECYCLE, "%s:%u sets net.ipv4.tcp_tw_recycle, removed in Linux 4.12",
                e->file, e->line);
        EVS(f, "file", "%s", e->file);
        EVN(f, "line", "%u", e->line);
        EVS(f, "value", "%s", e->value);
        EVS(f, "kernel_has_it", "%s", x->s->tw_recycle_exists ? "yes" : "no");
        fix(f, "Delete line %u of %s.", e->line, e->file);
        if (live)
            fix(f, "This kernel still has it and it is on: sysctl -w "
                   "net.ipv4.tcp_tw_recycle=0");
        if (++n >= 8)
            break;
    }
}

static const char SRC_RANGE[] = "Documentation/networking/ip-sysctl.rst ip_local_port_range; "
                                "net/ipv4/inet_hashtables.c __inet_hash_connect()";
static const char EXPL_NARROW[] =
    "With plain connect() and no reuse, each destination holds a port for 60 s after every "
    "connection, so R connects per second to it need R x 60 ports. The default range is "
    "32768-60999 (28232 ports); it can be widened down to 1024 if the listening ports "
    "inside it are reserved (ip_local_reserved_ports). Widening only buys headroom: reuse, "
    "keep-alive or a pool remove the cause.";

static void rule_range_narrow(struct ctx *x)
{
    const struct tw_kernel *k = x->k;
    if (!x->busiest || x->busiest->pct < TW_DOCTOR_HOT_PCT || x->busiest->reuse_applies ||
        x->rate <= 0 || x->rate * 60 <= x->eff)
        return;
    double need = ceil(x->rate * 60 * 2);
    struct tw_finding *f =
        add(x, "port-range-narrow", TW_SEV_WARN, EXPL_NARROW, SRC_RANGE,
            "ip_local_port_range %d-%d (%u usable) is too narrow for %.1f connects/s to one "
            "destination",
            k->port_lo, k->port_hi, x->eff, x->rate);
    EVN(f, "port_lo", "%d", k->port_lo);
    EVN(f, "port_hi", "%d", k->port_hi);
    EVN(f, "effective_range", "%u", x->eff);
    EVN(f, "connect_rate", "%.1f", x->rate);
    EVN(f, "ports_needed_60s", "%.0f", x->rate * 60);
    EVN(f, "busiest_pct", "%.1f", x->busiest->pct);
    long lo = 65535 - (long)need + 1;
    if (lo > k->port_lo)
        lo = k->port_lo;
    if (lo < 1024)
        lo = 1024;
    lo &= ~1L; /* even low end, odd high end: no port lost to parity */
    if ((double)(65535 - lo + 1) >= x->rate * 60 && (lo < k->port_lo || k->port_hi < 65535)) {
        fix(f, "sysctl -w net.ipv4.ip_local_port_range=\"%ld 65535\"   (then reserve "
               "listening ports inside it with ip_local_reserved_ports)",
            lo);
        char cur[32];
        snprintf(cur, sizeof(cur), "%d %d", k->port_lo, k->port_hi);
        change(f, "net.ipv4.ip_local_port_range", cur, "%ld 65535", lo);
    } else {
        fix(f, "No port range covers this rate without reuse: enable tcp_tw_reuse, or use "
               "keep-alive / a pool, or more source addresses.");
    }
    fix(f, "Keep-alive or a pool remove the cause.");
}

static const char SRC_PARITY[] = "commit 07f4c90062f8; net/ipv4/inet_hashtables.c "
                                 "__inet_hash_connect() (remaining &= ~1U)";
static const char EXPL_PARITY[] =
    "connect() scans an even number of ports (remaining &= ~1), in steps of 2, first the "
    "parity of the low end, then the other; with both ends of the same parity each scan "
    "skips one port of the range (which one depends on where the scan starts), so near "
    "exhaustion connect() can fail while a port is free. The kernel logs "
    "\"ip_local_port_range: prefer different parity for start/end values.\" when such a "
    "range is written.";

static void rule_range_parity(struct ctx *x)
{
    const struct tw_kernel *k = x->k;
    if (k->port_lo < 0 || k->port_hi < 0 || k->port_lo >= k->port_hi ||
        (k->port_lo & 1) != (k->port_hi & 1))
        return;
    struct tw_finding *f = add(x, "port-range-parity", TW_SEV_INFO, EXPL_PARITY, SRC_PARITY,
                               "ip_local_port_range %d-%d: same-parity ends, each connect() "
                               "scan skips one port",
                               k->port_lo, k->port_hi);
    EVN(f, "port_lo", "%d", k->port_lo);
    EVN(f, "port_hi", "%d", k->port_hi);
    EVN(f, "ports_lost", "%d", 1);
    int lo = k->port_lo, hi = k->port_hi;
    if (hi < 65535)
        hi++;
    else
        lo--;
    char cur[32];
    snprintf(cur, sizeof(cur), "%d %d", k->port_lo, k->port_hi);
    fix(f, "sysctl -w net.ipv4.ip_local_port_range=\"%d %d\"", lo, hi);
    change(f, "net.ipv4.ip_local_port_range", cur, "%d %d", lo, hi);
}

static const char SRC_LISTEN[] = "net/ipv4/inet_hashtables.c __inet_hash_connect() (skips "
                                 "buckets with fastreuse >= 0); ip-sysctl.rst "
                                 "ip_local_reserved_ports";
static const char EXPL_LISTEN[] =
    "connect() skips every port held by a listener (or by any explicit bind()), so each "
    "listening port inside the ephemeral range takes one port from every destination's "
    "range, and a service started later may find its port taken by an outgoing "
    "connection. Reserve those ports or move them out of the range.";

static void rule_range_listeners(struct ctx *x)
{
    const struct tw_report *rep = x->rep;
    if (!rep || !rep->range_listeners)
        return;
    bool many = rep->range_size && rep->range_listeners * 10 >= rep->range_size;
    struct tw_finding *f =
        add(x, "port-range-listeners", many ? TW_SEV_WARN : TW_SEV_INFO, EXPL_LISTEN,
            SRC_LISTEN, "%u listening port(s) inside ip_local_port_range %d-%d",
            rep->range_listeners, x->k->port_lo, x->k->port_hi);
    EVN(f, "listeners_in_range", "%u", rep->range_listeners);
    EVN(f, "range_size", "%u", rep->range_size);
    EVN(f, "effective_range", "%u", rep->effective_range);
    fix(f, "List them: ss -Hltn '( sport >= :%d and sport <= :%d )'", x->k->port_lo,
        x->k->port_hi);
    fix(f, "Reserve them: sysctl -w net.ipv4.ip_local_reserved_ports=PORT[,PORT...] (or move "
           "the services below %d).",
        x->k->port_lo);
}

static const char SRC_RESERVED[] = "net/ipv4/inet_hashtables.c inet_is_local_reserved_port(); "
                                   "ip-sysctl.rst ip_local_reserved_ports";
static const char EXPL_RESERVED[] =
    "Ports in ip_local_reserved_ports are skipped by connect() and bind(0) autoselection "
    "(an explicit bind() still gets them), so they shrink every destination's effective "
    "range.";

static void rule_range_reserved(struct ctx *x)
{
    const struct tw_kernel *k = x->k;
    if (!k->n_reserved || k->port_hi < k->port_lo)
        return;
    unsigned size = (unsigned)(k->port_hi - k->port_lo + 1);
    bool many = k->n_reserved * 2 >= size;
    struct tw_finding *f =
        add(x, "port-range-reserved", many ? TW_SEV_WARN : TW_SEV_INFO, EXPL_RESERVED,
            SRC_RESERVED, "%u of the %u ports of ip_local_port_range are reserved",
            k->n_reserved, size);
    EVN(f, "reserved_in_range", "%u", k->n_reserved);
    EVN(f, "range_size", "%u", size);
    if (x->rep)
        EVN(f, "effective_range", "%u", x->rep->effective_range);
    fix(f, "%s", many ? "Check that every reserved port is really needed: sysctl "
                        "net.ipv4.ip_local_reserved_ports"
                      : "Nothing needed if these ports belong to services.");
}

static const char SRC_SERVER[] = "net/ipv4/tcp_minisocks.c tcp_timewait_state_process(); "
                                 "net/core/sock.c (tw_sock_TCP slab); RFC 6191";
static const char EXPL_SERVER[] =
    "A server-side TIME_WAIT (this host closed first on its listening port) never holds an "
    "ephemeral port, so it cannot exhaust ports; it costs one slab object (about 256 B; "
    "the listening port's bind bucket is shared). A client reconnecting from the same port "
    "is accepted when its SYN is newer (RFC 6191 / RFC 1122 rules). tcp_tw_reuse does not "
    "apply to accept().";

static void rule_server_tw(struct ctx *x)
{
    const struct tw_report *rep = x->rep;
    if (!rep || rep->tw_server < TW_DOCTOR_SERVER_TW_MIN || rep->tw_server < rep->tw_client)
        return;
    uint64_t mem = rep->tw_server * tw_obj_bytes(x->k);
    struct tw_finding *f =
        add(x, "server-tw", TW_SEV_INFO, EXPL_SERVER, SRC_SERVER,
            "%" PRIu64 " of %" PRIu64 " TIME_WAIT are server-side: memory only, about %" PRIu64
            " KiB",
            rep->tw_server, rep->tw_total, (mem + 1023) / 1024);
    EVN(f, "tw_server", "%" PRIu64, rep->tw_server);
    EVN(f, "tw_client", "%" PRIu64, rep->tw_client);
    EVN(f, "tw_total", "%" PRIu64, rep->tw_total);
    EVN(f, "bytes_per_tw", "%" PRIu64, tw_obj_bytes(x->k));
    EVN(f, "memory_bytes", "%" PRIu64, mem);
    fix(f, "Nothing required. To have fewer: HTTP keep-alive, or let clients close first "
           "where the protocol allows.");
    fix(f, "Do not lower tcp_max_tw_buckets for this: overflow only drops TIME_WAIT's "
           "protection.");
}

static const char SRC_RST[] = "net/ipv4/tcp.c tcp_close(), tcp_disconnect(); RFC 9293 (ABORT)";
static const char EXPL_RST[] =
    "close() with SO_LINGER {1, 0} sends an RST instead of a FIN: no TIME_WAIT, but unsent "
    "and unacknowledged data is thrown away, the peer gets ECONNRESET, the 4-tuple can be "
    "reused at once with no protection against delayed segments, and if the RST is lost "
    "the peer keeps a half-open connection. TCPAbortOnData counts these closes (and data "
    "arriving after close()); EstabResets counts established connections reset.";

static void rule_rst_close(struct ctx *x)
{
    uint64_t a = tw_doctor_delta(x->s, TW_C_ABORT_ON_DATA);
    uint64_t e = tw_doctor_delta(x->s, TW_C_ESTAB_RESETS);
    if (!a || !e)
        return;
    struct tw_finding *f =
        add(x, "rst-close", TW_SEV_WARN, EXPL_RST, SRC_RST,
            "RST closes in use: %" PRIu64 " TCPAbortOnData, %" PRIu64 " EstabResets in %.1f s",
            a, e, x->s->seconds);
    EVN(f, "abort_on_data", "%" PRIu64, a);
    EVN(f, "estab_resets", "%" PRIu64, e);
    EVN(f, "out_rsts", "%" PRIu64, tw_doctor_delta(x->s, TW_C_OUT_RSTS));
    EVN(f, "abort_on_data_per_s", "%.1f", a / x->s->seconds);
    EVN(f, "window_s", "%.1f", x->s->seconds);
    fix(f, "Find the program that sets SO_LINGER {1, 0} (ss -tanpi while it runs; strace -e "
           "setsockopt) and let it close normally.");
    fix(f, "Avoid TIME_WAIT by reusing connections (keep-alive, a pool) or by letting the "
           "server close first, not by resetting them.");
}

static const char SRC_1337[] = "RFC 1337; net/ipv4/tcp_minisocks.c "
                               "tcp_timewait_state_process()";
static const char EXPL_1337[] =
    "With tcp_rfc1337 = 0 (the default) an in-window RST kills a TIME_WAIT at once "
    "(TIME-WAIT assassination, RFC 1337 hazards H1-H3), and the 4-tuple loses its "
    "protection against delayed segments. With 1 such RSTs are ignored and TIME_WAIT runs "
    "its 60 s. (ip-sysctl.rst's wording suggests the opposite; the code is as stated.)";

static void rule_rfc1337(struct ctx *x)
{
    const struct tw_doctor_sample *s = x->s;
    if (x->k->rfc1337 != 0 || !s->tw_vanished)
        return;
    struct tw_finding *f =
        add(x, "rfc1337", TW_SEV_WARN, EXPL_1337, SRC_1337,
            "%" PRIu64 " TIME_WAIT killed early by RSTs in %.1f s (tcp_rfc1337 = 0)",
            s->tw_vanished, s->seconds);
    EVN(f, "tcp_rfc1337", "%d", x->k->rfc1337);
    EVN(f, "tw_killed_early", "%" PRIu64, s->tw_vanished);
    EVN(f, "tw_followed", "%" PRIu64, s->tw_tracked);
    EVN(f, "tw_recycled", "%" PRIu64, tw_doctor_delta(s, TW_C_TW_RECYCLED));
    EVN(f, "window_s", "%.1f", s->seconds);
    fix(f, "sysctl -w net.ipv4.tcp_rfc1337=1   (TIME_WAIT then ignores RSTs)");
    fix(f, "Find what sends them: a peer that answers ACKs with RST (no socket left, a "
           "firewall, a load balancer).");
    change(f, "net.ipv4.tcp_rfc1337", "0", "1");
}

static const char SRC_CONF[] = "sysctl.d(5); net/ipv4/sysctl_net_ipv4.c (accepted ranges)";
static const char EXPL_CONF[] =
    "`sysctl --system` and systemd-sysctl skip a line they cannot parse and a value the "
    "kernel rejects, with one log line at boot; the setting then silently keeps its "
    "default.";

static void rule_conf(struct ctx *x)
{
    const struct tw_sysctl_conf *c = &x->s->conf;
    unsigned n = 0;
    for (size_t i = 0; i < c->n_problems && n < 8; i++, n++) {
        const struct tw_sysctl_problem *p = &c->p[i];
        struct tw_finding *f;
        if (p->line)
            f = add(x, "sysctl-conf", TW_SEV_WARN, EXPL_CONF, SRC_CONF, "%s:%u: %s", p->file,
                    p->line, p->msg);
        else
            f = add(x, "sysctl-conf", TW_SEV_WARN, EXPL_CONF, SRC_CONF,
                    "%s: %s (doctor cannot check what it configures)", p->file, p->msg);
        EVS(f, "file", "%s", p->file);
        EVN(f, "line", "%u", p->line);
        EVS(f, "problem", "%s", p->msg);
        if (p->line)
            fix(f, "Fix or delete line %u of %s.", p->line, p->file);
        else
            fix(f, "Make %s readable (run doctor as root?).", p->file);
    }
    for (size_t i = 0; i < c->n && n < 8; i++) {
        const struct tw_sysctl_entry *e = &c->e[i];
        const struct managed *m = find_managed(e->key, true);
        if (!m || value_ok(m, e->value))
            continue;
        n++;
        struct tw_finding *f =
            add(x, "sysctl-conf", TW_SEV_WARN, EXPL_CONF, SRC_CONF,
                "%s:%u: %s = %s is out of range; the kernel rejects it", e->file, e->line,
                e->key, e->value);
        EVS(f, "file", "%s", e->file);
        EVN(f, "line", "%u", e->line);
        EVS(f, "key", "%s", e->key);
        EVS(f, "value", "%s", e->value);
        if (m->nums == 2)
            EVS(f, "accepted", "two numbers %ld-%ld, low <= high", m->lo, m->hi);
        else
            EVS(f, "accepted", "%ld-%ld", m->lo, m->hi);
        fix(f, "Fix or delete line %u of %s.", e->line, e->file);
    }
}

/* ---- the table ------------------------------------------------------------- */

struct rule {
    const char *id;
    const char *title;
    void (*check)(struct ctx *x);
};

static const struct rule rules[] = {
    {"port-pressure", "destinations near ephemeral-port exhaustion, time to exhaustion",
     rule_port_pressure},
    {"tw-reuse-off", "tcp_tw_reuse = 0", rule_reuse_off},
    {"tw-reuse-loopback-only", "tcp_tw_reuse = 2 with pressure on non-loopback destinations",
     rule_reuse_loopback},
    {"timestamps-off", "tcp_timestamps = 0: reuse cannot work", rule_timestamps},
    {"tw-reuse-delay", "tcp_tw_reuse_delay (6.14+) and the rate it caps", rule_reuse_delay},
    {"tw-buckets", "tcp_max_tw_buckets reached (TCPTimeWaitOverflow) or close", rule_buckets},
    {"fin-timeout-myth", "tcp_fin_timeout lowered to shorten TIME_WAIT (it cannot)",
     rule_fin_timeout},
    {"tw-recycle-config", "tcp_tw_recycle in a sysctl file (removed in 4.12)", rule_recycle},
    {"port-range-narrow", "ip_local_port_range too narrow for the connect rate",
     rule_range_narrow},
    {"port-range-parity", "ip_local_port_range ends of the same parity", rule_range_parity},
    {"port-range-listeners", "listening ports inside the ephemeral range",
     rule_range_listeners},
    {"port-range-reserved", "ip_local_reserved_ports inside the range", rule_range_reserved},
    {"server-tw", "server-side TIME_WAIT dominating (memory only)", rule_server_tw},
    {"rst-close", "RST closes (SO_LINGER 0): TCPAbortOnData with EstabResets rising",
     rule_rst_close},
    {"rfc1337", "tcp_rfc1337 = 0 with RSTs killing TIME_WAIT", rule_rfc1337},
    {"sysctl-conf", "unreadable or malformed sysctl files, out-of-range values", rule_conf},
};

#define N_RULES (sizeof(rules) / sizeof(rules[0]))

const struct tw_doctor_rule *tw_doctor_rules(size_t *n)
{
    static struct tw_doctor_rule pub[N_RULES];
    /* filled on every call: plain stores of the same constants, race-free in practice */
    for (size_t i = 0; i < N_RULES; i++) {
        pub[i].id = rules[i].id;
        pub[i].title = rules[i].title;
    }
    if (n)
        *n = N_RULES;
    return pub;
}

/* ---- running ---------------------------------------------------------------- */

static void derive(struct ctx *x)
{
    const struct tw_report *rep = x->rep;
    x->rate = tw_doctor_connect_rate(x->s);
    if (!rep)
        return;
    x->eff = rep->effective_range;
    for (size_t i = 0; i < rep->n_pressure; i++) {
        const struct tw_pressure *p = &rep->pressure[i];
        if (!x->busiest || p->pct > x->busiest->pct)
            x->busiest = p;
        if (p->pct < TW_DOCTOR_HOT_PCT)
            continue;
        x->hot++;
        if (!p->loopback)
            x->hot_nonloop++;
        if (p->reuse_applies)
            x->hot_reuse++;
    }
}

static void merge_changes(struct tw_doctor_result *r, int *err)
{
    for (size_t i = 0; i < r->n && !*err; i++) {
        const struct tw_finding *f = &r->f[i];
        if (!f->has_change)
            continue;
        size_t j;
        for (j = 0; j < r->n_changes; j++)
            if (!strcmp(r->changes[j].key, f->change.key))
                break;
        if (j < r->n_changes) {
            if (f->change.severity > r->changes[j].severity)
                r->changes[j] = f->change;
            continue;
        }
        void *p = realloc(r->changes, (r->n_changes + 1) * sizeof(*r->changes));
        if (!p) {
            *err = -ENOMEM;
            return;
        }
        r->changes = p;
        r->changes[r->n_changes++] = f->change;
    }
}

int tw_doctor_run(const struct tw_doctor_sample *s, struct tw_doctor_result **out)
{
    struct tw_doctor_result *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->passed = calloc(N_RULES, sizeof(*r->passed));
    if (!r->passed) {
        free(r);
        return -ENOMEM;
    }
    struct ctx x = {.s = s, .k = &s->k, .rep = s->report, .r = r};
    derive(&x);
    for (size_t i = 0; i < N_RULES && !x.err; i++) {
        size_t before = r->n;
        rules[i].check(&x);
        if (r->n == before)
            r->passed[r->n_passed++] = rules[i].id;
    }
    /* worst first; rule order kept within a severity (insertion sort: small n) */
    for (size_t i = 1; i < r->n && !x.err; i++) {
        struct tw_finding tmp = r->f[i];
        size_t j = i;
        while (j > 0 && r->f[j - 1].severity < tmp.severity) {
            r->f[j] = r->f[j - 1];
            j--;
        }
        r->f[j] = tmp;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->f[i].severity > r->worst)
            r->worst = r->f[i].severity;
    merge_changes(r, &x.err);
    if (x.err) {
        tw_doctor_result_free(r);
        return x.err;
    }
    *out = r;
    return 0;
}

void tw_doctor_result_free(struct tw_doctor_result *r)
{
    if (!r)
        return;
    free(r->f);
    free(r->passed);
    free(r->changes);
    free(r);
}
