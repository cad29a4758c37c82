/*
 * doctor_rules_ports.c — doctor's rules about ephemeral ports: port pressure
 * per destination (with the time to exhaustion), and the shape of
 * ip_local_port_range (too narrow for the rate, same-parity ends, listening
 * and reserved ports inside it).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "doctor_int.h"

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
        char d[160];
        uint64_t used = p->in_use > p->reclaimable ? p->in_use - p->reclaimable : 0;
        uint64_t free_ports = rep->effective_range > used ? rep->effective_range - used : 0;
        double hold = p->reuse_applies ? tw__doctor_reuse_delay_s(x->k) : 60.0;
        double sustain = rep->effective_range / hold;
        double tte = x->rate > 0 ? free_ports / x->rate : -1;
        enum tw_severity sev = TW_SEV_WARN;
        if (p->pct >= TW_DOCTOR_CRIT_PCT || (tte >= 0 && tte < 60 && x->rate > sustain))
            sev = TW_SEV_CRIT;
        struct tw_finding *f =
            ADD(x, "port-pressure", sev, EXPL_PRESSURE, SRC_PRESSURE,
                "%s uses %.0f%% of its %u ephemeral ports", tw__doctor_dest_str(p, d, sizeof(d)),
                p->pct, rep->effective_range);
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
            FIX(f,
                "At the host's current %.1f connects/s the %" PRIu64
                " free ports last about %.0f s (ActiveOpens is host-wide: an upper bound "
                "on this destination's share).",
                x->rate, free_ports, tte);
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

static const char SRC_RANGE[] = "Documentation/networking/ip-sysctl.rst ip_local_port_range; "
                                "net/ipv4/inet_hashtables.c __inet_hash_connect()";
static const char EXPL_NARROW[] =
    "With plain connect() and no reuse, each destination holds a port for 60 s after every "
    "connection, so R connects per second to it need R x 60 ports. The default range is "
    "32768-60999 (28232 ports); it can be widened down to 1024 if the listening ports "
    "inside it are reserved (ip_local_reserved_ports). Widening only buys headroom: reuse, "
    "keep-alive or a pool remove the cause.";

void tw__rule_range_narrow(struct tw__dctx *x)
{
    const struct tw_kernel *k = x->k;
    if (!x->busiest || x->busiest->pct < TW_DOCTOR_HOT_PCT || x->busiest->reuse_applies ||
        x->rate <= 0 || x->rate * 60 <= x->eff)
        return;
    double need = ceil(x->rate * 60 * 2);
    struct tw_finding *f =
        ADD(x, "port-range-narrow", TW_SEV_WARN, EXPL_NARROW, SRC_RANGE,
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
        FIX(f,
            "sysctl -w net.ipv4.ip_local_port_range=\"%ld 65535\"   (then reserve "
            "listening ports inside it with ip_local_reserved_ports)",
            lo);
        char cur[32];
        snprintf(cur, sizeof(cur), "%d %d", k->port_lo, k->port_hi);
        CHANGE(f, "net.ipv4.ip_local_port_range", cur, "%ld 65535", lo);
    } else {
        FIX(f, "No port range covers this rate without reuse: enable tcp_tw_reuse, or use "
               "keep-alive / a pool, or more source addresses.");
    }
    FIX(f, "Keep-alive or a pool remove the cause.");
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

void tw__rule_range_parity(struct tw__dctx *x)
{
    const struct tw_kernel *k = x->k;
    if (k->port_lo < 0 || k->port_hi < 0 || k->port_lo >= k->port_hi ||
        (k->port_lo & 1) != (k->port_hi & 1))
        return;
    struct tw_finding *f = ADD(x, "port-range-parity", TW_SEV_INFO, EXPL_PARITY, SRC_PARITY,
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
    FIX(f, "sysctl -w net.ipv4.ip_local_port_range=\"%d %d\"", lo, hi);
    CHANGE(f, "net.ipv4.ip_local_port_range", cur, "%d %d", lo, hi);
}

static const char SRC_LISTEN[] = "net/ipv4/inet_hashtables.c __inet_hash_connect() (skips "
                                 "buckets with fastreuse >= 0); ip-sysctl.rst "
                                 "ip_local_reserved_ports";
static const char EXPL_LISTEN[] =
    "connect() skips every port held by a listener (or by any explicit bind()), so each "
    "listening port inside the ephemeral range takes one port from every destination's "
    "range, and a service started later may find its port taken by an outgoing "
    "connection. Reserve those ports or move them out of the range.";

void tw__rule_range_listeners(struct tw__dctx *x)
{
    const struct tw_report *rep = x->rep;
    if (!rep || !rep->range_listeners)
        return;
    bool many = rep->range_size && rep->range_listeners * 10 >= rep->range_size;
    struct tw_finding *f =
        ADD(x, "port-range-listeners", many ? TW_SEV_WARN : TW_SEV_INFO, EXPL_LISTEN, SRC_LISTEN,
            "%u listening port(s) inside ip_local_port_range %d-%d", rep->range_listeners,
            x->k->port_lo, x->k->port_hi);
    EVN(f, "listeners_in_range", "%u", rep->range_listeners);
    EVN(f, "range_size", "%u", rep->range_size);
    EVN(f, "effective_range", "%u", rep->effective_range);
    FIX(f, "List them: ss -Hltn '( sport >= :%d and sport <= :%d )'", x->k->port_lo, x->k->port_hi);
    FIX(f,
        "Reserve them: sysctl -w net.ipv4.ip_local_reserved_ports=PORT[,PORT...] (or move "
        "the services below %d).",
        x->k->port_lo);
}

static const char SRC_RESERVED[] = "net/ipv4/inet_hashtables.c inet_is_local_reserved_port(); "
                                   "ip-sysctl.rst ip_local_reserved_ports";
static const char EXPL_RESERVED[] =
    "Ports in ip_local_reserved_ports are skipped by connect() and bind(0) autoselection "
    "(an explicit bind() still gets them), so they shrink every destination's effective "
    "range.";

void tw__rule_range_reserved(struct tw__dctx *x)
{
    const struct tw_kernel *k = x->k;
    if (!k->n_reserved || k->port_hi < k->port_lo)
        return;
    unsigned size = (unsigned)(k->port_hi - k->port_lo + 1);
    bool many = k->n_reserved * 2 >= size;
    struct tw_finding *f =
        ADD(x, "port-range-reserved", many ? TW_SEV_WARN : TW_SEV_INFO, EXPL_RESERVED, SRC_RESERVED,
            "%u of the %u ports of ip_local_port_range are reserved", k->n_reserved, size);
    EVN(f, "reserved_in_range", "%u", k->n_reserved);
    EVN(f, "range_size", "%u", size);
    if (x->rep)
        EVN(f, "effective_range", "%u", x->rep->effective_range);
    FIX(f, "%s",
        many ? "Check that every reserved port is really needed: sysctl "
               "net.ipv4.ip_local_reserved_ports"
             : "Nothing needed if these ports belong to services.");
}
