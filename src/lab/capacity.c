/*
 * capacity.c — what TIME_WAIT allows each run, from the physics, so that
 * the lab can show beside every measured rate the rate the kernel can
 * sustain and say when the offered load exceeds it (kernel-facts.md
 * sections 2, 4, 5 and 11):
 *
 *   - a connection whose side closes first keeps its local port in
 *     TIME_WAIT for 60 s (TCP_TIMEWAIT_LEN); with tcp_tw_reuse=1 (or 2 and
 *     a loopback peer) and timestamps on both ends, connect() takes it
 *     over after tcp_tw_reuse_delay (1 s by default; before 6.14 anywhere
 *     in (0, 1] s, so the figure is then a lower bound);
 *   - ports run out per (source address, destination address, port) with
 *     plain connect() or IP_BIND_ADDRESS_NO_PORT, so sources and
 *     destinations multiply the pool; bind(addr, 0) before connect() draws
 *     from one pool per source address, whatever the destination;
 *   - the effective range is ip_local_port_range minus the reserved ports,
 *     minus one port when its ends have the same parity (connect() only);
 *   - tcp_max_tw_buckets caps TIME_WAIT per namespace: below the number of
 *     ports, TIME_WAIT can never hold them all (the rest close at once,
 *     TCPTimeWaitOverflow), so it sets no limit;
 *   - when the server closes first, or the client resets, the client holds
 *     no TIME_WAIT; a server's TIME_WAIT is taken over by a new SYN.
 *
 * The result is a sustained rate (ports x pools / hold time), the number of
 * connections that fit before every port is held, the offered rate of new
 * connections, and one paragraph in words.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"

static void rate_str(char *buf, size_t len, double v)
{
    if (v >= 100)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.1f", v);
}

void lab_capacity_cell(const struct lab_capacity *c, char *buf, size_t len)
{
    char r[32];
    if (!c->known) {
        snprintf(buf, len, "?");
        return;
    }
    if (c->per_s < 0) {
        snprintf(buf, len, "none");
        return;
    }
    rate_str(r, sizeof(r), c->per_s);
    snprintf(buf, len, "%s%s", c->at_least ? ">=" : "", r);
}

static void set_why(struct lab_capacity *c, const char *text)
{
    free(c->why);
    c->why = strdup(text);
}

/* Effective ports of the opener's range for this way of picking ports. */
static uint64_t effective_ports(const struct tw_kernel *k, bool bind_port)
{
    if (k->port_hi < k->port_lo)
        return 0;
    uint64_t n = (uint64_t)(k->port_hi - k->port_lo + 1);
    n -= k->n_reserved <= n ? k->n_reserved : n;
    if (!bind_port && (k->port_lo % 2) == (k->port_hi % 2) && n > 0)
        n--; /* connect() never uses one port of a same-parity range */
    return n;
}

