/*
 * test_explain.c — unit tests of `twkit explain` without a kernel: the
 * wire's packet parser and checksum, and the renderers (ladder, SVG,
 * pcapng, JSON) on runs built here by hand, with every mark the wire can
 * make (drop, hold, duplicate, moved sequence numbers, crossings).  The
 * renderers' files are included directly: they are internal to the
 * command.  The scenarios themselves are checked against the real kernel
 * by tests/integration/explain_*.sh.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/explain/diag.c"
#include "../../src/explain/json.c"
#include "../../src/explain/ladder.c"
#include "../../src/explain/layout.c"
#include "../../src/explain/narrate.c"
#include "../../src/explain/pcapng.c"
#include "../../src/explain/run.c"
#include "../../src/explain/svg.c"
#include "../../src/explain/wire.c"
#include "twx/json.h"

/* ---- packets ------------------------------------------------------------------------ */

/* An IPv4 (or IPv6) TCP packet with the timestamp option and len bytes of
 * 'x'; the checksum is left as x_tcp_csum makes it. */
static size_t mkpkt(uint8_t *p, bool v6, uint8_t flags, uint32_t seq, uint32_t ack, int len,
                    uint32_t tsval)
{
    size_t ip = v6 ? 40 : 20, tcp = 32, n = ip + tcp + (size_t)len;
    memset(p, 0, n);
    if (v6) {
        p[0] = 0x60;
        p[4] = (uint8_t)((tcp + (size_t)len) >> 8);
        p[5] = (uint8_t)(tcp + (size_t)len);
        p[6] = IPPROTO_TCP;
        p[7] = 64;
        inet_pton(AF_INET6, "2001:2::1", p + 8);
        inet_pton(AF_INET6, "2001:2::2", p + 24);
    } else {
        p[0] = 0x45;
        p[2] = (uint8_t)(n >> 8);
        p[3] = (uint8_t)n;
        p[8] = 64;
        p[9] = IPPROTO_TCP;
        inet_pton(AF_INET, "198.18.0.1", p + 12);
        inet_pton(AF_INET, "198.18.0.2", p + 16);
    }
    uint8_t *t = p + ip;
    t[0] = 40000 >> 8, t[1] = 40000 & 255, t[2] = 0, t[3] = 80;
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = (uint8_t)((tcp / 4) << 4);
    t[13] = flags;
    t[14] = 0xfa, t[15] = 0xf0;
    /* NOP NOP TS(10) + MSS(4) + NOP NOP */
    uint8_t *o = t + 20;
    o[0] = 1, o[1] = 1, o[2] = 8, o[3] = 10;
    put32(o + 4, tsval);
    put32(o + 8, 0);
    memset(t + tcp, 'x', (size_t)len);
    x_tcp_csum(p, n);
    return n;
}

/* One's-complement sum of the pseudo-header and segment: 0xffff when the
 * checksum is right (computed here independently of x_tcp_csum). */
static unsigned csum_check(const uint8_t *p, size_t n)
{
    bool v6 = p[0] >> 4 == 6;
    size_t ip = v6 ? 40 : (size_t)(p[0] & 15) * 4, tlen = n - ip;
    uint32_t s = 0;
    const uint8_t *src = p + (v6 ? 8 : 12);
    for (size_t i = 0; i < (v6 ? 32u : 8u); i += 2)
        s += (uint32_t)(src[i] << 8 | src[i + 1]);
    s += IPPROTO_TCP + (uint32_t)tlen;
    for (size_t i = 0; i < tlen; i += 2)
        s += (uint32_t)(p[ip + i] << 8 | (i + 1 < tlen ? p[ip + i + 1] : 0));
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return s;
}

Test(explain, parse_ipv4)
{
    uint8_t p[200];
    size_t n = mkpkt(p, false, XF_PSH | XF_ACK, 1000, 2000, 5, 777);
    struct xseg s;
    size_t off;
    cr_assert_eq(x_parse(p, n, &s, &off), 0);
    cr_assert_eq(off, 20);
    cr_assert_eq(s.seq, 1000);
    cr_assert_eq(s.ack, 2000);
    cr_assert_eq(s.len, 5);
    cr_assert_eq(s.flags, XF_PSH | XF_ACK);
    cr_assert(s.has_ts);
    cr_assert_eq(s.tsval, 777);
    cr_assert_eq(s.win, 0xfaf0);
}

