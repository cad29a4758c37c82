/*
 * wire.c — the wire between the two hosts: twkit itself.
 *
 * Each host has a tun device; every IP packet its kernel sends comes out of
 * that device's descriptor here, and twkit writes it into the other host's
 * tun descriptor.  So each TCP segment is seen once on each side, with the
 * time it left and the time it arrived, and a rule can drop, hold or
 * duplicate any segment, and a held one can be delivered later, its
 * sequence numbers moved into a newer connection's window.  Nothing else
 * carries packets between the hosts: there is no veth, no qdisc, no netem.
 *
 * Why this is deterministic: writing a packet into a tun descriptor runs
 * the receiving kernel's TCP input in the writing thread (tun_get_user ->
 * netif_receive_skb), and every segment that input sends in reply is queued
 * on the other tun before write() returns.  twkit is single-threaded and
 * never holds a socket lock while it relays, so the order of events depends
 * only on the script, except where the kernel's own timers (delayed ACK,
 * retransmission, TIME_WAIT) act — and the scripts wait for those explicitly.
 *
 * Packets that are not TCP (IPv6 router solicitations and MLD reports, for
 * instance) are not relayed: the hosts have no one to talk to but each
 * other over TCP.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <string.h>
#include <unistd.h>

#include "explain.h"
#include "twx/clock.h"

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int x_parse(const uint8_t *p, size_t n, struct xseg *s, size_t *tcp_off)
{
    size_t off, end;
    if (n < 20)
        return -1;
    if (p[0] >> 4 == 4) {
        size_t ihl = (size_t)(p[0] & 15) * 4;
        end = get16(p + 2);
        if (ihl < 20 || p[9] != IPPROTO_TCP || end > n || end < ihl + 20)
            return -1;
        off = ihl;
    } else if (p[0] >> 4 == 6) {
        if (n < 60 || p[6] != IPPROTO_TCP)
            return -1;
        end = 40 + (size_t)get16(p + 4);
        if (end > n || end < 60)
            return -1;
        off = 40;
    } else {
        return -1;
    }
    const uint8_t *t = p + off;
    size_t doff = (size_t)(t[12] >> 4) * 4;
    if (doff < 20 || off + doff > end)
        return -1;
    s->seq = get32(t + 4);
    s->ack = get32(t + 8);
    s->flags = t[13] & 0x1f;
    s->win = get16(t + 14);
    s->len = (uint16_t)(end - off - doff);
    s->has_ts = false;
    s->mss = 0;
    for (size_t i = 20; i < doff;) {
        uint8_t kind = t[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= doff || t[i + 1] < 2 || i + t[i + 1] > doff)
            break;
        if (kind == 2 && t[i + 1] == 4)
            s->mss = get16(t + i + 2);
        if (kind == 8 && t[i + 1] == 10) {
            s->has_ts = true;
            s->tsval = get32(t + i + 2);
            s->tsecr = get32(t + i + 6);
        }
        i += t[i + 1];
    }
    if (tcp_off)
        *tcp_off = off;
    return 0;
}

static uint32_t sum16(uint32_t acc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        acc += get16(p + i);
    if (n & 1)
        acc += (uint32_t)p[n - 1] << 8;
    return acc;
}

void x_tcp_csum(uint8_t *p, size_t n)
{
    struct xseg s;
    size_t off;
    if (x_parse(p, n, &s, &off) < 0)
        return;
    size_t tlen = p[0] >> 4 == 4 ? get16(p + 2) - off : get16(p + 4);
    uint8_t *t = p + off;
    t[16] = t[17] = 0;
    uint32_t acc = 0;
    if (p[0] >> 4 == 4)
        acc = sum16(acc, p + 12, 8);
    else
        acc = sum16(acc, p + 8, 32);
    acc += IPPROTO_TCP + (uint32_t)tlen;
    acc = sum16(acc, t, tlen);
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    uint16_t c = (uint16_t)~acc;
    t[16] = (uint8_t)(c >> 8);
    t[17] = (uint8_t)c;
}

/* ---- rules ------------------------------------------------------------------ */

int x_rule(struct xrun *r, int from, uint8_t mask, uint8_t value, bool data, int state,
           enum x_fate fate)
{
    if (r->n_rule == X_MAX_RULE)
        return -1;
    r->rule[r->n_rule] = (struct xrule){.from = from, .mask = mask, .value = value,
                                        .data = data, .state = state, .nth = 1,
                                        .fate = fate, .seg = -1};
    return r->n_rule++;
}