void lab_capacity(struct lab_run *r, const struct tw_kernel *opener, const struct tw_kernel *peer)
{
    const struct lab_scenario *sc = r->sc;
    struct lab_capacity *c = &r->cap;
    memset(c, 0, sizeof(*c));
    c->known = true;
    c->per_s = -1;
    c->offered = -1;
    c->run_out_s = -1;
    bool bind_port = sc->bind && !strcmp(sc->bind, "port") && (sc->sources || sc->one_source);
    const char *who = sc->nginx ? "nginx has" : "The client has";
    char text[1024], a[32], b[32];

    c->ports = effective_ports(opener, bind_port);
    if (sc->nginx)
        c->pools = 2; /* one source address, two backend ports */
    else if (bind_port)
        c->pools = (uint64_t)(r->n_sources > 0 ? r->n_sources : 1);
    else
        c->pools = (uint64_t)(r->n_sources > 0 ? r->n_sources : 1) * (uint64_t)sc->ndst;

    /* The offered rate of new connections. */
    double d = r->load.load_s;
    if (sc->nginx && !sc->nginx_keepalive) {
        c->offered = lab_opt.rate > 0 ? lab_opt.rate : d > 0 ? (double)r->load.n.requests / d : -1;
        c->offered_measured = lab_opt.rate <= 0;
    } else if (!sc->nginx && sc->rpc >= 1 && !sc->pool) {
        c->offered = lab_opt.rate > 0 ? lab_opt.rate / sc->rpc
                                      : d > 0 ? (double)r->load.n.attempted / d : -1;
        c->offered_measured = lab_opt.rate <= 0;
    }

    if (!strcmp(sc->close, "rst")) {
        set_why(c, "The client closes with an RST (SO_LINGER 0): it keeps no TIME_WAIT, so "
                   "TIME_WAIT sets no limit, and nothing protects the next connection on the "
                   "same ports from the old one's delayed segments.");
        return;
    }
    if (!strcmp(sc->close, "server")) {
        set_why(c, "The server closes first: the TIME_WAIT sockets are on the server host "
                   "and the client's ports are free at once; a new SYN on the same 4-tuple "
                   "takes over a server's TIME_WAIT (RFC 6191), so TIME_WAIT sets no limit.");
        return;
    }
    if (sc->nginx && sc->nginx_keepalive) {
        set_why(c, "nginx keeps its connections to the backends (upstream keepalive 32) and "
                   "the client keeps its connections to nginx: almost no connection closes, "
                   "so TIME_WAIT sets no limit on the request rate.");
        return;
    }
    uint64_t total = c->ports * c->pools;
    if (opener->max_tw_buckets >= 0 && (uint64_t)opener->max_tw_buckets < total) {
        snprintf(text, sizeof(text),
                 "tcp_max_tw_buckets (%ld) is below the %llu ports %s can use: TIME_WAIT can "
                 "never hold them all (the rest close at once, counted by TCPTimeWaitOverflow), "
                 "so it sets no limit.",
                 opener->max_tw_buckets, (unsigned long long)total,
                 sc->nginx ? "nginx" : "the client");
        set_why(c, text);
        return;
    }
    bool reuse = (opener->tw_reuse == 1) && opener->timestamps >= 1 && peer->timestamps >= 1;
    if (reuse) {
        c->at_least = opener->tw_reuse_delay_ms < 0;
        c->hold_s = c->at_least ? 1.0 : opener->tw_reuse_delay_ms / 1000.0;
    } else {
        c->hold_s = 60.0;
    }
    c->burst = total;
    c->per_s = c->hold_s > 0 ? (double)total / c->hold_s : -1;

    char pools[160] = "";
    if (sc->nginx)
        snprintf(pools, sizeof(pools), " x 2 backend ports for its connections to the backends");
    else if (bind_port)
        snprintf(pools, sizeof(pools), "%s (bind() before connect() draws from one pool for "
                 "every destination)", r->n_sources > 1 ? " x source addresses" : "");
    else if (c->pools > 1)
        snprintf(pools, sizeof(pools), " x %llu %s", (unsigned long long)c->pools,
                 r->n_sources > 1 ? "source addresses" : "destinations");
    char hold[160];
    if (reuse && c->at_least)
        snprintf(hold, sizeof(hold), "reusable after at most 1 s with tcp_tw_reuse=1 (this "
                 "kernel has no tcp_tw_reuse_delay: the figure is a lower bound)");
    else if (reuse)
        snprintf(hold, sizeof(hold), "reusable after tcp_tw_reuse_delay (%d ms) with "
                 "tcp_tw_reuse=1", opener->tw_reuse_delay_ms);
    else
        snprintf(hold, sizeof(hold), "each held 60 s by TIME_WAIT");
    rate_str(a, sizeof(a), c->per_s);
    int n = snprintf(text, sizeof(text), "%s %llu ports%s, %s: %s%s new connections/s, %llu "
                     "at once.", who, (unsigned long long)c->ports, pools, hold,
                     c->at_least ? "at least " : "", a, (unsigned long long)total);
    if (c->offered < 0) {
        snprintf(text + n, sizeof(text) - (size_t)n, " Connections are reused: the load opens "
                 "only a few.");
    } else {
        rate_str(b, sizeof(b), c->offered);
        const char *what = c->offered_measured ? "attempted (closed loop)" : "offered";
        const char *fails = bind_port ? "EADDRINUSE" : "EADDRNOTAVAIL";
        c->exceeded = c->offered > c->per_s;
        int opener_h = sc->nginx ? LAB_PROXY : LAB_CLIENT;
        uint64_t opened = r->ctr[opener_h][TW_C_ACTIVE_OPENS];
        const struct lab_first *first = bind_port ? &r->load.einuse : &r->load.eana;
        if (!c->exceeded) {
            snprintf(text + n, sizeof(text) - (size_t)n, " The %s %s/s fits.", what, b);
        } else {
            c->run_out_s = (double)total / c->offered;
            int m = snprintf(text + n, sizeof(text) - (size_t)n, " The %s %s/s exceeds it: "
                             "at that rate every port is held after %.2f s", what, b,
                             c->run_out_s);
            n += m > 0 ? m : 0;
            if (!sc->nginx && first->seen)
                snprintf(text + n, sizeof(text) - (size_t)n, "; here the first %s came at "
                         "%.3f s%s.", fails, first->t_s,
                         sc->stop ? ", where this scenario stops"
                                  : ", and the excess failed from then on");
            else if (c->run_out_s > d)
                snprintf(text + n, sizeof(text) - (size_t)n, ", later than this %.1f s run.", d);
            else
                snprintf(text + n, sizeof(text) - (size_t)n, ", but this run opened %llu "
                         "connections (%.0f/s), fewer than the %llu ports.",
                         (unsigned long long)opened, d > 0 ? (double)opened / d : 0.0,
                         (unsigned long long)total);
        }
    }
    set_why(c, text);
}
