/*
 * doctor_rules_range.c — doctor's rules about the shape of
 * ip_local_port_range: too narrow for the connect rate, ends of the same
 * parity, listening ports inside it (a service can lose its port to
 * outgoing connections), reserved ports inside it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_int.h"

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
    /* reuse that twkit cannot verify (the peer's timestamps) does not count */
    if (!x->busiest || x->busiest->pct < TW_DOCTOR_HOT_PCT ||
        tw__doctor_reuse_verified(x, x->busiest) || x->rate <= 0 || x->rate * 60 <= x->eff)
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
    if (x->busiest->reuse_applies)
        FIX(f, "tcp_tw_reuse applies to this destination, but reclaims a TIME_WAIT only if the "
               "peer sent TCP timestamps on it, which twkit cannot see: this assumes it did "
               "not.");
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

static const char SRC_LISTEN[] = "net/ipv4/inet_hashtables.c __inet_hash_connect(), "
                                 "inet_is_local_reserved_port(); ip-sysctl.rst "
                                 "ip_local_reserved_ports";
static const char EXPL_LISTEN[] =
    "A service port inside ip_local_port_range is an ephemeral port like the others: "
    "while the service is down (a restart, a deploy), outgoing connections can take it, "
    "and the service then cannot bind it (EADDRINUSE, with SO_REUSEADDR too) until every "
    "socket on it has gone, TIME_WAIT included. While it listens, "
    "connect() skips the port, so it also takes one port from every destination's range. "
    "ip_local_reserved_ports keeps connect() and bind(0) off those ports; an explicit "
    "bind() still gets them.";

/* "a-b,c" from a port bitmap (the kernel's own format of ip_local_reserved_ports). */
static char *port_list(const uint8_t *map)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    const char *sep = "";
    for (unsigned p = 0; p < 65536; p++) {
        if (!((map[p >> 3] >> (p & 7)) & 1))
            continue;
        unsigned q = p;
        while (q + 1 < 65536 && ((map[(q + 1) >> 3] >> ((q + 1) & 7)) & 1))
            q++;
        if (q == p)
            fprintf(f, "%s%u", sep, p);
        else
            fprintf(f, "%s%u-%u", sep, p, q);
        sep = ",";
        p = q;
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

void tw__rule_range_listeners(struct tw__dctx *x)
{
    const struct tw_kernel *k = x->k;
    const struct tw_report *rep = x->rep;
    uint8_t mine[65536 / 8], all[65536 / 8];
    unsigned n = 0;

    if (!x->s->have_listen || k->port_lo < 0 || k->port_hi < k->port_lo)
        return;
    memset(mine, 0, sizeof(mine));
    for (unsigned p = (unsigned)k->port_lo; p <= (unsigned)k->port_hi && p < 65536; p++)
        if (tw_doctor_listening(x->s, p) && !tw_kernel_reserved(k, p)) {
            mine[p >> 3] |= (uint8_t)(1u << (p & 7));
            n++;
        }
    if (!n)
        return;
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = k->reserved[i] | mine[i];
    char *ports = port_list(mine), *now = port_list(k->reserved), *want = port_list(all);
    if (!ports || !now || !want) {
        tw__doctor_oom = 1;
        goto out;
    }
    struct tw_finding *f =
        ADD(x, "port-range-listeners", TW_SEV_WARN, EXPL_LISTEN, SRC_LISTEN,
            "%u listening port%s inside ip_local_port_range %d-%d not reserved (%s): "
            "outgoing connections can take %s while the service is down",
            n, n == 1 ? "" : "s", k->port_lo, k->port_hi, ports, n == 1 ? "it" : "them");
    EVN(f, "listeners_in_range", "%u", n);
    EVS(f, "ports", "%s", ports);
    if (rep) {
        EVN(f, "range_size", "%u", rep->range_size);
        EVN(f, "effective_range", "%u", rep->effective_range);
    }
    EVS(f, "reserved_now", "%s", now);
    FIX(f, "sysctl -w net.ipv4.ip_local_reserved_ports=%s   (%s)", want,
        *now ? "the ports reserved now, and these" : "connect() and bind(0) then skip them");
    FIX(f, "Or move the range above the services (or the services below %d).", k->port_lo);
    FIX(f, "A service that listens only now and then is not seen here: reserve its port too.");
    CHANGE(f, "net.ipv4.ip_local_reserved_ports", now, "%s", want);
out:
    free(ports);
    free(now);
    free(want);
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
