/*
 * doctor_rules_ports.c — doctor's rules about ephemeral ports in use: port
 * pressure per destination (with the time to exhaustion from libtwkit's
 * forecast engine: doctor_forecast.c), and the host-wide pool that bind()
 * before connect() draws from.
 *
 * Reuse twkit cannot verify is never relief.  sock_diag and /proc do not
 * show whether the peer sent TCP timestamps (tw_ts_recent_stamp), without
 * which tcp_tw_reuse reclaims nothing; so the pressure and the sustainable
 * rate are computed without such TIME_WAIT, and what reuse might give is
 * printed beside them as a bound ("up to N if the peer sent timestamps").
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "doctor_int.h"

/* ---- port pressure -------------------------------------------------------- */

static const char SRC_PRESSURE[] =
    "net/ipv4/inet_hashtables.c __inet_hash_connect(), __inet_check_established(); "
    "net/ipv4/tcp_ipv4.c tcp_twsk_unique(); include/net/tcp.h TCP_TIMEWAIT_LEN; RFC 6056";
static const char EXPL_PRESSURE[] =
    "Ephemeral ports run out per destination (source IP, destination IP, destination "
    "port), not per host: connect() shares a local port between destinations as long "
    "as the 4-tuple is unique (unless the program binds before connecting: see "
    "bind-before-connect). A client-side TIME_WAIT holds its 4-tuple for 60 s "
    "(TCP_TIMEWAIT_LEN, a constant), so one destination sustains about effective "
    "range / 60 new connections per second unless tcp_tw_reuse reclaims TIME_WAIT, which "
    "it does only for a TIME_WAIT whose peer sent TCP timestamps. When the range is full "
    "connect() fails with EADDRNOTAVAIL, and it slows down (scanning the range) before it "
    "fails.";

/* The forecast's horizon, in words (TW_FORECAST_HORIZON_S is 600). */
#define HORIZON "10 min"
_Static_assert(TW_FORECAST_HORIZON_S == 600, "HORIZON says 10 min");

/* Why a destination does not run out at the measured rate. */
static const char *kept_by(const struct tw__dctx *x, const struct tw_forecast *f)
{
    if (x->rate <= 0)
        return "no_connects";
    if (f->fc.capped)
        return "tcp_max_tw_buckets";
    if (f->fc.limit == TW_FC_LIMIT_REUSE_DELAY)
        return "tcp_tw_reuse";
    return "time_wait_expiry";
}

/* Evidence of a forecast result: seconds (number) or a word. */
static void ev_tte(struct tw_finding *f, const char *key, const struct tw_fc_result *r)
{
    if (r->state == TW_FC_AT || r->state == TW_FC_NOW)
        EVN(f, key, "%.1f", r->state == TW_FC_NOW ? 0.0 : r->seconds);
    else if (r->state == TW_FC_NEVER)
        EVS(f, key, "%s", "never");
    else
        EVS(f, key, "beyond %d s", TW_FORECAST_HORIZON_S);
}