Test(explain, parse_ipv6)
{
    uint8_t p[200];
    size_t n = mkpkt(p, true, XF_SYN, 7, 0, 0, 9);
    struct xseg s;
    size_t off;
    cr_assert_eq(x_parse(p, n, &s, &off), 0);
    cr_assert_eq(off, 40);
    cr_assert_eq(s.seq, 7);
    cr_assert_eq(s.len, 0);
    cr_assert_eq(s.flags, XF_SYN);
}

Test(explain, parse_refuses_what_is_not_tcp)
{
    uint8_t p[200];
    size_t n = mkpkt(p, false, XF_ACK, 1, 1, 0, 1);
    struct xseg s;
    p[9] = IPPROTO_UDP;
    cr_assert_eq(x_parse(p, n, &s, NULL), -1, "UDP");
    mkpkt(p, false, XF_ACK, 1, 1, 0, 1);
    cr_assert_eq(x_parse(p, 19, &s, NULL), -1, "shorter than an IP header");
    cr_assert_eq(x_parse(p, n - 1, &s, NULL), -1, "IP length beyond the read");
    p[20 + 12] = 0x40; /* data offset 16 bytes: below the TCP minimum */
    cr_assert_eq(x_parse(p, n, &s, NULL), -1, "bad data offset");
    mkpkt(p, false, XF_ACK, 1, 1, 0, 1);
    p[0] = 0x35; /* version 3 */
    cr_assert_eq(x_parse(p, n, &s, NULL), -1, "not IPv4 or IPv6");
    mkpkt(p, true, XF_ACK, 1, 1, 0, 1);
    p[6] = 58; /* ICMPv6 */
    cr_assert_eq(x_parse(p, 72, &s, NULL), -1, "ICMPv6");
}

Test(explain, checksum_after_moving_sequence_numbers)
{
    uint8_t p[200];
    for (int v6 = 0; v6 < 2; v6++)
        for (int len = 0; len < 4; len++) { /* odd and even lengths */
            size_t n = mkpkt(p, v6, XF_PSH | XF_ACK, 1, 1, len, 5);
            cr_assert_eq(csum_check(p, n), 0xffff);
            size_t off = v6 ? 40 : 20;
            put32(p + off + 4, 0xdeadbeef);
            cr_assert_neq(csum_check(p, n), 0xffff, "a changed seq breaks the checksum");
            x_tcp_csum(p, n);
            cr_assert_eq(csum_check(p, n), 0xffff, "v6=%d len=%d", v6, len);
        }
}

/* ---- a run built by hand ------------------------------------------------------------- */

static void none(struct xrun *r)
{
    (void)r;
}

static const struct xvariant test_variant = {"by-hand", "built by the unit test", {{NULL}},
                                             none};
static const struct xscen test_scen = {"unit", "a run with every mark the wire makes",
                                       &test_variant, 1};

static uint64_t clock_ns;

static int ev(struct xrun *r, enum x_ev_kind k, int host, int seg)
{
    int e = r->n_ev++;
    memset(&r->ev[e], 0, sizeof(r->ev[e]));
    r->ev[e].kind = k;
    r->ev[e].host = host;
    r->ev[e].seg = seg;
    r->ev[e].cause = -1;
    r->ev[e].expires_ms = r->ev[e].expires_before = -1;
    r->ev[e].t_ns = (clock_ns += 1500000);
    return e;
}

static void state(struct xrun *r, int host, int from, int to, int cause)
{
    int e = ev(r, XE_STATE, host, -1);
    r->ev[e].from = from;
    r->ev[e].to = to;
    r->ev[e].cause = cause;
}

/* A segment sent by from; fate decides its deliveries (dup: two, hold: one
 * later, by deliver_held). */