static enum x_fate apply_rules(struct xrun *r, const struct xseg *s)
{
    for (int i = 0; i < r->n_rule; i++) {
        struct xrule *u = &r->rule[i];
        if (u->done || u->from != s->from || (s->flags & u->mask) != u->value ||
            (u->data && !s->len) || (u->state && r->lane[s->from] != u->state))
            continue;
        if (++u->seen < u->nth)
            continue;
        u->done = true;
        u->seg = s->id;
        return u->fate;
    }
    return XW_PASS;
}

/* ---- relaying ------------------------------------------------------------------ */

static void deliver(struct xrun *r, struct xseg *s, const uint8_t *p, size_t n)
{
    int to = 1 - s->from;
    x_sample(r, to, -1);
    int64_t before = r->lane[to] == 6 ? r->lane_expires[to] : -1;
    ssize_t w = write(r->tun[to], p, n);
    if (w != (ssize_t)n) {
        x_fail(r, "writing to the %s host's tun device: %s",
               to == XH_CLIENT ? "client" : "server", w < 0 ? strerror(errno) : "short write");
        return;
    }
    int e = x_event(r, XE_DELIVER, to, s->id);
    if (e < 0)
        return;
    if (s->n_deliv < 2)
        s->deliv_ns[s->n_deliv++] = r->ev[e].t_ns;
    r->burst_cause = e;
    x_sample(r, to, e);
    r->ev[e].expires_before = before;
    r->ev[e].expires_ms = r->lane[to] == 6 ? r->lane_expires[to] : -1;
    /* what the receiver now knows the sender has acknowledged */
    struct xseg d;
    if ((s->flags & (XF_ACK | XF_RST)) == XF_ACK && x_parse(p, n, &d, NULL) == 0) {
        struct xconn *c = &r->conn[s->conn];
        if (!c->have_acked[to] || (int32_t)(d.ack - c->acked[to]) > 0) {
            c->acked[to] = d.ack;
            c->have_acked[to] = true;
        }
    }
}

/* Which incarnation of the tuple a new segment belongs to, and its
 * sequence numbers relative to that incarnation's ISNs. */
static void assign_conn(struct xrun *r, struct xseg *s)
{
    int other = 1 - s->from;
    if ((s->flags & (XF_SYN | XF_ACK)) == XF_SYN && s->from == XH_CLIENT) {
        struct xconn *c = r->n_conn ? &r->conn[r->n_conn - 1] : NULL;
        if ((!c || c->isn[XH_CLIENT] != s->seq) && r->n_conn < X_MAX_CONN) {
            c = &r->conn[r->n_conn++];
            memset(c, 0, sizeof(*c));
            c->isn[XH_CLIENT] = s->seq;
            c->have_isn[XH_CLIENT] = true;
        }
    }
    s->conn = r->n_conn ? r->n_conn - 1 : 0;
    struct xconn *c = &r->conn[s->conn];
    if ((s->flags & (XF_SYN | XF_ACK)) == (XF_SYN | XF_ACK) && !c->have_isn[s->from]) {
        c->isn[s->from] = s->seq;
        c->have_isn[s->from] = true;
        c->nxt[s->from] = s->seq + 1;
    }
    s->rseq = c->have_isn[s->from] ? s->seq - c->isn[s->from] : s->seq;
    /* without the ACK flag the field means nothing (an RST answering a
     * segment without ACK carries 0): keep it raw */
    s->rack = c->have_isn[other] && (s->flags & XF_ACK) ? s->ack - c->isn[other] : s->ack;
    uint32_t end = s->seq + s->len + !!(s->flags & XF_SYN) + !!(s->flags & XF_FIN);
    if (!(s->flags & XF_RST) && (int32_t)(end - c->nxt[s->from]) > 0)
        c->nxt[s->from] = end;
    if ((s->flags & (XF_SYN | XF_ACK)) == XF_SYN && s->from == XH_CLIENT)
        c->nxt[XH_CLIENT] = end;
    for (int i = 0; i < s->id; i++) {
        const struct xseg *o = &r->seg[i];
        if (o->from == s->from && o->conn == s->conn && o->seq == s->seq &&
            o->flags == s->flags && (s->len || (s->flags & (XF_SYN | XF_FIN))))
            s->retrans = true;
    }
}