/* The FIX step that says when (and why) the destination runs out. */
static void fix_forecast(struct tw__dctx *x, struct tw_finding *f, const struct tw_pressure *p,
                         const struct tw_forecast *fc)
{
    char w[48];
    const double sus = fc->fc.sustainable_per_s;
    static const char share[] =
        "(ActiveOpens is host-wide: an upper bound on this destination's share)";
    switch (fc->fc.state) {
    case TW_FC_NOW:
        FIX(f, "No usable port now: connect() to it fails with EADDRNOTAVAIL until a "
               "TIME_WAIT expires.");
        return;
    case TW_FC_AT:
        FIX(f,
            "At the host's current %.1f connects/s %s its ports run out %s: "
            "the range sustains %.1f connects/s (each port held %s after close).",
            x->rate, share, tw__doctor_fc_words(&fc->fc, w, sizeof(w)), sus,
            fc->fc.limit == TW_FC_LIMIT_REUSE_DELAY ? "tcp_tw_reuse_delay" : "60 s");
        return;
    case TW_FC_NEVER:
    case TW_FC_BEYOND:
        break;
    }
    const char *when = fc->fc.state == TW_FC_NEVER ? "never runs out"
                                                   : "does not run out within the "
                                                     "forecast's " HORIZON;
    if (fc->fc.capped) {
        struct tw_forecast nocap;
        tw__doctor_forecast(x, p, false, &nocap);
        FIX(f,
            "At the host's current %.1f connects/s it %s, but only because "
            "tcp_max_tw_buckets = %ld keeps the namespace's TIME_WAIT at or below that, "
            "under this destination's %u ports: connections that close beyond the cap get no TIME_WAIT (TcpExt "
            "TCPTimeWaitOverflow) and free their port at once, without TIME_WAIT's "
            "protection against delayed segments. Without the cap it would run out %s "
            "(the range sustains %.1f connects/s).",
            x->rate, when, x->k->max_tw_buckets, x->rep->effective_range,
            tw__doctor_fc_words(&nocap.fc, w, sizeof(w)), sus);
    } else if (fc->fc.state == TW_FC_BEYOND) {
        FIX(f,
            "At the host's current %.1f connects/s it %s, but that rate is above the %.1f "
            "connects/s the range sustains: it runs out later if the rate holds.",
            x->rate, when, sus);
    } else if (fc->fc.limit == TW_FC_LIMIT_REUSE_DELAY) {
        FIX(f,
            "At the host's current %.1f connects/s it %s: tcp_tw_reuse takes each TIME_WAIT "
            "over once it is %.0f ms old (verified: the peer sent timestamps), so the range "
            "sustains %.1f connects/s.",
            x->rate, when, tw__doctor_reuse_delay_s(x->k) * 1000, sus);
    } else {
        FIX(f,
            "At the host's current %.1f connects/s it %s: its TIME_WAIT expire as fast as "
            "they are made (the range sustains %.1f connects/s).",
            x->rate, when, sus);
    }
}