static int seg(struct xrun *r, int from, uint8_t flags, uint32_t rseq, uint32_t rack, int len,
               enum x_fate fate)
{
    struct xseg *s = &r->seg[r->n_seg];
    memset(s, 0, sizeof(*s));
    s->id = r->n_seg++;
    s->from = from;
    s->pkt = malloc(200);
    s->pktlen = mkpkt(s->pkt, r->family == AF_INET6, flags, 1000 + rseq, 5000 + rack, len, 1);
    x_parse(s->pkt, s->pktlen, s, NULL);
    s->rseq = rseq;
    s->rack = rack;
    s->fate = fate;
    int e = ev(r, XE_SEND, from, s->id);
    s->sent_ns = r->ev[e].t_ns;
    if (fate == XW_PASS || fate == XW_DUP) {
        for (int k = 0; k < (fate == XW_DUP ? 2 : 1); k++) {
            int d = ev(r, XE_DELIVER, 1 - from, s->id);
            s->deliv_ns[s->n_deliv++] = r->ev[d].t_ns;
        }
    }
    return s->id;
}

static void deliver_held(struct xrun *r, int id, int64_t moved)
{
    struct xseg *s = &r->seg[id];
    s->moved = moved;
    int d = ev(r, XE_DELIVER, 1 - s->from, id);
    s->deliv_ns[s->n_deliv++] = r->ev[d].t_ns;
}

static void app(struct xrun *r, int host, const char *call, const char *result, const char *narr)
{
    int e = ev(r, XE_APP, host, -1);
    snprintf(r->ev[e].text, sizeof(r->ev[e].text), "%s", call);
    snprintf(r->ev[e].result, sizeof(r->ev[e].result), "%s", result);
    snprintf(r->ev[e].narr, sizeof(r->ev[e].narr), "%s", narr);
}

static struct xrun *by_hand(int family)
{
    struct xrun *r = calloc(1, sizeof(*r));
    cr_assert_not_null(r);
    r->sc = &test_scen;
    r->v = &test_variant;
    r->family = family;
    for (int h = 0; h < XH_N; h++) {
        snprintf(r->addr[h], sizeof(r->addr[h]), family == AF_INET6 ? "2001:2::%d"
                                                                    : "198.18.0.%d", h + 1);
        r->port[h] = h ? 80 : 40000;
    }
    snprintf(r->kernel, sizeof(r->kernel), "6.18.0-test");
    clock_ns = 0;
    app(r, XH_SERVER, "listen() on port 80", "0", "The server listens <here> & \"there\".");
    state(r, XH_SERVER, XS_NONE, XS_LISTEN_ONLY, r->n_ev - 1);
    app(r, XH_CLIENT, "connect()", "0", "connect() sends a SYN.");
    seg(r, XH_CLIENT, XF_SYN, 0, 0, 0, XW_PASS);
    state(r, XH_SERVER, XS_LISTEN_ONLY, 3, r->n_ev - 1);
    seg(r, XH_SERVER, XF_SYN | XF_ACK, 0, 1, 0, XW_PASS);
    state(r, XH_CLIENT, XS_NONE, 1, r->n_ev - 1);
    int held = seg(r, XH_CLIENT, XF_PSH | XF_ACK, 1, 1, 3, XW_HOLD); /* held a while */
    seg(r, XH_SERVER, XF_PSH | XF_ACK, 1, 1, 5, XW_HOLD);            /* crosses it */
    deliver_held(r, 1 + held, 0);
    seg(r, XH_CLIENT, XF_ACK, 4, 6, 0, XW_DROP);
    seg(r, XH_CLIENT, XF_PSH | XF_ACK, 1, 6, 3, XW_DUP);
    app(r, XH_SERVER,
        "a call with a result long enough to wrap inside the gap between the lanes",
        "EADDRNOTAVAIL", "");
    int n = ev(r, XE_NOTE, -1, -1);
    snprintf(r->ev[n].text, sizeof(r->ev[n].text), "twkit waits");
    deliver_held(r, held, 65537);
    int rep = seg(r, XH_SERVER, XF_ACK, 6, 4, 0, XW_PASS); /* replayed below */
    r->seg[rep].fate = XW_REPLAY;
    app(r, XH_CLIENT, "recv()", "3 \"abc\"", "");
    deliver_held(r, rep, 0);
    seg(r, XH_CLIENT, XF_PSH | XF_ACK, 4000000000u, 4000000000u, 3,
        XW_PASS);                                           /* a label too long to draw */
    state(r, XH_CLIENT, 1, 6, -1);                         /* a timer's change */
    r->exp[r->n_exp++] = (struct xexpect){true, "the client goes somewhere", "somewhere"};
    r->exp[r->n_exp++] = (struct xexpect){false, "the kernel disagrees here", "it did not"};
    r->count[r->n_count++] = (struct xcount){XH_CLIENT, TW_C_TW, 1};
    x_narrate(r);
    return r;
}

