/*
 * doctor_rules_reuse.c — doctor's rules about tcp_tw_reuse: off, loopback
 * only while other destinations are under pressure, made void by
 * tcp_timestamps = 0, and the rate tcp_tw_reuse_delay caps it at.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "doctor_int.h"

static const char SRC_REUSE[] = "net/ipv4/tcp_ipv4.c tcp_twsk_unique(); commit 79e9fed46038; "
                                "Documentation/networking/ip-sysctl.rst";
static const char EXPL_REUSE[] =
    "tcp_tw_reuse lets connect() take over a TIME_WAIT 4-tuple once it is older than "
    "tcp_tw_reuse_delay (1 s by default) and the peer sent TCP timestamps; PAWS "
    "(RFC 7323) then keeps old segments out of the new connection. 0 = never, 1 = every "
    "destination, 2 (the default) = loopback only. It applies to connect() only and "
    "never helps a server's TIME_WAIT.";

void tw__rule_reuse_off(struct tw__dctx *x)
{
    if (x->k->tw_reuse != 0)
        return;
    struct tw_finding *f;
    if (x->hot)
        f = ADD(x, "tw-reuse-off", TW_SEV_WARN, EXPL_REUSE, SRC_REUSE,
                "tcp_tw_reuse = 0 while %u destination(s) are under port pressure", x->hot);
    else
        f = ADD(x, "tw-reuse-off", TW_SEV_INFO, EXPL_REUSE, SRC_REUSE, "%s",
                "tcp_tw_reuse = 0: connect() never reclaims TIME_WAIT (default is 2)");
    EVN(f, "tcp_tw_reuse", "%d", x->k->tw_reuse);
    EVN(f, "tcp_timestamps", "%d", x->k->timestamps);
    EVN(f, "hot_destinations", "%u", x->hot);
    EVN(f, "hot_non_loopback", "%u", x->hot_nonloop);
    if (!x->hot) {
        FIX(f, "Nothing urgent: no destination is under port pressure. The default 2 "
               "(loopback only) is safe: sysctl -w net.ipv4.tcp_tw_reuse=2");
        return;
    }
    const char *v = x->hot_nonloop ? "1" : "2";
    FIX(f, "sysctl -w net.ipv4.tcp_tw_reuse=%s%s", v,
        x->hot_nonloop ? "   (1: every destination; 2 covers loopback only)" : "");
    if (x->k->timestamps == 0)
        FIX(f, "and turn timestamps back on (tcp_timestamps=1): reuse needs them.");
    FIX(f, "It reclaims only TIME_WAIT whose peer sent TCP timestamps, which twkit cannot see "
           "(port-pressure says how to check): it relieves the pressure only as far as the "
           "peers send them.");
    FIX(f, "Better still: keep-alive or a connection pool.");
    CHANGE(f, "net.ipv4.tcp_tw_reuse", "0", "%s", v);
}

static const char EXPL_REUSE2[] =
    "With tcp_tw_reuse = 2 only loopback connections are reclaimed: a socket bound to lo, "
    "or a 127/8, ::1 or ::ffff:127.0.0.0/104 address at either end. The host's own other "
    "addresses are not loopback even though their packets use lo.";

void tw__rule_reuse_loopback(struct tw__dctx *x)
{
    if (x->k->tw_reuse != 2 || !x->hot_nonloop)
        return;
    struct tw_finding *f =
        ADD(x, "tw-reuse-loopback-only", TW_SEV_WARN, EXPL_REUSE2, SRC_REUSE,
            "tcp_tw_reuse = 2 is loopback only; %u non-loopback destination(s) are under "
            "port pressure",
            x->hot_nonloop);
    EVN(f, "tcp_tw_reuse", "%d", x->k->tw_reuse);
    EVN(f, "hot_non_loopback", "%u", x->hot_nonloop);
    EVN(f, "tcp_timestamps", "%d", x->k->timestamps);
    if (x->busiest && !x->busiest->loopback) {
        char d[160];
        EVS(f, "busiest", "%s", tw__doctor_dest_str(x->busiest, d, sizeof(d)));
        EVN(f, "busiest_pct", "%.1f", x->busiest->pct);
    }
    FIX(f, "sysctl -w net.ipv4.tcp_tw_reuse=1   (connect() only; needs tcp_timestamps on "
           "both ends)");
    FIX(f, "Better still: keep-alive or a connection pool.");
    CHANGE(f, "net.ipv4.tcp_tw_reuse", "2", "1");
}

static const char SRC_TS[] = "net/ipv4/tcp_ipv4.c tcp_twsk_unique() (tw_ts_recent_stamp); "
                             "RFC 7323 section 5 (PAWS)";
static const char EXPL_TS[] =
    "connect() reclaims a TIME_WAIT only when the peer sent timestamps on the old "
    "connection (tw_ts_recent_stamp != 0): PAWS is what keeps its delayed segments out of "
    "the new one. With tcp_timestamps = 0 this host offers none on new connections, no "
    "peer echoes any, and tcp_tw_reuse never reclaims their TIME_WAIT, whatever its value. "
    "The kernel does not look at the sysctl when it reclaims: a TIME_WAIT of a connection "
    "made while timestamps were on keeps the peer's stamp and can still be taken over "
    "until it expires (measured: TWRecycled kept rising for up to 60 s after the change).";

void tw__rule_timestamps(struct tw__dctx *x)
{
    if (x->k->timestamps != 0)
        return;
    enum tw_severity sev = x->hot ? TW_SEV_CRIT : x->k->tw_reuse ? TW_SEV_WARN : TW_SEV_INFO;
    struct tw_finding *f = ADD(x, "timestamps-off", sev, EXPL_TS, SRC_TS,
                               "tcp_timestamps = 0: tcp_tw_reuse = %d cannot reclaim the "
                               "TIME_WAIT of any connection made from now on",
                               x->k->tw_reuse);
    EVN(f, "tcp_timestamps", "%d", x->k->timestamps);
    EVN(f, "tcp_tw_reuse", "%d", x->k->tw_reuse);
    EVN(f, "hot_destinations", "%u", x->hot);
    FIX(f, "sysctl -w net.ipv4.tcp_timestamps=1");
    CHANGE(f, "net.ipv4.tcp_timestamps", "0", "1");
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

void tw__rule_reuse_delay(struct tw__dctx *x)
{
    const struct tw_kernel *k = x->k;
    if (k->tw_reuse_delay_ms < 0 || !x->eff)
        return;
    double cap = x->eff * 1000.0 / k->tw_reuse_delay_ms;
    bool applies = x->hot_reuse > 0 && k->timestamps != 0;
    if (applies && x->rate >= cap / 2) {
        struct tw_finding *f =
            ADD(x, "tw-reuse-delay", TW_SEV_WARN, EXPL_DELAY, SRC_DELAY,
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
            FIX(f,
                "If every peer uses a timestamp clock of %ld ms or finer (Linux does): "
                "sysctl -w net.ipv4.tcp_tw_reuse_delay=%ld   (cap becomes %.0f/s)",
                nd, nd, x->eff * 1000.0 / nd);
            char cur[32];
            snprintf(cur, sizeof(cur), "%d", k->tw_reuse_delay_ms);
            CHANGE(f, "net.ipv4.tcp_tw_reuse_delay", cur, "%ld", nd);
        }
        FIX(f, "Keep-alive or a pool removes the cap altogether.");
        return;
    }
    if (k->tw_reuse_delay_ms != 1000) {
        struct tw_finding *f =
            ADD(x, "tw-reuse-delay", TW_SEV_INFO, EXPL_DELAY, SRC_DELAY,
                "tcp_tw_reuse_delay = %d ms (default 1000): reuse capped at %.1f "
                "connects/s per destination",
                k->tw_reuse_delay_ms, cap);
        EVN(f, "tcp_tw_reuse_delay_ms", "%d", k->tw_reuse_delay_ms);
        EVN(f, "effective_range", "%u", x->eff);
        EVN(f, "reuse_cap_per_s", "%.1f", cap);
        EVN(f, "connect_rate", "%.1f", x->rate);
        FIX(f, "Nothing needed at the current rate.");
    }
}