void tw__rule_port_pressure(struct tw__dctx *x)
{
    const struct tw_report *rep = x->rep;
    unsigned shown = 0;

    if (!rep)
        return;
    for (size_t i = 0; i < rep->n_pressure && shown < 5; i++) {
        const struct tw_pressure *p = &rep->pressure[i];
        if (p->pct < TW_DOCTOR_WARN_PCT)
            continue;
        char d[160], peer[64], w[48], wb[48];
        struct tw_forecast fc;
        tw__doctor_forecast(x, p, true, &fc);
        uint32_t eff = rep->effective_range;
        uint64_t used = p->in_use > p->reclaimable ? p->in_use - p->reclaimable : 0;
        uint64_t free_ports = eff > used ? eff - used : 0;
        uint64_t bound = p->reclaimable_max > p->reclaimable ? p->reclaimable_max : 0;
        /* crit when the engine says the ports run out soon at the measured rate;
         * without a rate there is no forecast, and a nearly full range is crit */
        bool soon = fc.fc.state == TW_FC_NOW || (fc.fc.state == TW_FC_AT && fc.fc.seconds < 60);
        enum tw_severity sev = TW_SEV_WARN;
        if (soon || (x->rate <= 0 && p->pct >= TW_DOCTOR_CRIT_PCT))
            sev = TW_SEV_CRIT;
        tw__doctor_dest_str(p, d, sizeof(d));
        char tail[128] = "";
        if (fc.fc.state == TW_FC_NOW)
            snprintf(tail, sizeof(tail), "; no usable port now");
        else if (x->rate > 0 && fc.fc.state == TW_FC_AT)
            snprintf(tail, sizeof(tail), "; they run out %s at %.1f connects/s%s",
                     tw__doctor_fc_words(&fc.fc, w, sizeof(w)), x->rate,
                     !fc.bounded || fc.bound.state == TW_FC_AT ? ""
                     : " (never, if the peer sent timestamps: a bound)");
        else if (x->rate > 0)
            snprintf(tail, sizeof(tail), "; %s at %.1f connects/s (%s)",
                     fc.fc.state == TW_FC_NEVER ? "they never run out" : "not out within " HORIZON,
                     x->rate,
                     fc.fc.capped ? "tcp_max_tw_buckets caps TIME_WAIT"
                     : fc.fc.limit == TW_FC_LIMIT_REUSE_DELAY ? "tcp_tw_reuse frees them"
                                                             : "TIME_WAIT expire in time");
        struct tw_finding *f;
        if (bound)
            f = ADD(x, "port-pressure", sev, EXPL_PRESSURE, SRC_PRESSURE,
                    "%s uses %.0f%% of its %u ephemeral ports (up to %" PRIu64
                    " of its TIME_WAIT reusable if the peer sent timestamps: then %.0f%%)%s",
                    d, p->pct, eff, bound, p->pct_min, tail);
        else
            f = ADD(x, "port-pressure", sev, EXPL_PRESSURE, SRC_PRESSURE,
                    "%s uses %.0f%% of its %u ephemeral ports%s", d, p->pct, eff, tail);
        EVS(f, "destination", "%s", d);
        EVN(f, "pressure_pct", "%.1f", p->pct);
        EVN(f, "pressure_pct_min", "%.1f", p->pct_min);
        EVN(f, "in_use", "%" PRIu64, p->in_use);
        EVN(f, "time_wait", "%" PRIu64, p->time_wait);
        EVN(f, "established", "%" PRIu64, p->established);
        EVN(f, "reclaimable", "%" PRIu64, p->reclaimable);
        EVN(f, "reclaimable_max", "%" PRIu64, p->reclaimable_max);
        EVN(f, "effective_range", "%u", eff);
        EVN(f, "free_ports", "%" PRIu64, free_ports);
        EVN(f, "connect_rate", "%.1f", x->rate);
        if (x->rate > 0 || fc.fc.state == TW_FC_NOW) {
            EVS(f, "forecast", "%s", tw_fc_state_name(fc.fc.state));
            ev_tte(f, "time_to_exhaustion_s", &fc.fc);
            if (fc.fc.state == TW_FC_NEVER || fc.fc.state == TW_FC_BEYOND)
                EVS(f, "kept_by", "%s", kept_by(x, &fc));
            if (fc.bounded)
                ev_tte(f, "time_to_exhaustion_bound_s", &fc.bound);
        } else {
            EVS(f, "time_to_exhaustion_s", "%s", "n/a (no connect in the window)");
        }
        EVN(f, "sustainable_rate", "%.1f", fc.fc.sustainable_per_s);
        EVN(f, "sustainable_rate_max", "%.1f", fc.bound.sustainable_per_s);
        if (fc.fc.capped) {
            EVN(f, "tcp_max_tw_buckets", "%ld", x->k->max_tw_buckets);
            EVN(f, "enter_tw_rate", "%.1f", x->enter_rate);
        }
        EVS(f, "reuse_applies", "%s", p->reuse_applies ? "yes" : "no");
        if (x->rate > 0 || fc.fc.state == TW_FC_NOW)
            fix_forecast(x, f, p, &fc);
        char then[96] = "";
        if (x->rate > 0 && fc.bounded)
            snprintf(then, sizeof(then),
                     "; they would then run out %s at the latest (a bound, not the forecast)",
                     fc.bound.state == TW_FC_NEVER
                         ? "never"
                         : tw__doctor_fc_words(&fc.bound, wb, sizeof(wb)));
        if (bound)
            FIX(f,
                "tcp_tw_reuse = %d applies here, but connect() takes over a TIME_WAIT only "
                "if the peer sent TCP timestamps on that connection, which sock_diag does "
                "not show: up to %" PRIu64 " of the %" PRIu64
                " TIME_WAIT may be reusable, and the range then sustains up to %.1f "
                "connects/s instead of %.1f%s. See whether the peer sends them, while "
                "connections to it are made: tshark -ni any -c 1 -f 'src host %s and src "
                "port %u' -T fields -e tcp.options.timestamp.tsval prints a number when it "
                "does, an empty line when it does not.",
                x->k->tw_reuse, bound, p->time_wait, fc.bound.sustainable_per_s,
                fc.fc.sustainable_per_s, then, tw_addr_str(&p->raddr, peer, sizeof(peer)),
                p->rport);
        FIX(f, "Reuse connections: HTTP keep-alive or a connection pool (tw_pool in "
               "libtwkit); this removes the TIME_WAIT at its source.");
        FIX(f, "Where the protocol allows, let the server close first: its TIME_WAIT costs "
               "memory only.");
        FIX(f, "Spread the load over more destination ports or source addresses: each "
               "(source, destination, port) has its own range.");
        FIX(f, "If the program calls bind() before connect(), set IP_BIND_ADDRESS_NO_PORT "
               "on the socket first, so the port is chosen per destination.");
        if (!p->reuse_applies)
            FIX(f, "Kernel side: let tcp_tw_reuse reclaim TIME_WAIT (see the tw-reuse "
                   "findings).");
        shown++;
    }
}

