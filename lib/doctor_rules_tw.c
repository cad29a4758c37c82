/*
 * doctor_rules_tw.c — doctor's rules about TIME_WAIT sockets themselves:
 * tcp_max_tw_buckets reached, server-side TIME_WAIT (memory only), RST
 * closes that avoid TIME_WAIT, and TIME_WAIT ended early (tcp_rfc1337).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "doctor_int.h"

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

void tw__rule_buckets(struct tw__dctx *x)
{
    const struct tw_kernel *k = x->k;
    const struct tw_doctor_sample *s = x->s;
    if (k->max_tw_buckets < 0)
        return;
    uint64_t ov = tw_doctor_delta(s, TW_C_TW_OVERFLOW);
    long tw = s->tw1 >= 0 ? s->tw1 : k->sock_tw;
    double pct = k->max_tw_buckets > 0 ? 100.0 * tw / k->max_tw_buckets : 100.0;
    uint64_t total =
        s->have_counters && s->c1.have[TW_C_TW_OVERFLOW] ? s->c1.v[TW_C_TW_OVERFLOW] : 0;
    struct tw_finding *f;

    /* the kernel's own value for a new namespace: half the established hash */
    long dflt = s->ehash_entries > 0 ? s->ehash_entries / 2 : -1;
    if (ov > 0 && pct >= TW_DOCTOR_BUCKETS_CLOSE)
        f = ADD(x, "tw-buckets", TW_SEV_WARN, EXPL_BUCKETS, SRC_BUCKETS,
                "tcp_max_tw_buckets = %ld reached: %" PRIu64
                " sockets closed without TIME_WAIT in %.1f s",
                k->max_tw_buckets, ov, s->seconds);
    else if (ov > 0) /* TIME_WAIT below the limit now: it was reached, or slab ran out */
        f = ADD(x, "tw-buckets", TW_SEV_WARN, EXPL_BUCKETS, SRC_BUCKETS,
                "%" PRIu64 " sockets closed without TIME_WAIT in %.1f s (TCPTimeWaitOverflow): "
                "tcp_max_tw_buckets = %ld was reached in the window, or slab allocation failed",
                ov, s->seconds, k->max_tw_buckets);
    else if (pct >= TW_DOCTOR_BUCKETS_CLOSE && tw > 0)
        f = ADD(x, "tw-buckets", TW_SEV_WARN, EXPL_BUCKETS, SRC_BUCKETS,
                "TIME_WAIT at %.0f%% of tcp_max_tw_buckets = %ld", pct, k->max_tw_buckets);
    else if (x->cap_saves)
        f = ADD(x, "tw-buckets", TW_SEV_INFO, EXPL_BUCKETS, SRC_BUCKETS,
                "tcp_max_tw_buckets = %ld will be reached at the current rate, and is then "
                "what keeps the ports from running out",
                k->max_tw_buckets);
    else if (total > 0)
        f = ADD(x, "tw-buckets", TW_SEV_INFO, EXPL_BUCKETS, SRC_BUCKETS,
                "TCPTimeWaitOverflow = %" PRIu64 " since the namespace started (none in the "
                "window)",
                total);
    else
        return;
    EVN(f, "tcp_max_tw_buckets", "%ld", k->max_tw_buckets);
    if (dflt > 0)
        EVN(f, "default_max_tw_buckets", "%ld", dflt);
    else
        EVS(f, "default_max_tw_buckets", "%s", "unknown (no tcp_ehash_entries before 6.1)");
    EVN(f, "sockstat_tw", "%ld", tw);
    EVN(f, "tw_pct_of_max", "%.1f", pct);
    EVN(f, "overflow_in_window", "%" PRIu64, ov);
    EVN(f, "overflow_total", "%" PRIu64, total);
    EVN(f, "window_s", "%.1f", s->seconds);
    char d[160];
    if (x->cap_saves) {
        /* the same mistake as a straight-line forecast, the other way round:
         * raising the cap would let this destination run out of ports */
        EVS(f, "protects_destination", "%s", tw__doctor_dest_str(x->cap_saves, d, sizeof(d)));
        EVN(f, "exhaustion_without_cap_s", "%.1f", x->cap_saves_s);
        char when[48];
        if (x->cap_saves_s > 0)
            snprintf(when, sizeof(when), "in about %.0f s", x->cap_saves_s);
        else
            snprintf(when, sizeof(when), "at once");
        FIX(f,
            "Do not raise it while the load is what it is: it is what keeps %s from running "
            "out of ports (TIME_WAIT cannot pass %ld, below its %u ports). Without the cap "
            "connect() to it would fail with EADDRNOTAVAIL %s at %.1f connects/s. Remove "
            "the TIME_WAIT at its source first (keep-alive, a pool, server-side close), or "
            "let tcp_tw_reuse take it over.",
            d, k->max_tw_buckets, x->eff, when, x->rate);
        return;
    }
    if (f->severity < TW_SEV_WARN) {
        FIX(f, "Nothing now; watch TcpExt TCPTimeWaitOverflow in /proc/net/netstat (no log "
               "line will tell you).");
        return;
    }
    char cur[32];
    snprintf(cur, sizeof(cur), "%ld", k->max_tw_buckets);
    long nv = -1;
    if (dflt > 0 && k->max_tw_buckets < dflt) {
        nv = dflt; /* lowered: back to what the kernel gives this namespace */
    } else if (dflt > 0) {
        long base = k->max_tw_buckets > tw ? k->max_tw_buckets : tw;
        for (nv = dflt; nv < 2 * base && nv < (1L << 30);)
            nv *= 2;
    }
    if (nv > 0) {
        uint64_t mem = (uint64_t)nv * 2 * tw__doctor_tw_obj_bytes(k);
        FIX(f,
            "sysctl -w net.ipv4.tcp_max_tw_buckets=%ld   (%s; worst case about %" PRIu64
            " MiB of slab)",
            nv, nv == dflt ? "the kernel's default here, half of tcp_ehash_entries" : "raised",
            (mem + (1 << 20) - 1) >> 20);
        CHANGE(f, "net.ipv4.tcp_max_tw_buckets", cur, "%ld", nv);
    } else {
        FIX(f, "Raise it at least to the kernel's default: half of the \"TCP established hash "
               "table entries\" the kernel logs at boot (dmesg).");
    }
    FIX(f, "If it was lowered to get rid of TIME_WAIT: that is what overflow does, with the "
           "same hazard as an RST close. Remove the TIME_WAIT at its source instead "
           "(keep-alive, a pool, server-side close).");
}