static void free_run(struct xrun *r)
{
    for (int s = 0; s < r->n_seg; s++) {
        free(r->seg[s].pkt);
        free(r->seg[s].dpkt);
    }
    free(r);
}

static char *render_ladder(const struct xrun *r, bool ascii, bool color, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    struct xview v = {.ascii = ascii, .color = color};
    x_render_ladder(f, r, &v);
    fclose(f);
    return buf;
}

/* Display columns of a line: UTF-8 characters, colour sequences skipped. */
static int columns(const char *s, size_t n)
{
    int cols = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\033') {
            while (i < n && s[i] != 'm')
                i++;
            continue;
        }
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            cols++;
    }
    return cols;
}

/* The character at display column col of a line (colour skipped). */
static bool char_at(const char *s, size_t n, int col, char out[5])
{
    int c = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '\033') {
            while (i < n && s[i] != 'm')
                i++;
            i++;
            continue;
        }
        size_t k = 1;
        while (i + k < n && ((unsigned char)s[i + k] & 0xc0) == 0x80)
            k++;
        if (c++ == col) {
            memcpy(out, s + i, k);
            out[k] = 0;
            return true;
        }
        i += k;
    }
    return false;
}

static bool is_lane(const char *g)
{
    static const char *const lanes[] = {"│", "├", "┤", "●", "⊗", "|", "+", "*", "x"};
    for (size_t i = 0; i < sizeof(lanes) / sizeof(lanes[0]); i++)
        if (!strcmp(g, lanes[i]))
            return true;
    return false;
}

