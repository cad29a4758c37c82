/*
 * query.c — TCP state names, addresses, and the query that selects sockets.
 *
 * The same query drives every source: the netlink source compiles its
 * ports and CIDRs into inet_diag bytecode so that the kernel filters during
 * its walk; the /proc and fixture sources run tw_query_match() on each
 * socket.  The value parsers here are the only place the command turns
 * user text into numbers, so they are strict: whole string, range checked,
 * errno reset.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const state_names[TW_STATE_MAX] = {
    [TW_ESTABLISHED] = "ESTABLISHED", [TW_SYN_SENT] = "SYN_SENT",
    [TW_SYN_RECV] = "SYN_RECV",       [TW_FIN_WAIT1] = "FIN_WAIT1",
    [TW_FIN_WAIT2] = "FIN_WAIT2",     [TW_TIME_WAIT] = "TIME_WAIT",
    [TW_CLOSE] = "CLOSE",             [TW_CLOSE_WAIT] = "CLOSE_WAIT",
    [TW_LAST_ACK] = "LAST_ACK",       [TW_LISTEN] = "LISTEN",
    [TW_CLOSING] = "CLOSING",         [TW_NEW_SYN_RECV] = "NEW_SYN_RECV",
};

static const char *const state_slugs[TW_STATE_MAX] = {
    [TW_ESTABLISHED] = "established", [TW_SYN_SENT] = "syn-sent",
    [TW_SYN_RECV] = "syn-recv",       [TW_FIN_WAIT1] = "fin-wait-1",
    [TW_FIN_WAIT2] = "fin-wait-2",    [TW_TIME_WAIT] = "time-wait",
    [TW_CLOSE] = "close",             [TW_CLOSE_WAIT] = "close-wait",
    [TW_LAST_ACK] = "last-ack",       [TW_LISTEN] = "listen",
    [TW_CLOSING] = "closing",         [TW_NEW_SYN_RECV] = "new-syn-recv",
};

const char *tw_state_name(int state)
{
    return state > 0 && state < TW_STATE_MAX ? state_names[state] : NULL;
}

const char *tw_state_slug(int state)
{
    return state > 0 && state < TW_STATE_MAX ? state_slugs[state] : NULL;
}

/* Compare ignoring case and treating '-' and '_' alike ("time-wait" == "TIME_WAIT"). */
static bool name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (char)tolower((unsigned char)*a), y = (char)tolower((unsigned char)*b);
        if (x == '_')
            x = '-';
        if (y == '_')
            y = '-';
        if (x != y)
            return false;
    }
    return *a == *b;
}

int tw_state_parse(const char *name, unsigned *mask)
{
    static const struct {
        const char *name;
        unsigned mask;
    } groups[] = {
        {"all", TW_STATES_ALL},
        /* as ss(8): connected = all but LISTEN and CLOSE */
        {"connected", TW_STATES_ALL & ~(TW_STATE_BIT(TW_LISTEN) | TW_STATE_BIT(TW_CLOSE))},
        {"synchronized", TW_STATES_ALL & ~(TW_STATE_BIT(TW_LISTEN) | TW_STATE_BIT(TW_CLOSE) |
                                           TW_STATE_BIT(TW_SYN_SENT))},
        {"fin-wait2", TW_STATE_BIT(TW_FIN_WAIT2)},
        {"fin-wait1", TW_STATE_BIT(TW_FIN_WAIT1)},
        {"tw", TW_STATE_BIT(TW_TIME_WAIT)},
        {"estab", TW_STATE_BIT(TW_ESTABLISHED)},
    };
    if (!name || !*name)
        return TW_EBADOPT;
    for (size_t i = 0; i < TW__ARRAY_LEN(groups); i++) {
        if (name_eq(name, groups[i].name)) {
            *mask = groups[i].mask;
            return 0;
        }
    }
    for (int s = 1; s < TW_STATE_MAX; s++) {
        if (name_eq(name, state_names[s]) || name_eq(name, state_slugs[s])) {
            *mask = TW_STATE_BIT(s);
            return 0;
        }
    }
    return TW_EBADOPT;
}

void tw_query_init(struct tw_query *q)
{
    memset(q, 0, sizeof(*q));
    q->states = TW_STATES_ALL;
    q->want_v4 = q->want_v6 = true;
    q->sport_hi = q->dport_hi = 65535;
}

bool tw_query_filters(const struct tw_query *q)
{
    return q->sport_lo != 0 || q->sport_hi != 65535 || q->dport_lo != 0 ||
           q->dport_hi != 65535 || q->n_src || q->n_dst;
}

