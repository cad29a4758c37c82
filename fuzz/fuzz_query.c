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
 * exactly when tw_query_match does.  /0 prefixes are left out: how a /0 of
 * one family treats sockets of the other is a known disagreement covered
 * by tests/unit/test_netlink.c (bytecode.prefix_zero_as_the_kernel_runs_it).
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

static bool valid_cc(const uint8_t *bc, int len, int cc)
{
    while (len >= 0) {
        struct inet_diag_bc_op op;
        if (cc > len)
            return false;
        if (cc == len)
            return true;
        memcpy(&op, bc, sizeof(op));
        if (op.yes < 4 || op.yes & 3)
            return false;
        len -= op.yes;
        bc += op.yes;
    }
    return false;
}

static bool audit(const uint8_t *prog, int total)
{
    const uint8_t *bc = prog;
    int len = total;
    while (len > 0) {
        struct inet_diag_bc_op op;
        if (len < 4)
            return false;
        memcpy(&op, bc, sizeof(op));
        int min_len = 4;
        switch (op.code) {
        case INET_DIAG_BC_S_COND:
        case INET_DIAG_BC_D_COND: {
            struct inet_diag_hostcond hc;
            min_len += (int)sizeof(hc);
            if (len < min_len)
                return false;
            memcpy(&hc, bc + 4, sizeof(hc));
            int alen = hc.family == AF_INET ? 4 : hc.family == AF_INET6 ? 16 : hc.family ? -1 : 0;
            if (alen < 0 || len < min_len + alen || hc.prefix_len > 8 * alen)
                return false;
            min_len += alen;
            break;
        }
        case INET_DIAG_BC_S_GE:
        case INET_DIAG_BC_S_LE:
        case INET_DIAG_BC_D_GE:
        case INET_DIAG_BC_D_LE:
        case INET_DIAG_BC_S_EQ:
        case INET_DIAG_BC_D_EQ:
            min_len += 4;
            if (len < min_len)
                return false;
            break;
        case INET_DIAG_BC_AUTO:
        case INET_DIAG_BC_JMP:
        case INET_DIAG_BC_NOP:
            break;
        default:
            return false;
        }
        if (op.code != INET_DIAG_BC_NOP) {
            if (op.no < min_len || op.no > len + 4 || (op.no & 3))
                return false;
            if (op.no < len && !valid_cc(prog, total, len - op.no))
                return false;
        }
        if (op.yes < min_len || op.yes > len + 4 || (op.yes & 3))
            return false;
        bc += op.yes;
        len -= op.yes;
    }
    return len == 0;
}

static bool bits_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rem = bits % 8;
    if (memcmp(a, b, full))
        return false;
    return !rem || !((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rem)));
}

static bool run(const uint8_t *bc, int len, const struct tw_sock *s)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    while (len > 0) {
        struct inet_diag_bc_op op, arg;
        bool yes = true;
        memcpy(&op, bc, sizeof(op));
        switch (op.code) {
        case INET_DIAG_BC_JMP:
            yes = false;
            break;
        case INET_DIAG_BC_S_GE:
        case INET_DIAG_BC_S_LE:
        case INET_DIAG_BC_D_GE:
        case INET_DIAG_BC_D_LE: {
            memcpy(&arg, bc + 4, sizeof(arg));
            bool src = op.code == INET_DIAG_BC_S_GE || op.code == INET_DIAG_BC_S_LE;
            unsigned port = src ? s->lport : s->rport;
            yes = op.code == INET_DIAG_BC_S_GE || op.code == INET_DIAG_BC_D_GE ? port >= arg.no
                                                                                 : port <= arg.no;
            break;
        }
        case INET_DIAG_BC_S_COND:
        case INET_DIAG_BC_D_COND: {
            struct inet_diag_hostcond hc;
            memcpy(&hc, bc + 4, sizeof(hc));
            const uint8_t *caddr = bc + 4 + sizeof(hc);
            const struct tw_addr *a = op.code == INET_DIAG_BC_S_COND ? &s->laddr : &s->raddr;
            unsigned port = op.code == INET_DIAG_BC_S_COND ? s->lport : s->rport;
            if (hc.port != -1 && hc.port != (int)port) {
                yes = false;
                break;
            }
            if (hc.family != AF_UNSPEC && hc.family != a->family) {
                if (a->family == AF_INET6 && hc.family == AF_INET &&
                    !memcmp(a->u.b, mapped, 12) && bits_eq(a->u.b + 12, caddr, hc.prefix_len))
                    break;
                yes = false;
                break;
            }
            if (hc.prefix_len)
                yes = bits_eq(a->u.b, caddr, hc.prefix_len);
            break;
        }
        default:
            abort(); /* tw__bc_compile emits nothing else */
        }
        len -= yes ? op.yes : op.no;
        bc += yes ? op.yes : op.no;
    }
    return len == 0;
}

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
    c->prefix = (uint8_t)(1 + u8(r) % max);
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
    if (n && !audit(bc, n))
        abort();
    if ((n == 0 || run(bc, n, &s)) != tw_query_match(&q, &s))
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