/* Was segment s, read in the burst that followed event cause, sent by a
 * kernel timer all the same?  A reply to a delivered segment is queued on
 * the tun before write() returns, so it is normally read in that burst; but
 * when this process is descheduled for longer than the delayed-ACK timer
 * (40 ms), a timer's segment is read in the same burst too.  The sender's
 * TSval tells them apart: it is the sender's CLOCK_MONOTONIC in ms plus a
 * per-connection offset, estimated from its earlier segments as the largest
 * TSval minus read time (read time is never before the sending). */
static bool sent_later_than(const struct xrun *r, const struct xseg *s, int cause)
{
    if (!s->has_ts || cause < 0)
        return false;
    bool have = false;
    int32_t off = 0;
    for (int i = 0; i < s->id; i++) {
        const struct xseg *o = &r->seg[i];
        if (o->from != s->from || o->conn != s->conn || !o->has_ts)
            continue;
        int32_t d = (int32_t)(o->tsval - (uint32_t)((r->t0 + o->sent_ns) / 1000000u));
        if (!have || d - off > 0)
            off = d;
        have = true;
    }
    if (!have)
        return false;
    uint32_t sent_ms = s->tsval - (uint32_t)off;
    uint32_t cause_ms = (uint32_t)((r->t0 + r->ev[cause].t_ns) / 1000000u);
    return (int32_t)(sent_ms - cause_ms) >= 20;
}

/* Read one packet from host h's tun; false when there is none. */
static bool relay_one(struct xrun *r, int h)
{
    uint8_t buf[65536];
    ssize_t n = read(r->tun[h], buf, sizeof(buf));
    if (n <= 0)
        return false;
    if (r->n_seg == X_MAX_SEG) {
        x_fail(r, "more than %d segments in one run", X_MAX_SEG);
        return false;
    }
    struct xseg *s = &r->seg[r->n_seg];
    memset(s, 0, sizeof(*s));
    if (x_parse(buf, (size_t)n, s, NULL) < 0)
        return true; /* not TCP: not relayed */
    s->id = r->n_seg++;
    s->from = h;
    s->pkt = malloc((size_t)n);
    if (!s->pkt) {
        r->n_seg--;
        x_fail(r, "out of memory");
        return false;
    }
    memcpy(s->pkt, buf, (size_t)n);
    s->pktlen = (size_t)n;
    assign_conn(r, s);
    int e = x_event(r, XE_SEND, h, s->id);
    if (e >= 0) {
        s->sent_ns = r->ev[e].t_ns;
        r->ev[e].timer = r->burst_cause < 0 || sent_later_than(r, s, r->burst_cause);
        if (r->pending_narr[h][0]) {
            memcpy(r->ev[e].narr, r->pending_narr[h], sizeof(r->ev[e].narr));
            r->pending_narr[h][0] = 0;
        }
    }
    x_sample(r, h, e);
    s->fate = apply_rules(r, s);
    switch (s->fate) {
    case XW_PASS:
    case XW_REPLAY: /* a rule replays nothing by itself: x_replay does */
        s->fate = XW_PASS;
        deliver(r, s, s->pkt, s->pktlen);
        break;
    case XW_DUP:
        deliver(r, s, s->pkt, s->pktlen);
        deliver(r, s, s->pkt, s->pktlen);
        break;
    case XW_HOLD:
        r->held[r->n_held++] = s->id;
        break;
    case XW_DROP:
        break;
    }
    return true;
}

/* Relay what is readable now, client first, until both are empty. */
static bool relay_ready(struct xrun *r)
{
    bool any = false, more = true;
    while (more && !r->failed) {
        more = false;
        for (int h = 0; h < XH_N; h++)
            while (!r->failed && relay_one(r, h))
                more = any = true;
    }
    return any;
}

struct until {
    int from;
    uint8_t mask, value;
    int first;       /* wait for a segment from `first` on: its id in found */
    int found;
    int acked_host;  /* or for everything acked_host sent to be acknowledged */
};