static void assert_fits(const char *out)
{
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        cr_assert_leq(columns(p, n), 79, "too wide: %.*s", (int)n, p);
        /* a diagram row has both lanes in their columns */
        char left[5], right[5];
        if (char_at(p, n, 26, left) && is_lane(left))
            cr_assert(char_at(p, n, 66, right) && is_lane(right),
                      "the server's lane moved: %.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

Test(explain, ladder_fits_79_columns_with_every_mark)
{
    struct xrun *r = by_hand(AF_INET);
    size_t len;
    char *out = render_ladder(r, false, false, &len);
    assert_fits(out);
    cr_assert(strstr(out, "✗"), "a dropped segment is marked");
    cr_assert(strstr(out, "┆"), "a held segment's flight is dotted");
    cr_assert(strstr(out, "┼"), "crossing segments cross");
    cr_assert(strstr(out, " duplicate "), "the wire's copy is marked");
    cr_assert(strstr(out, " seq moved "), "a moved segment is marked");
    cr_assert(strstr(out, " replayed "), "the wire's replay is marked");
    cr_assert(strstr(out, "kept"), "a segment the wire keeps a copy of is marked");
    cr_assert(strstr(out, "SYN,ACK seq=0 ack=1"), "flags, seq and ack on the arrow");
    cr_assert(strstr(out, "len=3"), "the length on the arrow");
    cr_assert(strstr(out, "EADDRNOTAVAIL"), "the whole result, wrapped, not cut");
    cr_assert(strstr(out, "segment #7: PSH,ACK seq=4000000000 ack=4000000000 len=3"),
              "a label too long for the arrow is written whole below");
    cr_assert(strstr(out, "(a kernel timer)"), "a state change between samples has a row");
    cr_assert(strstr(out, "TIME_WAIT"), "the state beside the lane");
    cr_assert(strstr(out, "✗ the kernel disagrees here (it did not)"));
    cr_assert(strstr(out, "Client counters: TW +1"));
    cr_assert_null(strchr(out, '\033'), "no colour unless asked");
    free(out);
    free_run(r);
}

Test(explain, ladder_ascii_is_ascii)
{
    struct xrun *r = by_hand(AF_INET6);
    size_t len;
    char *out = render_ladder(r, true, false, &len);
    for (size_t i = 0; i < len; i++)
        cr_assert_lt((unsigned char)out[i], 128, "byte %zu is not ASCII", i);
    assert_fits(out);
    cr_assert(strstr(out, "X"), "the drop mark");
    cr_assert(strstr(out, "[2001:2::1]:40000"), "IPv6 addresses in brackets");
    free(out);
    free_run(r);
}

Test(explain, ladder_colour_does_not_widen)
{
    struct xrun *r = by_hand(AF_INET);
    size_t len;
    char *out = render_ladder(r, false, true, &len);
    cr_assert(strstr(out, "\033["), "colour when asked");
    assert_fits(out);
    free(out);
    free_run(r);
}

Test(explain, narration_numbers_steps_and_explains_timers)
{
    struct xrun *r = by_hand(AF_INET);
    int last = 0;
    for (int i = 0; i < r->n_ev; i++)
        if (r->ev[i].step) {
            cr_assert_eq(r->ev[i].step, last + 1, "steps are numbered in order");
            cr_assert(r->ev[i].narr[0]);
            last = r->ev[i].step;
        }
    cr_assert_eq(last, r->n_steps);
    bool timer = false;
    for (int i = 0; i < r->n_ev; i++)
        if (r->ev[i].kind == XE_STATE && r->ev[i].cause < 0)
            timer = strstr(r->ev[i].narr, "kernel timer") != NULL;
    cr_assert(timer, "a change no event caused is said to be a timer's");
    free_run(r);
}

Test(explain, svg_escapes_and_refers_to_nothing_outside)
{
    struct xrun *r = by_hand(AF_INET);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const struct xrun *runs[] = {r};
    cr_assert_eq(x_render_svg(f, runs, 1), 0);
    fclose(f);
    cr_assert(strstr(buf, "listens &lt;here&gt; &amp; &quot;there&quot;."));
    cr_assert_null(strstr(buf, "<here>"));
    cr_assert_null(strstr(buf, "<script"));
    cr_assert_null(strstr(buf, "href"), "no external reference");
    cr_assert(strstr(buf, "stroke-dasharray"), "the held segment is dashed");
    cr_assert(strstr(buf, "</svg>\n"));
    free(buf);
    free_run(r);
}

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

Test(explain, pcapng_blocks_and_captures)
{
    struct xrun *a = by_hand(AF_INET), *b = by_hand(AF_INET6);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const struct xrun *runs[] = {a, b};
    cr_assert_eq(x_render_pcapng(f, runs, 2), 0);
    fclose(f);
    const unsigned char *p = (const unsigned char *)buf;
    cr_assert_eq(rd32(p), 0x0A0D0D0A, "a section header first");
    cr_assert_eq(rd32(p + 8), 0x1A2B3C4D);
    int idb = 0, epb = 0, want = 0;
    uint64_t last_ts = 0;
    for (const struct xrun *r = a; r; r = r == a ? b : NULL)
        for (int i = 0; i < r->n_ev; i++)
            want += r->ev[i].kind == XE_SEND || r->ev[i].kind == XE_DELIVER;
    for (size_t off = 0; off < len;) {
        uint32_t type = rd32(p + off), total = rd32(p + off + 4);
        cr_assert_geq(total, 12);
        cr_assert_eq(total % 4, 0, "blocks are padded to 32 bits");
        cr_assert_leq(off + total, len);
        cr_assert_eq(rd32(p + off + total - 4), total, "both length fields agree");
        if (type == 1)
            idb++;
        if (type == 6) {
            epb++;
            cr_assert_lt(rd32(p + off + 8), 4, "an interface of the file");
            uint64_t ts = (uint64_t)rd32(p + off + 12) << 32 | rd32(p + off + 16);
            if (rd32(p + off + 8) / 2 == 0)
                cr_assert_geq(ts, last_ts, "a run's captures are in time order");
            last_ts = ts;
            uint32_t caplen = rd32(p + off + 20);
            cr_assert_eq(caplen, rd32(p + off + 24));
            struct xseg s;
            cr_assert_eq(x_parse(p + off + 28, caplen, &s, NULL), 0, "a whole TCP packet");
        }
        off += total;
    }
    cr_assert_eq(idb, 4, "two interfaces per run");
    cr_assert_eq(epb, want, "one capture per send and per delivery");
    free(buf);
    free_run(a);
    free_run(b);
}

Test(explain, json_has_every_segment_and_event)
{
    struct xrun *r = by_hand(AF_INET);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct twx_json j;
    twx_json_init(&j, f, false);
    x_render_json_run(&j, r);
    twx_json_end(&j);
    fclose(f);
    int segs = 0, events = 0;
    for (const char *p = buf; (p = strstr(p, "\"sent_ns\"")); p++)
        segs++;
    for (const char *p = buf; (p = strstr(p, "\"t_ns\"")); p++)
        events++;
    cr_assert_eq(segs, r->n_seg);
    cr_assert_eq(events, r->n_ev);
    cr_assert(strstr(buf, "\"wire\":\"drop\""));
    cr_assert(strstr(buf, "\"wire\":\"hold\""));
    cr_assert(strstr(buf, "\"wire\":\"duplicate\""));
    cr_assert(strstr(buf, "\"wire\":\"replay\""));
    cr_assert(strstr(buf, "\"moved_seq\":65537"));
    cr_assert(strstr(buf, "\"ok\":false"), "a disagreement makes the run not ok");
    cr_assert(strstr(buf, "\\\"there\\\""), "strings are escaped");
    free(buf);
    free_run(r);
}

Test(explain, names)
{
    char b[32];
    cr_assert_str_eq(x_flags_str(XF_SYN | XF_ACK, b, sizeof(b)), "SYN,ACK");
    cr_assert_str_eq(x_flags_str(XF_FIN | XF_PSH | XF_ACK, b, sizeof(b)), "FIN,PSH,ACK");
    cr_assert_str_eq(x_flags_str(0, b, sizeof(b)), "none");
    cr_assert_str_eq(x_state_name(6), "TIME_WAIT");
    cr_assert_str_eq(x_state_name(XS_NONE), "CLOSED");
    cr_assert_str_eq(x_state_name(XS_LISTEN_ONLY), "LISTEN");
    cr_assert_str_eq(x_state_name(99), "?");
}

Test(explain, wrap_keeps_every_character_whole)
{
    /* 40 three-byte characters and spaces: lines longer than 96 bytes */
    char text[600] = "", lines[16][X_WRAP_LINE], joined[700] = "";
    for (int i = 0; i < 40; i++)
        strcat(text, i % 5 == 4 ? "§ " : "§§§");
    strcat(text, "end");
    for (int width = 10; width <= 118; width += 27) {
        int n = x_wrap(text, width, lines, 16);
        joined[0] = 0;
        for (int i = 0; i < n; i++) {
            int cols = 0;
            for (const char *p = lines[i]; *p; p++)
                cols += ((unsigned char)*p & 0xc0) != 0x80;
            cr_assert_leq(cols, width, "line %d is %d columns wide", i, cols);
            size_t len = strlen(lines[i]);
            cr_assert(len == 0 || ((unsigned char)lines[i][len - 1] & 0xc0) != 0xc0,
                      "no sequence cut at the end of a line");
            strcat(joined, lines[i]);
        }
        /* a word longer than the width is broken: compare without spaces */
        char a[600], b[700];
        size_t na = 0, nb = 0;
        for (const char *p = text; *p; p++)
            if (*p != ' ')
                a[na++] = *p;
        for (const char *p = joined; *p; p++)
            if (*p != ' ')
                b[nb++] = *p;
        a[na] = b[nb] = 0;
        cr_assert_str_eq(b, a, "width %d: nothing lost", width);
    }
    cr_assert_eq(x_wrap(text, 10, lines, 3), 3, "no more than max lines");
}
