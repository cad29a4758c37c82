/*
 * pcapng.c — `twkit explain --pcap FILE`: both hosts' captures of every
 * run in one pcapng file (draft-ietf-opsawg-pcapng), written by hand:
 * Debian 12's libpcap reads pcapng but writes only classic pcap, which has
 * no per-interface names, no packet direction and no comments.
 *
 * Layout: one Section Header Block; per run two Interface Description
 * Blocks (LINKTYPE_RAW: the tun devices carry bare IP packets; nanosecond
 * timestamps), "client" and "server"; then one Enhanced Packet Block per
 * capture in time order: each segment on its sender's interface when it
 * left (outbound) and on its receiver's interface when the wire delivered
 * it (inbound), as delivered (a moved old duplicate carries its new
 * sequence numbers).  Comments say what the wire did and carry the step's
 * sentence.  All multi-byte fields are in host byte order, as the format
 * allows (the byte-order magic tells readers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

enum { BT_SHB = 0x0A0D0D0A, BT_IDB = 1, BT_EPB = 6 };
enum { OPT_END = 0, OPT_COMMENT = 1, SHB_OS = 3, SHB_USERAPPL = 4, IF_NAME = 2,
       IF_DESCRIPTION = 3, IF_TSRESOL = 9, EPB_FLAGS = 2 };
#define LINKTYPE_RAW 101

struct blk {
    unsigned char *p;
    size_t len, cap;
    bool oom;
};

static void add(struct blk *b, const void *d, size_t n)
{
    if (b->oom || !n)
        return;
    if (b->len + n + 4 > b->cap) {
        size_t cap = (b->len + n + 4) * 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void u16(struct blk *b, uint16_t v)
{
    add(b, &v, 2);
}

static void u32(struct blk *b, uint32_t v)
{
    add(b, &v, 4);
}

static void pad(struct blk *b)
{
    static const unsigned char z[4];
    add(b, z, (4 - b->len % 4) % 4);
}

static void opt(struct blk *b, uint16_t code, const void *d, size_t n)
{
    u16(b, code);
    u16(b, (uint16_t)n);
    add(b, d, n);
    pad(b);
}

static void opt_str(struct blk *b, uint16_t code, const char *s)
{
    size_t n = strlen(s);
    opt(b, code, s, n > 65535 ? 65535 : n);
}

/* Start a block: type and a length to fill in at the end. */
static void begin(struct blk *b, uint32_t type)
{
    b->len = 0;
    u32(b, type);
    u32(b, 0);
}

static int finish(struct blk *b, FILE *f)
{
    opt(b, OPT_END, NULL, 0);
    uint32_t total = (uint32_t)b->len + 4;
    u32(b, total);
    if (b->oom)
        return -1;
    memcpy(b->p + 4, &total, 4);
    return fwrite(b->p, 1, b->len, f) == b->len ? 0 : -1;
}

static void idb(struct blk *b, const struct xrun *r, int h)
{
    begin(b, BT_IDB);
    u16(b, LINKTYPE_RAW);
    u16(b, 0);
    u32(b, 0); /* no snap length limit */
    opt_str(b, IF_NAME, h ? "server" : "client");
    char d[160];
    snprintf(d, sizeof(d), "%s:%s, %s host %s, tun0", r->sc->name, r->v->name,
             h ? "server" : "client", r->addr[h]);
    opt_str(b, IF_DESCRIPTION, d);
    unsigned char res = 9; /* nanoseconds */
    opt(b, IF_TSRESOL, &res, 1);
}

