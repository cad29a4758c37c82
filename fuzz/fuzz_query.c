/*
 * fuzz_query.c — libFuzzer harness for the command-line value parsers of
 * lib/query.c (tw_parse_cidr, tw_parse_port_range, tw_state_parse,
 * tw_parse_u64, tw_parse_addr) and for the inet_diag bytecode compiler
 * (tw__bc_compile, lib/src_netlink.c).
 *
 * The first byte picks the target; parsers get the rest as a NUL-terminated
 * heap copy.  Parser contracts: 0 or TW_EBADOPT only; a CIDR has its host
 * bits cleared and a prefix within the family, and its printed form parses
 * back to itself; a port range has lo <= hi; a state mask is a non-empty
 * subset of the 12 states; a number lies within [min, max]; an address
 * prints and parses back to itself.
 *
 * Bytecode (selector 5): the bytes describe a socket and a query (port
 * ranges, up to three source and three destination CIDRs as tw_parse_cidr
 * makes them).  The compiled program must pass a model of the kernel's
 * verifier (inet_diag_bc_audit) and, run by a model of the kernel's
 * interpreter (inet_diag_bc_run, net/ipv4/inet_diag.c), select the socket
 * exactly when tw_query_match does.  The model is shared with
 * tests/unit/test_netlink.c (tests/bc_model.h).
 */
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/error.h>
#include <twkit/sock.h>

#include "internal.h"

/* ---- a model of the kernel's verifier and interpreter ----------------------- */

#include "../tests/bc_model.h"

/* ---- reading the fuzz input ------------------------------------------------ */

struct rd {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint16_t u16(struct rd *r)
{
    return (uint16_t)(u8(r) << 8 | u8(r));
}

static void clear_host_bits(struct tw_cidr *c)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned bit = i * 8;
        if (bit >= c->prefix)
            c->addr.u.b[i] = 0;
        else if (bit + 8 > c->prefix)
            c->addr.u.b[i] &= (uint8_t)(0xff << (8 - (c->prefix - bit)));
    }
}

static void read_addr(struct rd *r, struct tw_addr *a, int fam, bool mapped)
{
    memset(a, 0, sizeof(*a));
    a->family = (uint8_t)fam;
    unsigned n = fam == AF_INET ? 4 : 16;
    for (unsigned i = 0; i < n; i++)
        a->u.b[i] = u8(r);
    if (mapped) {
        memset(a->u.b, 0, 10);
        a->u.b[10] = a->u.b[11] = 0xff;
    }
}

static void read_cidr(struct rd *r, const struct tw_sock *s, struct tw_cidr *c)
{
    uint8_t how = u8(r);
    memset(c, 0, sizeof(*c));
    int fam = how & 1 ? AF_INET6 : AF_INET;
    if (how & 2) {
        /* around one of the socket's addresses, or its v4-mapped tail */
        const struct tw_addr *a = how & 4 ? &s->raddr : &s->laddr;
        c->addr = *a;
        if (a->family == AF_INET6 && (how & 8)) {
            memset(&c->addr, 0, sizeof(c->addr));
            c->addr.family = AF_INET;
            memcpy(c->addr.u.b, a->u.b + 12, 4);
        }
    } else {
        read_addr(r, &c->addr, fam, false);
    }
    unsigned max = c->addr.family == AF_INET ? 32 : 128;
    c->prefix = (uint8_t)(u8(r) % (max + 1)); /* /0 included: it matches its own family only */
    clear_host_bits(c);
}

static void bytecode(struct rd *r)
{
    struct tw_sock s;
    memset(&s, 0, sizeof(s));
    s.state = TW_TIME_WAIT;
    uint8_t f = u8(r);
    int fam = f & 1 ? AF_INET6 : AF_INET;
    read_addr(r, &s.laddr, fam, fam == AF_INET6 && (f & 2));
    read_addr(r, &s.raddr, fam, fam == AF_INET6 && (f & 2));
    s.lport = u16(r);
    s.rport = u16(r);

    struct tw_query q;
    tw_query_init(&q);
    uint8_t g = u8(r);
    if (g & 1) {
        uint16_t a = u16(r), b = u16(r);
        q.sport_lo = a < b ? a : b;
        q.sport_hi = a < b ? b : a;
    }
    if (g & 2) {
        uint16_t a = u16(r), b = u16(r);
        q.dport_lo = a < b ? a : b;
        q.dport_hi = a < b ? b : a;
    }
    q.n_src = (g >> 2) & 3;
    q.n_dst = (g >> 4) & 3;
    for (unsigned i = 0; i < q.n_src; i++)
        read_cidr(r, &s, &q.src[i]);
    for (unsigned i = 0; i < q.n_dst; i++)
        read_cidr(r, &s, &q.dst[i]);

    uint8_t bc[1024];
    int n = tw__bc_compile(&q, bc, sizeof(bc));
    if (n < 0 || n % 4 || (n == 0) != !tw_query_filters(&q))
        abort();
    if (n && !model_audit(bc, n, NULL, 0))
        abort();
    if ((n == 0 || model_run(bc, n, &s)) != tw_query_match(&q, &s))
        abort();
}

/* ---- the parsers ------------------------------------------------------------- */

static void parsers(uint8_t sel, const char *t)
{
    switch (sel) {
    case 0: {
        struct tw_cidr c;
        int r = tw_parse_cidr(t, &c);
        if (r == TW_EBADOPT)
            break;
        if (r != 0)
            abort();
        unsigned max = c.addr.family == AF_INET ? 32 : c.addr.family == AF_INET6 ? 128 : 0;
        if (!max || c.prefix > max)
            abort();
        struct tw_cidr d = c;
        clear_host_bits(&d);
        if (memcmp(&c, &d, sizeof(c)))
            abort();
        char buf[80], a[64];
        snprintf(buf, sizeof(buf), "%s/%u", tw_addr_str(&c.addr, a, sizeof(a)), c.prefix);
        if (tw_parse_cidr(buf, &d) || memcmp(&c, &d, sizeof(c)))
            abort();
        break;
    }
    case 1: {
        uint16_t lo, hi;
        int r = tw_parse_port_range(t, &lo, &hi);
        if (r != 0 && r != TW_EBADOPT)
            abort();
        if (r == 0 && lo > hi)
            abort();
        break;
    }
    case 2: {
        unsigned m = 0;
        int r = tw_state_parse(t, &m);
        if (r != 0 && r != TW_EBADOPT)
            abort();
        if (r == 0 && (!m || (m & ~TW_STATES_ALL)))
            abort();
        break;
    }
    case 3: {
        uint64_t v;
        int r = tw_parse_u64(t, 10, 65535, &v);
        if (r != 0 && r != TW_EBADOPT)
            abort();
        if (r == 0 && (v < 10 || v > 65535))
            abort();
        r = tw_parse_u64(t, 0, UINT64_MAX, &v);
        if (r != 0 && r != TW_EBADOPT)
            abort();
        break;
    }
    default: {
        struct tw_addr a, b;
        int r = tw_parse_addr(t, &a);
        if (r != 0 && r != TW_EBADOPT)
            abort();
        if (r == 0) {
            char buf[64];
            if (tw_parse_addr(tw_addr_str(&a, buf, sizeof(buf)), &b) || memcmp(&a, &b, sizeof(a)))
                abort();
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0] % 6;
    if (sel == 5) {
        struct rd r = {data + 1, size - 1};
        bytecode(&r);
        return 0;
    }
    char *t = malloc(size);
    if (!t)
        return 0;
    memcpy(t, data + 1, size - 1);
    t[size - 1] = '\0';
    parsers(sel, t);
    free(t);
    return 0;
}
