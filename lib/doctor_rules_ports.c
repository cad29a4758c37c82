/*
 * doctor_rules_ports.c — doctor's rules about ephemeral ports in use: port
 * pressure per destination (with the time to exhaustion), and the host-wide
 * pool that bind() before connect() draws from.
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

/*
 * The forecast for one destination: how many ports are free, how fast the
 * range lets it connect, and when it runs out at the measured rate.  It is
 * the only place doctor forecasts, so that a rate-and-forecast engine in
 * libtwkit (tcp_max_tw_buckets, reuse capacity) can replace it whole.
 */
struct forecast {
    uint64_t free_ports; /* effective range - (in use - verified reclaimable) */
    double sustain;      /* connects/s the range sustains with what is verified */
    double sustain_max;  /* the same if every unverified TIME_WAIT were reusable (a bound) */
    double tte;          /* seconds to exhaustion at the host's connect rate; < 0: no rate */
};

static struct forecast forecast(const struct tw__dctx *x, const struct tw_pressure *p)
{
    struct forecast fc;
    uint32_t eff = x->rep->effective_range;
    uint64_t used = p->in_use > p->reclaimable ? p->in_use - p->reclaimable : 0;
    double delay = tw__doctor_reuse_delay_s(x->k);
    fc.free_ports = eff > used ? eff - used : 0;
    fc.sustain = eff / (tw__doctor_reuse_verified(x, p) ? delay : 60.0);
    fc.sustain_max = eff / (p->reuse_applies ? delay : 60.0);
    fc.tte = x->rate > 0 ? fc.free_ports / x->rate : -1;
    return fc;
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
        char d[160], peer[64];
        struct forecast fc = forecast(x, p);
        uint64_t bound = p->reclaimable_max > p->reclaimable ? p->reclaimable_max : 0;
        enum tw_severity sev = TW_SEV_WARN;
        if (p->pct >= TW_DOCTOR_CRIT_PCT ||
            (fc.tte >= 0 && fc.tte < 60 && x->rate > fc.sustain))
            sev = TW_SEV_CRIT;
        tw__doctor_dest_str(p, d, sizeof(d));
        struct tw_finding *f;
        if (bound)
            f = ADD(x, "port-pressure", sev, EXPL_PRESSURE, SRC_PRESSURE,
                    "%s uses %.0f%% of its %u ephemeral ports (up to %" PRIu64
                    " of its TIME_WAIT reusable if the peer sent timestamps: then %.0f%%)",
                    d, p->pct, rep->effective_range, bound, p->pct_min);
        else
            f = ADD(x, "port-pressure", sev, EXPL_PRESSURE, SRC_PRESSURE,
                    "%s uses %.0f%% of its %u ephemeral ports", d, p->pct,
                    rep->effective_range);
        EVS(f, "destination", "%s", d);
        EVN(f, "pressure_pct", "%.1f", p->pct);
        EVN(f, "pressure_pct_min", "%.1f", p->pct_min);
        EVN(f, "in_use", "%" PRIu64, p->in_use);
        EVN(f, "time_wait", "%" PRIu64, p->time_wait);
        EVN(f, "established", "%" PRIu64, p->established);
        EVN(f, "reclaimable", "%" PRIu64, p->reclaimable);
        EVN(f, "reclaimable_max", "%" PRIu64, p->reclaimable_max);
        EVN(f, "effective_range", "%u", rep->effective_range);
        EVN(f, "free_ports", "%" PRIu64, fc.free_ports);
        EVN(f, "connect_rate", "%.1f", x->rate);
        if (fc.tte >= 0)
            EVN(f, "time_to_exhaustion_s", "%.1f", fc.tte);
        else
            EVS(f, "time_to_exhaustion_s", "%s", "n/a (no connect in the window)");
        EVN(f, "sustainable_rate", "%.1f", fc.sustain);
        EVN(f, "sustainable_rate_max", "%.1f", fc.sustain_max);
        EVS(f, "reuse_applies", "%s", p->reuse_applies ? "yes" : "no");
        if (fc.tte >= 0)
            FIX(f,
                "At the host's current %.1f connects/s the %" PRIu64
                " free ports last about %.0f s (ActiveOpens is host-wide: an upper bound "
                "on this destination's share).",
                x->rate, fc.free_ports, fc.tte);
        if (bound)
            FIX(f,
                "tcp_tw_reuse = %d applies here, but connect() takes over a TIME_WAIT only "
                "if the peer sent TCP timestamps on that connection, which sock_diag does "
                "not show: up to %" PRIu64 " of the %" PRIu64
                " TIME_WAIT may be reusable, and the range then sustains up to %.1f "
                "connects/s instead of %.1f. See whether the peer sends them, while "
                "connections to it are made: tshark -ni any -c 1 -f 'src host %s and src "
                "port %u' -T fields -e tcp.options.timestamp.tsval prints a number when it "
                "does, an empty line when it does not.",
                x->k->tw_reuse, bound, p->time_wait, fc.sustain_max, fc.sustain,
                tw_addr_str(&p->raddr, peer, sizeof(peer)), p->rport);
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