static int epb(struct blk *b, FILE *f, uint32_t ifc, uint64_t ts, const uint8_t *pkt, size_t n,
               bool outbound, const char *c1, const char *c2)
{
    begin(b, BT_EPB);
    u32(b, ifc);
    u32(b, (uint32_t)(ts >> 32));
    u32(b, (uint32_t)ts);
    u32(b, (uint32_t)n);
    u32(b, (uint32_t)n);
    add(b, pkt, n);
    pad(b);
    uint32_t flags = outbound ? 2 : 1;
    opt(b, EPB_FLAGS, &flags, 4);
    if (c1 && *c1)
        opt_str(b, OPT_COMMENT, c1);
    if (c2 && *c2)
        opt_str(b, OPT_COMMENT, c2);
    return finish(b, f);
}

static int run_packets(struct blk *b, FILE *f, const struct xrun *r, uint32_t base)
{
    for (int i = 0; i < r->n_ev; i++) {
        const struct xev *e = &r->ev[i];
        if (e->kind != XE_SEND && e->kind != XE_DELIVER)
            continue;
        const struct xseg *s = &r->seg[e->seg];
        char wire[96] = "", step[400] = "";
        if (e->step)
            snprintf(step, sizeof(step), "step %d: %s", e->step, e->narr);
        uint64_t ts = r->wall0_ns + e->t_ns;
        if (e->kind == XE_SEND) {
            if (s->fate == XW_DROP)
                snprintf(wire, sizeof(wire), "twkit wire: dropped");
            else if (s->fate == XW_HOLD)
                snprintf(wire, sizeof(wire), "twkit wire: held");
            else if (s->fate == XW_DUP)
                snprintf(wire, sizeof(wire), "twkit wire: duplicated");
            else if (s->fate == XW_REPLAY)
                snprintf(wire, sizeof(wire), "twkit wire: delivered, and replayed later");
            if (epb(b, f, base + (uint32_t)s->from, ts, s->pkt, s->pktlen, true, wire, step))
                return -1;
        } else {
            bool second = s->n_deliv == 2 && s->deliv_ns[1] == e->t_ns;
            if (s->fate == XW_HOLD)
                snprintf(wire, sizeof(wire), "twkit wire: held %.3f ms",
                         (double)(e->t_ns - s->sent_ns) / 1e6);
            if (s->moved && (s->fate != XW_REPLAY || second))
                snprintf(wire + strlen(wire), sizeof(wire) - strlen(wire),
                         ", sequence number moved %+lld, acknowledgment %+lld",
                         (long long)s->moved, (long long)s->moved_ack);
            if (second)
                snprintf(wire, sizeof(wire), s->fate == XW_REPLAY ? "twkit wire: the replayed copy"
                                                                   : "twkit wire: the duplicate copy");
            /* a replay moves only its copy */
            bool moved = s->dpkt && (s->fate != XW_REPLAY || second);
            const uint8_t *p = moved ? s->dpkt : s->pkt;
            size_t n = moved ? s->dpktlen : s->pktlen;
            if (epb(b, f, base + (uint32_t)(1 - s->from), ts, p, n, false, wire, step))
                return -1;
        }
    }
    return 0;
}

int x_render_pcapng(FILE *f, const struct xrun *const *runs, int n)
{
    struct blk b = {0};
    int rc = 0;
    begin(&b, BT_SHB);
    u32(&b, 0x1A2B3C4D);
    u16(&b, 1);
    u16(&b, 0);
    u32(&b, 0xFFFFFFFF); /* section length: not given */
    u32(&b, 0xFFFFFFFF);
    opt_str(&b, SHB_USERAPPL, "twkit explain " TW_VERSION);
    if (n) {
        char os[96];
        snprintf(os, sizeof(os), "Linux %s", runs[0]->kernel);
        opt_str(&b, SHB_OS, os);
    }
    rc = finish(&b, f);
    for (int i = 0; i < n && !rc; i++)
        for (int h = 0; h < XH_N && !rc; h++) {
            idb(&b, runs[i], h);
            rc = finish(&b, f);
        }
    for (int i = 0; i < n && !rc; i++)
        rc = run_packets(&b, f, runs[i], (uint32_t)(2 * i));
    free(b.p);
    return rc;
}
