/*
 * util.c — small pieces shared by the lab's backend, load generator and
 * orchestrator: error kinds, the latency histogram, the clock, and the
 * address checks that keep lab traffic inside loopback and the RFC 2544
 * benchmarking range.
 *
 * The histogram is log-linear: exact below 16 us, then 16 sub-buckets per
 * power of two (about 6 % relative resolution), 1024 buckets in all, so a
 * thread can keep its own and merging is a loop of additions.
 */
#include "lab/lab.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <twkit/sock.h>

static const char *const err_names[] = {
#define LAB__N(id, name) name,
    LAB_ERR_MAP(LAB__N)
#undef LAB__N
};

const char *lab_err_name(int kind)
{
    if (kind < 0 || kind >= LAB_E_MAX)
        return "OTHER";
    return err_names[kind];
}

int lab_err_kind(int err)
{
    switch (err) {
    case EADDRNOTAVAIL: return LAB_E_ADDRNOTAVAIL;
    case EADDRINUSE: return LAB_E_ADDRINUSE;
    case ECONNREFUSED: return LAB_E_CONNREFUSED;
    case ECONNRESET: return LAB_E_CONNRESET;
    case ETIMEDOUT: return LAB_E_TIMEDOUT;
    case EPIPE: return LAB_E_PIPE;
    case EHOSTUNREACH:
    case ENETUNREACH: return LAB_E_UNREACH;
    case EMFILE:
    case ENFILE: return LAB_E_MFILE;
    case EBADMSG: return LAB_E_BADMSG;
    default: return LAB_E_OTHER;
    }
}

static unsigned hist_idx(uint64_t v)
{
    if (v < 16)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
    return (e - 3) * 16 + (unsigned)((v >> (e - 4)) & 15);
}

static uint64_t hist_upper(unsigned idx)
{
    if (idx < 16)
        return idx;
    unsigned e = idx / 16 + 3, m = idx % 16;
    uint64_t lo = (uint64_t)(16 + m) << (e - 4);
    return lo + ((uint64_t)1 << (e - 4)) - 1;
}

void lab_hist_add(struct lab_hist *h, uint64_t us)
{
    unsigned i = hist_idx(us);
    if (i >= LAB_HIST_BUCKETS)
        i = LAB_HIST_BUCKETS - 1;
    h->b[i]++;
    h->n++;
    h->sum += us;
    if (us > h->max)
        h->max = us;
}

void lab_hist_merge(struct lab_hist *into, const struct lab_hist *from)
{
    for (unsigned i = 0; i < LAB_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t lab_hist_quantile(const struct lab_hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if (rank >= h->n)
        rank = h->n - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LAB_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank) {
            uint64_t v = hist_upper(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

int lab_parse_hostport(const char *s, struct sockaddr_in *out)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon - s >= 16)
        return -1;
    char host[16];
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return -1;
    uint64_t p;
    if (tw_parse_u64(colon + 1, 1, 65535, &p))
        return -1;
    out->sin_port = htons((uint16_t)p);
    return 0;
}

bool lab_addr_allowed(struct in_addr a)
{
    uint32_t h = ntohl(a.s_addr);
    return (h >> 24) == 127 || (h & 0xfffe0000u) == 0xc6120000u; /* 198.18.0.0/15 */
}
