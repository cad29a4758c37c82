/*
 * report_int.h — what the three files of the report share (report.c: the
 * hot-path fold; report_finish.c: top-N, pressure, memory;
 * report_collect.c: one namespace's whole picture) and nothing else sees:
 * the destination table and the report's private state.
 *
 * The destination table is an open-addressing hash keyed by (local ip,
 * remote ip, remote port, side) with integer hashing; its lookup is inline
 * here because tw_report_add calls it once per socket.
 */
#ifndef TWKIT_REPORT_INT_H
#define TWKIT_REPORT_INT_H

#include <string.h>

#include <twkit/report.h>

#include "internal.h"

/*
 * The key is laid out so that an IPv4 key is decided by its first 16 bytes
 * (two 64-bit compares); the IPv6 remainder is zero for IPv4.
 */
struct tw__dkey {
    uint32_t l0, r0;  /* first (IPv4: only) word of the local / remote address */
    uint16_t rport;
    uint8_t fam;      /* 0 = IPv4, 1 = IPv6 */
    uint8_t server;   /* server-side row (rport = 0) */
    uint32_t pad;
    uint32_t l[3], r[3]; /* IPv6: words 1-3 */
};

struct tw__dent {
    struct tw__dkey k;
    uint32_t used;
    uint32_t tw;        /* TIME_WAIT of this key (any local port) */
    uint32_t in_use;    /* client-side, local port in range, every state */
    uint32_t tw_in;     /* ... of which TIME_WAIT */
    uint32_t reclaim;   /* ... known reclaimable (the source gave the verdict) */
    uint32_t reclaim_max; /* ... reclaimable unless the peer sent no timestamps */
    uint32_t estab;     /* ... ESTABLISHED */
    uint32_t loopback;  /* tcp_tw_reuse=2 counts it as loopback (addresses or bound to lo) */
    uint32_t young;     /* ... TIME_WAIT younger than young_ms */
    uint32_t *expiry;   /* ... TIME_WAIT by seconds left (TW_EXPIRY_SECONDS), or NULL */
};

struct tw__dtab {
    struct tw__dent *e;
    size_t cap, n; /* cap is a power of two */
};

struct tw__report_priv {
    struct tw_report_opts opts;
    uint32_t tw_port[65536];     /* TIME_WAIT by local port */
    uint8_t listen[65536 / 8];   /* listening ports */
    uint8_t client_port[65536 / 8]; /* local ports in range held by client-side sockets */
    uint64_t tw_unknown;         /* TIME_WAIT without a reuse verdict from the source */
    uint32_t young_ms;
    uint64_t fw2[2];             /* FIN_WAIT2 minisocks by family */
    struct tw__dtab dest;
    /* settings copied from the kernel readings for the hot path */
    int lo, hi;
    int reuse;
    uint32_t delay_ms;
    bool have_kernel;
    int oom;
};

static inline bool tw__listen_port(const struct tw__report_priv *p, unsigned port)
{
    return (p->listen[port >> 3] >> (port & 7)) & 1;
}

static inline uint64_t tw__mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t tw__dkey_hash(const struct tw__dkey *k)
{
    uint64_t h = ((uint64_t)k->l0 << 32 | k->r0) * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)k->rport << 16 | (uint64_t)k->fam << 8 | k->server;
    if (TW__UNLIKELY(k->fam)) {
        h ^= tw__mix64((uint64_t)k->l[0] << 32 | k->l[1]) + ((uint64_t)k->l[2] << 7);
        h ^= tw__mix64((uint64_t)k->r[0] << 32 | k->r[1]) * 31 + k->r[2];
    }
    return tw__mix64(h);
}

static inline bool tw__dkey_eq(const struct tw__dkey *a, const struct tw__dkey *b)
{
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, a, 8);
    memcpy(&a1, (const char *)a + 8, 8);
    memcpy(&b0, b, 8);
    memcpy(&b1, (const char *)b + 8, 8);
    if (a0 != b0 || a1 != b1)
        return false;
    return !a->fam || !memcmp(a->l, b->l, sizeof(a->l) + sizeof(a->r));
}

/* The key's addresses as tw_addr (for rows and loopback tests). */
void tw__dkey_addrs(const struct tw__dkey *k, struct tw_addr *l, struct tw_addr *r);
/* Double the table (first call: 1024 slots).  Returns 0 or -ENOMEM. */
int tw__dtab_grow(struct tw__dtab *t);
/* Fill a free slot e with key k (the cold half of a lookup). */
struct tw__dent *tw__dtab_claim(struct tw__dtab *t, struct tw__dent *e, const struct tw__dkey *k);
void tw__dtab_free(struct tw__dtab *t);

/* The entry of k, created empty if new; NULL when out of memory. */
static inline struct tw__dent *tw__dtab_get(struct tw__dtab *t, const struct tw__dkey *k)
{
    if (TW__UNLIKELY((t->n + 1) * 2 > t->cap) && tw__dtab_grow(t))
        return NULL;
    size_t mask = t->cap - 1, i = tw__dkey_hash(k) & mask;
    for (;;) {
        struct tw__dent *e = &t->e[i];
        if (!e->used)
            return tw__dtab_claim(t, e, k);
        if (tw__dkey_eq(&e->k, k))
            return e;
        i = (i + 1) & mask;
    }
}

#endif /* TWKIT_REPORT_INT_H */