/* Does address a lie inside c?  IPv4 also matches v4-mapped IPv6 (as the kernel does). */
static bool cidr_match(const struct tw_cidr *c, const struct tw_addr *a)
{
    const uint8_t *ab = a->u.b;
    unsigned bits = c->prefix;
    /* as the kernel's hostcond (inet_diag_bc_run): the family first, even for /0 */
    if (c->addr.family != a->family) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (c->addr.family == AF_INET && a->family == AF_INET6 &&
            !memcmp(a->u.b, mapped, 12))
            ab = a->u.b + 12;
        else
            return false;
    }
    unsigned full = bits / 8, rem = bits % 8;
    if (memcmp(c->addr.u.b, ab, full))
        return false;
    if (rem) {
        uint8_t m = (uint8_t)(0xff << (8 - rem));
        if ((c->addr.u.b[full] & m) != (ab[full] & m))
            return false;
    }
    return true;
}

static bool cidr_any(const struct tw_cidr *list, unsigned n, const struct tw_addr *a)
{
    if (!n)
        return true;
    for (unsigned i = 0; i < n; i++)
        if (cidr_match(&list[i], a))
            return true;
    return false;
}

bool tw_query_match(const struct tw_query *q, const struct tw_sock *s)
{
    if (!(q->states & TW_STATE_BIT(s->state)))
        return false;
    if (s->laddr.family == AF_INET ? !q->want_v4 : !q->want_v6)
        return false;
    if (s->lport < q->sport_lo || s->lport > q->sport_hi)
        return false;
    if (s->rport < q->dport_lo || s->rport > q->dport_hi)
        return false;
    return cidr_any(q->src, q->n_src, &s->laddr) && cidr_any(q->dst, q->n_dst, &s->raddr);
}

/* ---- value parsers --------------------------------------------------------- */

int tw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)*s))
        return TW_EBADOPT;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || v < min || v > max)
        return TW_EBADOPT;
    *out = v;
    return 0;
}

static int parse_port(const char *s, uint16_t *out)
{
    uint64_t v;
    if (tw_parse_u64(s, 0, 65535, &v))
        return TW_EBADOPT;
    *out = (uint16_t)v;
    return 0;
}

int tw_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
    char buf[32];
    if (!s)
        return TW_EBADOPT;
    if (*s == ':')
        s++;
    if (strlen(s) >= sizeof(buf))
        return TW_EBADOPT;
    strcpy(buf, s);
    char *dash = strchr(buf, '-');
    if (dash) {
        *dash = '\0';
        if (parse_port(buf, lo) || parse_port(dash + 1, hi) || *lo > *hi)
            return TW_EBADOPT;
    } else {
        if (parse_port(buf, lo))
            return TW_EBADOPT;
        *hi = *lo;
    }
    return 0;
}

int tw_parse_addr(const char *s, struct tw_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return TW_EBADOPT;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(s);
    if (n >= sizeof(buf))
        return TW_EBADOPT;
    /* accept [v6] as well */
    if (s[0] == '[' && n > 2 && s[n - 1] == ']') {
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
    } else {
        memcpy(buf, s, n + 1);
    }
    if (inet_pton(AF_INET, buf, out->u.b) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->u.b) == 1) {
        out->family = AF_INET6;
        return 0;
    }
    return TW_EBADOPT;
}

int tw_parse_cidr(const char *s, struct tw_cidr *out)
{
    char buf[64];
    memset(out, 0, sizeof(*out));
    if (!s || strlen(s) >= sizeof(buf))
        return TW_EBADOPT;
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (tw_parse_addr(buf, &out->addr))
        return TW_EBADOPT;
    unsigned max = out->addr.family == AF_INET ? 32 : 128;
    uint64_t p = max;
    if (slash && tw_parse_u64(slash + 1, 0, max, &p))
        return TW_EBADOPT;
    out->prefix = (uint8_t)p;
    /* clear host bits so that matching and bytecode agree */
    for (unsigned i = 0; i < 16; i++) {
        unsigned bit = i * 8;
        if (bit >= p)
            out->addr.u.b[i] = 0;
        else if (bit + 8 > p)
            out->addr.u.b[i] &= (uint8_t)(0xff << (8 - (p - bit)));
    }
    return 0;
}

const char *tw_addr_str(const struct tw_addr *a, char *buf, size_t buflen)
{
    if (!inet_ntop(a->family == AF_INET6 ? AF_INET6 : AF_INET, a->u.b, buf, (socklen_t)buflen))
        snprintf(buf, buflen, "?");
    return buf;
}

bool tw_addr_is_loopback(const struct tw_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (a->family == AF_INET)
        return a->u.b[0] == 127;
    if (!memcmp(a->u.b, lo6, 16))
        return true;
    return !memcmp(a->u.b, mapped, 12) && a->u.b[12] == 127;
}