static bool until_met(struct xrun *r, struct until *u)
{
    if (u->acked_host >= 0) {
        if (!r->n_conn)
            return true;
        const struct xconn *c = &r->conn[r->n_conn - 1];
        int h = u->acked_host;
        return c->have_acked[h] && (int32_t)(c->acked[h] - c->nxt[h]) >= 0;
    }
    for (int i = u->first; i < r->n_seg; i++)
        if (r->seg[i].from == u->from && (r->seg[i].flags & u->mask) == u->value) {
            u->found = i;
            return true;
        }
    return false;
}

static void pump_until(struct xrun *r, uint64_t deadline_ns, struct until *u)
{
    for (;;) {
        r->burst_cause = -1; /* anything read now was sent by a kernel timer */
        relay_ready(r);
        if (u && until_met(r, u))
            return;
        uint64_t now = twx_now_ns();
        if (r->failed || now >= deadline_ns)
            return;
        struct pollfd pf[3] = {{.fd = r->tun[0], .events = POLLIN},
                               {.fd = r->tun[1], .events = POLLIN},
                               {.fd = r->sigfd, .events = POLLIN}};
        int ms = (int)((deadline_ns - now + 999999) / 1000000);
        if (poll(pf, 3, ms) < 0 && errno != EINTR) {
            x_fail(r, "poll: %s", strerror(errno));
            return;
        }
        struct signalfd_siginfo si;
        if (r->sigfd >= 0 && (pf[2].revents & POLLIN) &&
            read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            r->interrupted = (int)si.ssi_signo;
            x_fail(r, "interrupted by signal %d", r->interrupted);
            return;
        }
    }
}

void x_pump(struct xrun *r, int ms)
{
    pump_until(r, twx_now_ns() + (uint64_t)ms * 1000000, NULL);
}

bool x_wait_acked(struct xrun *r, int host, int timeout_ms)
{
    struct until u = {.acked_host = host};
    pump_until(r, twx_now_ns() + (uint64_t)timeout_ms * 1000000, &u);
    return until_met(r, &u);
}

void x_drain(struct xrun *r)
{
    r->burst_cause = r->n_ev - 1;
    relay_ready(r);
}

int x_wait_seg(struct xrun *r, int from, uint8_t mask, uint8_t value, int timeout_ms)
{
    struct until u = {.from = from, .mask = mask, .value = value, .first = r->n_seg,
                      .found = -1, .acked_host = -1};
    pump_until(r, twx_now_ns() + (uint64_t)timeout_ms * 1000000, &u);
    return u.found;
}

/* Deliver s now, first moved into the current connection's window if asked. */
static void deliver_late(struct xrun *r, struct xseg *s, bool move)
{
    r->burst_cause = r->n_ev - 1;
    if (!move || !r->n_conn) {
        deliver(r, s, s->pkt, s->pktlen);
        return;
    }
    const struct xconn *c = &r->conn[r->n_conn - 1];
    free(s->dpkt);
    s->dpkt = malloc(s->pktlen);
    if (!s->dpkt) {
        x_fail(r, "out of memory");
        return;
    }
    memcpy(s->dpkt, s->pkt, s->pktlen);
    s->dpktlen = s->pktlen;
    size_t off;
    struct xseg tmp;
    x_parse(s->dpkt, s->dpktlen, &tmp, &off);
    uint32_t nseq = c->nxt[s->from], nack = c->nxt[1 - s->from];
    s->moved = (int32_t)(nseq - s->seq);
    s->moved_ack = (int32_t)(nack - s->ack);
    put32(s->dpkt + off + 4, nseq);
    put32(s->dpkt + off + 8, nack);
    x_tcp_csum(s->dpkt, s->dpktlen);
    deliver(r, s, s->dpkt, s->dpktlen);
}

void x_release(struct xrun *r, int id, bool move)
{
    int k;
    for (k = 0; k < r->n_held && r->held[k] != id; k++)
        ;
    if (k == r->n_held)
        return;
    memmove(&r->held[k], &r->held[k + 1], (size_t)(r->n_held - k - 1) * sizeof(int));
    r->n_held--;
    deliver_late(r, &r->seg[id], move);
}

void x_replay(struct xrun *r, int id, bool move)
{
    if (id < 0 || id >= r->n_seg || r->seg[id].n_deliv != 1)
        return;
    r->seg[id].fate = XW_REPLAY;
    deliver_late(r, &r->seg[id], move);
}
