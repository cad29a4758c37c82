/*
 * bc_model.h — a model of the kernel's inet_diag bytecode verifier
 * (inet_diag_bc_audit) and interpreter (inet_diag_bc_run), from
 * net/ipv4/inet_diag.c, for the tests and the fuzzer that check
 * tw__bc_compile's programs against tw_query_match.  Header-only, static.
 */
#ifndef TWKIT_TESTS_BC_MODEL_H
#define TWKIT_TESTS_BC_MODEL_H

#include <linux/inet_diag.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <twkit/sock.h>

/* inet_diag_bc_audit(): every op well formed, every jump lands on an op or at len / len+4. */
static bool model_valid_cc(const uint8_t *bc, int len, int cc)
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

/* why (may be NULL with whylen 0) gets the reason a program is refused. */
static bool model_audit(const uint8_t *prog, int total, char *why, size_t whylen)
{
    const uint8_t *bc = prog;
    int len = total;
    while (len > 0) {
        struct inet_diag_bc_op op;
        if (len < 4) {
            snprintf(why, whylen, "partial op at %d", total - len);
            return false;
        }
        memcpy(&op, bc, sizeof(op));
        int min_len = 4;
        switch (op.code) {
        case INET_DIAG_BC_S_COND:
        case INET_DIAG_BC_D_COND: {
            struct inet_diag_hostcond hc;
            min_len += (int)sizeof(hc);
            if (len < min_len) {
                snprintf(why, whylen, "hostcond cut at %d", total - len);
                return false;
            }
            memcpy(&hc, bc + 4, sizeof(hc));
            int alen = hc.family == AF_INET ? 4 : hc.family == AF_INET6 ? 16 : hc.family ? -1 : 0;
            if (alen < 0 || len < min_len + alen || hc.prefix_len > 8 * alen) {
                snprintf(why, whylen, "bad hostcond at %d", total - len);
                return false;
            }
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
            if (len < min_len) {
                snprintf(why, whylen, "port op cut at %d", total - len);
                return false;
            }
            break;
        case INET_DIAG_BC_AUTO:
        case INET_DIAG_BC_JMP:
        case INET_DIAG_BC_NOP:
            break;
        default:
            snprintf(why, whylen, "unknown op %u at %d", op.code, total - len);
            return false;
        }
        if (op.code != INET_DIAG_BC_NOP) {
            if (op.no < min_len || op.no > len + 4 || (op.no & 3)) {
                snprintf(why, whylen, "bad no=%u at %d (len %d)", op.no, total - len, len);
                return false;
            }
            if (op.no < len && !model_valid_cc(prog, total, len - op.no)) {
                snprintf(why, whylen, "no=%u at %d lands inside an op", op.no, total - len);
                return false;
            }
        }
        if (op.yes < min_len || op.yes > len + 4 || (op.yes & 3)) {
            snprintf(why, whylen, "bad yes=%u at %d (len %d)", op.yes, total - len, len);
            return false;
        }
        bc += op.yes;
        len -= op.yes;
    }
    if (len != 0) {
        snprintf(why, whylen, "ends at %d, not %d", total - len, total);
        return false;
    }
    return true;
}

static bool model_bits(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rem = bits % 8;
    if (memcmp(a, b, full))
        return false;
    return !rem || !((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rem)));
}

/* inet_diag_bc_run(): true when execution ends exactly at the end of the program. */
static bool model_run(const uint8_t *bc, int len, const struct tw_sock *s)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    while (len > 0) {
        struct inet_diag_bc_op op, arg;
        bool yes = true;
        memcpy(&op, bc, sizeof(op));
        switch (op.code) {
        case INET_DIAG_BC_NOP:
            break;
        case INET_DIAG_BC_JMP:
            yes = false;
            break;
        case INET_DIAG_BC_S_EQ:
        case INET_DIAG_BC_S_GE:
        case INET_DIAG_BC_S_LE:
        case INET_DIAG_BC_D_EQ:
        case INET_DIAG_BC_D_GE:
        case INET_DIAG_BC_D_LE: {
            memcpy(&arg, bc + 4, sizeof(arg));
            bool src = op.code == INET_DIAG_BC_S_EQ || op.code == INET_DIAG_BC_S_GE ||
                       op.code == INET_DIAG_BC_S_LE;
            unsigned port = src ? s->lport : s->rport;
            if (op.code == INET_DIAG_BC_S_EQ || op.code == INET_DIAG_BC_D_EQ)
                yes = port == arg.no;
            else if (op.code == INET_DIAG_BC_S_GE || op.code == INET_DIAG_BC_D_GE)
                yes = port >= arg.no;
            else
                yes = port <= arg.no;
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
                /* an IPv4 condition on an IPv6 socket: only v4-mapped addresses */
                if (a->family == AF_INET6 && hc.family == AF_INET &&
                    !memcmp(a->u.b, mapped, 12) && model_bits(a->u.b + 12, caddr, hc.prefix_len))
                    break;
                yes = false;
                break;
            }
            if (hc.prefix_len == 0)
                break;
            yes = model_bits(a->u.b, caddr, hc.prefix_len);
            break;
        }
        default:
            return false; /* an op the model does not know: the audit refuses it first */
        }
        if (yes) {
            len -= op.yes;
            bc += op.yes;
        } else {
            len -= op.no;
            bc += op.no;
        }
    }
    return len == 0;
}

#endif /* TWKIT_TESTS_BC_MODEL_H */