static const char SRC_SERVER[] = "net/ipv4/tcp_minisocks.c tcp_timewait_state_process(); "
                                 "net/core/sock.c (tw_sock_TCP slab); RFC 6191";
static const char EXPL_SERVER[] =
    "A server-side TIME_WAIT (this host closed first on its listening port) never holds an "
    "ephemeral port, so it cannot exhaust ports; it costs one slab object (about 256 B; "
    "the listening port's bind bucket is shared). A client reconnecting from the same port "
    "is accepted when its SYN is newer (RFC 6191 / RFC 1122 rules). tcp_tw_reuse does not "
    "apply to accept().";

void tw__rule_server_tw(struct tw__dctx *x)
{
    const struct tw_report *rep = x->rep;
    if (!rep || rep->tw_server < TW_DOCTOR_SERVER_TW_MIN || rep->tw_server < rep->tw_client)
        return;
    uint64_t mem = rep->tw_server * tw__doctor_tw_obj_bytes(x->k);
    struct tw_finding *f = ADD(x, "server-tw", TW_SEV_INFO, EXPL_SERVER, SRC_SERVER,
                               "%" PRIu64 " of %" PRIu64
                               " TIME_WAIT are server-side: memory only, about %" PRIu64 " KiB",
                               rep->tw_server, rep->tw_total, (mem + 1023) / 1024);
    EVN(f, "tw_server", "%" PRIu64, rep->tw_server);
    EVN(f, "tw_client", "%" PRIu64, rep->tw_client);
    EVN(f, "tw_total", "%" PRIu64, rep->tw_total);
    EVN(f, "bytes_per_tw", "%" PRIu64, tw__doctor_tw_obj_bytes(x->k));
    EVN(f, "memory_bytes", "%" PRIu64, mem);
    FIX(f, "Nothing required. To have fewer: HTTP keep-alive, or let clients close first "
           "where the protocol allows.");
    FIX(f, "Do not lower tcp_max_tw_buckets for this: overflow only drops TIME_WAIT's "
           "protection.");
}

static const char SRC_RST[] = "net/ipv4/tcp.c tcp_close(), tcp_disconnect(); RFC 9293 (ABORT)";
static const char EXPL_RST[] =
    "close() with SO_LINGER {1, 0} sends an RST instead of a FIN: no TIME_WAIT, but unsent "
    "and unacknowledged data is thrown away, the peer gets ECONNRESET, the 4-tuple can be "
    "reused at once with no protection against delayed segments, and if the RST is lost "
    "the peer keeps a half-open connection. TCPAbortOnData counts these closes (and data "
    "arriving after close()); EstabResets counts established connections reset.";

void tw__rule_rst_close(struct tw__dctx *x)
{
    uint64_t a = tw_doctor_delta(x->s, TW_C_ABORT_ON_DATA);
    uint64_t e = tw_doctor_delta(x->s, TW_C_ESTAB_RESETS);
    if (!a || !e)
        return;
    struct tw_finding *f =
        ADD(x, "rst-close", TW_SEV_WARN, EXPL_RST, SRC_RST,
            "RST closes in use: %" PRIu64 " TCPAbortOnData, %" PRIu64 " EstabResets in %.1f s", a,
            e, x->s->seconds);
    EVN(f, "abort_on_data", "%" PRIu64, a);
    EVN(f, "estab_resets", "%" PRIu64, e);
    EVN(f, "out_rsts", "%" PRIu64, tw_doctor_delta(x->s, TW_C_OUT_RSTS));
    EVN(f, "abort_on_data_per_s", "%.1f", a / x->s->seconds);
    EVN(f, "window_s", "%.1f", x->s->seconds);
    FIX(f, "Find the program that sets SO_LINGER {1, 0} (ss -tanpi while it runs; strace -e "
           "setsockopt) and let it close normally.");
    FIX(f, "Avoid TIME_WAIT by reusing connections (keep-alive, a pool) or by letting the "
           "server close first, not by resetting them.");
}