/* ---- bind() before connect() -------------------------------------------- */

static const char SRC_BIND[] =
    "net/ipv4/inet_connection_sock.c inet_csk_find_open_port(), inet_csk_bind_conflict(); "
    "net/ipv4/inet_hashtables.c __inet_hash_connect(); ip(7) IP_BIND_ADDRESS_NO_PORT (since "
    "Linux 4.2, commit 90c337da1524)";
static const char EXPL_BIND[] =
    "bind() to port 0 chooses the local port before the destination is known, so it must "
    "take a port that no socket of any destination holds, a TIME_WAIT included: the whole "
    "ephemeral range becomes one pool for the host, and bind() fails with EADDRINUSE once "
    "it is used up, while each destination alone looks only partly full (connect() alone "
    "would share every port between destinations). With IP_BIND_ADDRESS_NO_PORT set before "
    "bind(), the source address is bound and the port is chosen at connect() time, per "
    "destination, as without bind().";

void tw__rule_bind_connect(struct tw__dctx *x)
{
    const struct tw_report *rep = x->rep;
    if (!rep || x->n_dest < 2 || rep->host_pct < TW_DOCTOR_WARN_PCT || !x->busiest ||
        rep->host_pct <= x->busiest->pct)
        return;
    /* connect() scans every destination's range from the same parity first, so
     * busy destinations share ports; bind(0) never gives a port twice */
    bool unshared = x->shared * 100 <= x->sum_in_use;
    if (!unshared && rep->host_pct < TW_DOCTOR_CRIT_PCT)
        return; /* plain connect() at work: only a nearly empty pool is worth a note */
    struct tw_finding *f;
    if (unshared)
        f = ADD(x, "bind-before-connect",
                rep->host_pct >= TW_DOCTOR_CRIT_PCT ? TW_SEV_CRIT : TW_SEV_WARN, EXPL_BIND,
                SRC_BIND,
                "%u destinations share none of their %" PRIu64
                " local ports: bind() before connect() draws them from one host-wide pool, "
                "%.0f%% used (the busiest destination alone shows %.0f%%)",
                x->n_dest, rep->host_ports_in_use, rep->host_pct, x->busiest->pct);
    else
        f = ADD(x, "bind-before-connect", TW_SEV_INFO, EXPL_BIND, SRC_BIND,
                "%.0f%% of the ephemeral range is held host-wide: a program that binds "
                "before connecting would find %" PRIu64 " free ports",
                rep->host_pct,
                rep->effective_range > rep->host_ports_in_use
                    ? rep->effective_range - rep->host_ports_in_use
                    : 0);
    EVN(f, "host_ports_in_use", "%" PRIu64, rep->host_ports_in_use);
    EVN(f, "host_pct", "%.1f", rep->host_pct);
    EVN(f, "effective_range", "%u", rep->effective_range);
    EVN(f, "destinations", "%u", x->n_dest);
    EVN(f, "sum_in_use", "%" PRIu64, x->sum_in_use);
    EVN(f, "shared_ports", "%" PRIu64, x->shared);
    EVN(f, "busiest_pct", "%.1f", x->busiest->pct);
    FIX(f, "Set IP_BIND_ADDRESS_NO_PORT before bind(): setsockopt(fd, IPPROTO_IP, "
           "IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)). The port is then chosen at "
           "connect(), per destination, and shared between destinations.");
    FIX(f, "Or do not bind() at all when the source address does not matter.");
    FIX(f, "Until then bind() fails with EADDRINUSE (not EADDRNOTAVAIL) when the pool is "
           "empty. twkit lab bind-no-port shows both on the same load.");
}