static const char SRC_1337[] = "RFC 1337; RFC 6191; net/ipv4/tcp_minisocks.c "
                               "tcp_timewait_state_process(); net/ipv4/tcp_ipv4.c tcp_v4_rcv() "
                               "(TCP_TW_SYN)";
static const char EXPL_1337[] =
    "With tcp_rfc1337 = 0 (the default) an in-window RST kills a TIME_WAIT at once "
    "(TIME-WAIT assassination, RFC 1337 hazards H1-H3), and the 4-tuple loses its "
    "protection against delayed segments; with 1 such RSTs are ignored. (ip-sysctl.rst's "
    "wording suggests the opposite; the code is as stated.) No counter shows either. Such "
    "a RST needs no attacker: on a host with several CPUs the peer's ACK of our FIN can "
    "arrive after its own FIN; our TIME_WAIT answers that old ACK, the peer, closed by "
    "then, answers with a RST (measured on loopback: about 1 connection in 500 of a "
    "connect/close loop whose server closes once it reads EOF). Two "
    "other things end a TIME_WAIT early, whatever tcp_rfc1337 is: a new SYN on the 4-tuple "
    "of a server-side TIME_WAIT takes it over when its sequence number or timestamp is "
    "newer (RFC 6191; PassiveOpens counts the connection it opens), and connect() reuse of "
    "a client-side one (TWRecycled). So doctor follows the TIME_WAIT present at the start "
    "of the window: those gone at the end, their 4-tuple not in use again, and more than "
    "new SYNs and reuse can explain, were killed (by RSTs, or by SOCK_DESTROY: ss -K).";

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

void tw__rule_rfc1337(struct tw__dctx *x)
{
    const struct tw_doctor_sample *s = x->s;
    if (x->k->rfc1337 != 0 || !s->tw_vanished)
        return;
    uint64_t vs = s->tw_vanished_server, vc = sat_sub(s->tw_vanished, vs);
    uint64_t passive = tw_doctor_delta(s, TW_C_PASSIVE_OPENS);
    uint64_t recycled = tw_doctor_delta(s, TW_C_TW_RECYCLED);
    /* at most one takeover per accepted connection, one reuse per TWRecycled */
    uint64_t killed = sat_sub(vc, recycled) + sat_sub(vs, passive);
    struct tw_finding *f;
    if (killed)
        f = ADD(x, "rfc1337", TW_SEV_WARN, EXPL_1337, SRC_1337,
                "at least %" PRIu64 " TIME_WAIT killed early in %.1f s, more than new "
                "connections explain: RSTs (tcp_rfc1337 = 0)",
                killed, s->seconds);
    else
        f = ADD(x, "rfc1337", TW_SEV_INFO, EXPL_1337, SRC_1337,
                "%" PRIu64 " TIME_WAIT ended early in %.1f s (%" PRIu64
                " server side); new SYNs or reuse can explain all of them: doctor cannot tell "
                "whether RSTs ended any",
                s->tw_vanished, s->seconds, vs);
    EVN(f, "tcp_rfc1337", "%d", x->k->rfc1337);
    EVN(f, "tw_followed", "%" PRIu64, s->tw_tracked);
    EVN(f, "tw_ended_early", "%" PRIu64, s->tw_vanished);
    EVN(f, "tw_ended_early_server", "%" PRIu64, vs);
    EVN(f, "tw_ended_early_client", "%" PRIu64, vc);
    EVN(f, "tw_killed_min", "%" PRIu64, killed);
    EVN(f, "tw_killed_early", "%" PRIu64, killed); /* v1 name of the same number */
    EVN(f, "passive_opens", "%" PRIu64, passive);
    EVN(f, "tw_recycled", "%" PRIu64, recycled);
    EVN(f, "window_s", "%.1f", s->seconds);
    if (!killed) {
        FIX(f, "Nothing to set: a new SYN takes a server-side TIME_WAIT over whatever "
               "tcp_rfc1337 is, and that is correct (RFC 6191).");
        FIX(f, "To see RSTs themselves: tcpdump -ni any 'tcp[tcpflags] & tcp-rst != 0'.");
        return;
    }
    FIX(f, "sysctl -w net.ipv4.tcp_rfc1337=1   (TIME_WAIT then ignores RSTs)");
    FIX(f, "Find what sends them: a peer that answers ACKs with RST (no socket left, a "
           "firewall, a load balancer); unless someone ran ss -K on TIME_WAIT sockets.");
    CHANGE(f, "net.ipv4.tcp_rfc1337", "0", "1");
}
