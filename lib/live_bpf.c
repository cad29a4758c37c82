/*
 * live_bpf.c — the live table's life, from user space: open a table
 * (live_table.c), check it at every read against the kernel's own counts
 * (the census, live_census.c), and throw it away and seed a new one when
 * the kernel side lost an event (a map update refused, or an event both
 * twins missed to recursion), the census disagreed, ip_local_port_range
 * changed, the destinations map filled with idle keys, or a reconciliation
 * found drift.
 *
 * Re-seeding loads a fresh copy of the programs and maps rather than
 * emptying the old ones: emptying maps that events keep writing to cannot
 * be made exact, and a load costs milliseconds.  The old table stays
 * attached until the new one is seeded, so no event falls in between.
 *
 * Knobs for tests (those of one table's loading: live_table.c):
 * TWKIT_LIVE_SKIP_CLOSE=N makes the first table ignore N changes to CLOSE,
 * the events the kernel sometimes runs without the table's programs (the
 * census must then find the table wrong); TWKIT_LIVE_CENSUS_BIAS=N adds N
 * to every table's full-socket total, so that every census disagrees (the
 * check must then turn itself off); TWKIT_LIVE_NO_CENSUS=1 starts with the
 * check off, so that such lost events are left for a reconciliation to find
 * as drift.
 */
#include <errno.h>
#include <linux/types.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "live_int.h"
#include "bpf/live.h"
#include "twkit_bpf_config.h"
#include "twx/bpfcaps.h"
#include "twx/clock.h"

static __thread struct twx_why g_why;
#define set_why(err, ...) twx_why_set(&g_why, err, __VA_ARGS__)

int tw_live_why(char *why, size_t len)
{
    snprintf(why, len, "%s", g_why.err ? g_why.msg : "");
    return g_why.err;
}

#if !TWKIT_BPF

int tw_live_open(const struct tw_live_opts *o, struct tw_live **out)
{
    *out = NULL;
    return set_why(-EOPNOTSUPP, "this twkit has no BPF programs: %s", TWKIT_BPF_WHY);
}
int tw_live_read(struct tw_live *l, struct tw_live_row **rows, size_t *n)
{
    return -EOPNOTSUPP;
}
int tw_live_reconcile(struct tw_live *l, struct tw_live_row **rows, size_t *n)
{
    return -EOPNOTSUPP;
}
void tw_live_stats(const struct tw_live *l, struct tw_live_stats *st)
{
    memset(st, 0, sizeof(*st));
}
void tw_live_close(struct tw_live *l)
{
}

#else

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "live.skel.h"
#include "live_table.h"

struct tw_live {
    struct tw_live_opts o;
    struct tw__table t;
    uint64_t lost_before;    /* lost events of the tables thrown away */
    size_t keys;             /* destinations in the table at the last read */
    int fail_err;            /* the last re-seed failed: its error and reason, */
    char fail_why[512];
    uint64_t retry_ns;       /* and no new attempt before this (a load costs ~1 s) */
    size_t used;             /* of which not 0 */
    unsigned checks;         /* census checks of the current table */
    unsigned census_fresh;   /* census misses in a row at a new table's first check */
    int census_bias;         /* TWKIT_LIVE_CENSUS_BIAS: added to the full-socket total */
    struct tw_live_stats st;
};

/* the table's totals, as the census compares them (lib/live_census.c) */
static int table_totals(void *arg, struct tw__census_k *k)
{
    const struct tw_live *l = arg;
    const struct tw__table *t = &l->t;
    int n = libbpf_num_possible_cpus();
    if (n <= 0 || n > 1024)
        return -EINVAL;
    struct live_totals *v = calloc((size_t)n, sizeof(*v));
    __u32 zero = 0;
    if (!v)
        return -ENOMEM;
    if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.totals), &zero, v) != 0) {
        free(v);
        return -errno;
    }
    *k = (struct tw__census_k){0};
    for (int c = 0; c < n; c++) {
        for (int s = 0; s < LIVE_STATES; s++)
            k->inuse += v[c].n[s];
        k->tw += v[c].n[LIVE_TOT_TW];
        k->estab += v[c].n[1] + v[c].n[8]; /* ESTABLISHED, CLOSE_WAIT */
        k->inuse_unhashed += v[c].n[LIVE_PENDING];
    }
    k->inuse += l->census_bias;
    free(v);
    return 0;
}

int tw_live_open(const struct tw_live_opts *o, struct tw_live **out)
{
    *out = NULL;
    g_why.err = 0;
    struct tw_live *l = calloc(1, sizeof(*l));
    if (!l)
        return set_why(-ENOMEM, "%s", strerror(ENOMEM));
    if (o)
        l->o = *o;
    int e = tw__table_open(&l->o, &l->t, &l->st.seed_seconds, &g_why);
    if (e) {
        free(l);
        return e;
    }
    l->st.seeds = 1;
    const char *bias = getenv("TWKIT_LIVE_CENSUS_BIAS");
    l->census_bias = bias ? atoi(bias) : 0;
    const char *off = getenv("TWKIT_LIVE_NO_CENSUS");
    l->st.census_off = off && atoi(off) > 0;
    const char *skip = getenv("TWKIT_LIVE_SKIP_CLOSE");
    if (skip && atoi(skip) > 0)
        l->t.skel->bss->cfg_skip_close = atoi(skip);
    *out = l;
    return 0;
}

/* Seed a new table, then drop the old one (no gap between them). */
static int reseed(struct tw_live *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reseed(struct tw_live *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->st.reseed_reason, sizeof(l->st.reseed_reason), fmt, ap);
    va_end(ap);
    struct tw__table nt = {0};
    double s = 0;
    int e = tw__table_open(&l->o, &nt, &s, &g_why);
    if (l->t.skel)
        l->lost_before += tw__table_lost(&l->t);
    tw__table_free(&l->t);
    if (e) { /* the reader walks instead; the reason is in tw_live_why() */
        l->fail_err = e;
        snprintf(l->fail_why, sizeof(l->fail_why), "%s", g_why.msg);
        l->retry_ns = twx_now_ns() + LIVE_RETRY_NS;
        return e;
    }
    l->t = nt;
    l->keys = 0;
    l->checks = 0;
    l->st.seeds++;
    l->st.seed_seconds = s;
    return 0;
}

/* the census now: 1 when the table's totals disagree with the kernel's
 * (what says how), 0 when they agree or it cannot be made or is off */
static int census_now(struct tw_live *l, char *what, size_t len)
{
    if (l->st.census_off || l->t.census.sockstat < 0)
        return 0;
    return tw__census_check(&l->t.census, table_totals, l, what, len) == 1;
}

/* Re-seed if the table lost events: 0 when the table can be read. */
static int ensure(struct tw_live *l)
{
    if (!l->t.skel) {
        if (twx_now_ns() < l->retry_ns)
            return set_why(l->fail_err, "%s", l->fail_why);
        int e = reseed(l, "the previous re-seed failed");
        if (e)
            return e;
    }
    uint16_t lo, hi;
    if (tw__live_port_range(&lo, &hi) == 0 && (lo != l->t.port_lo || hi != l->t.port_hi))
        return reseed(l, "ip_local_port_range changed (%u-%u, now %u-%u): it tells server-side "
                         "connections from client-side ones",
                      l->t.port_lo, l->t.port_hi, lo, hi);
    uint64_t lost = tw__table_lost(&l->t);
    if (lost)
        return reseed(l, "%llu event(s) lost (a full map, or recursion)",
                      (unsigned long long)lost);
    uint32_t max = bpf_map__max_entries(l->t.skel->maps.dests);
    if (l->keys > (size_t)max / 4 * 3 && l->keys > 2 * l->used)
        return reseed(l, "the destinations map is 3/4 full (%zu of %u destinations, %zu rows in "
                         "use, the rest for sockets long gone): a fresh table drops them",
                      l->keys, max, l->used);
    char what[256];
    if (!l->st.census_off && l->t.census.sockstat >= 0) {
        bool first = l->checks++ == 0;
        if (!census_now(l, what, sizeof(what))) {
            l->census_fresh = 0;
            return 0;
        }
        l->st.census_misses++;
        /* new tables that disagree at their first check, three in a row:
         * the kernel's counts do not mean here what the census takes them
         * to mean; stop checking rather than seed at every read */
        if (first && ++l->census_fresh >= 3)
            l->st.census_off = true;
        return reseed(l, "the table's totals disagreed with the kernel's own counts (%s): the "
                         "kernel ran events without the table's programs%s", what,
                      l->st.census_off ? "; three new tables in a row disagreed at once, so "
                                         "the check is off" : "");
    }
    return 0;
}

int tw_live_read(struct tw_live *l, struct tw_live_row **rows, size_t *n)
{
    int e = ensure(l);
    if (e)
        return e;
    struct tw__live_rows r = {0};
    if ((e = tw__table_counts(&l->t, &r, NULL, &l->keys))) {
        free(r.v);
        return e;
    }
    if (tw__table_lost(&l->t)) { /* lost while being read: do not trust it */
        free(r.v);
        if ((e = ensure(l)))
            return e;
        return tw_live_read(l, rows, n);
    }
    l->used = r.n;
    *rows = r.v;
    *n = r.n;
    return 0;
}

/* One comparison: table, walk, table (each table read with its
 * destinations' event counts).  Drift rows into d. */
static int compare_once(struct tw_live *l, struct tw__live_rows *d, uint64_t *unsettled,
                        int64_t *abs_sum)
{
    struct tw__live_rows a = {0}, t = {0}, b = {0}, ea = {0}, eb = {0};
    char err[256] = "";
    int e;
    struct tw__live_side *sd = malloc(sizeof(*sd));
    if (!sd)
        return set_why(-ENOMEM, "%s", strerror(ENOMEM));
    if (!(e = tw__table_counts(&l->t, &a, &ea, NULL))) {
        /* the table's sides: its sticky listening ports (read after a, so
         * that they hold every listener of a's connections) and its range */
        memcpy(sd->bits, l->t.skel->bss->listen_bits, sizeof(sd->bits));
        sd->lo = l->t.port_lo;
        sd->hi = l->t.port_hi;
        if (!(e = tw__live_walk(&t, sd, err, sizeof(err))))
            e = tw__table_counts(&l->t, &b, &eb, &l->keys);
    }
    free(sd);
    if (!e)
        l->used = b.n;
    if (!e)
        *abs_sum = tw__live_compare(&a, &t, &b, &ea, &eb, d, unsettled);
    else
        set_why(e, "the reconciliation walk failed: %s", err[0] ? err : strerror(-e));
    free(a.v);
    free(t.v);
    free(b.v);
    free(ea.v);
    free(eb.v);
    return e;
}

/* keep the rows of d that are also in d2 (same key), with d2's figures */
static void intersect(struct tw__live_rows *d, const struct tw__live_rows *d2)
{
    size_t o = 0;
    for (size_t i = 0; i < d->n; i++)
        for (size_t j = 0; j < d2->n; j++) {
            struct tw_live_row x = d->v[i], y = d2->v[j];
            x.n = y.n = x.truth = y.truth = 0;
            if (!memcmp(&x, &y, sizeof(x))) {
                d->v[o++] = d2->v[j];
                break;
            }
        }
    d->n = o;
}

/*
 * A row is drift only if it differs in three comparisons in a row, each
 * time by more than its destination's events during the walk explain
 * (tw__live_compare).  One difference alone can still be the walk's own:
 * a sock_diag dump is many messages, not one instant, and an event is seen
 * by the table a moment after the kernel's hash shows it; three such
 * coincidences on one row are not expected.
 */
int tw_live_reconcile(struct tw_live *l, struct tw_live_row **rows, size_t *n)
{
    int e = ensure(l);
    if (e)
        return e;
    struct tw__live_rows d = {0}, d2 = {0};
    uint64_t unsettled = 0;
    int64_t abs_sum = 0;
    uint64_t t0 = twx_now_ns();
    e = compare_once(l, &d, &unsettled, &abs_sum);
    for (int k = 1; k < 3 && !e && d.n; k++) {
        uint64_t u2;
        if (!(e = compare_once(l, &d2, &u2, &abs_sum)))
            intersect(&d, &d2);
    }
    free(d2.v);
    l->st.reconcile_seconds = (double)(twx_now_ns() - t0) / 1e9;
    if (!e) {
        abs_sum = 0;
        for (size_t i = 0; i < d.n; i++)
            abs_sum += d.v[i].n > d.v[i].truth ? d.v[i].n - d.v[i].truth : d.v[i].truth - d.v[i].n;
        l->st.reconciliations++;
        l->st.unsettled = unsettled;
        /* Rows that differ while the table knows it is wrong (events lost
         * on record, or totals off from the kernel's: events it never got)
         * are not drift: drift is the table wrong without knowing. */
        char what[256] = "";
        uint64_t lost = d.n ? tw__table_lost(&l->t) : 0;
        int census = d.n && !lost ? census_now(l, what, sizeof(what)) : 0;
        if (lost || census == 1) {
            l->st.drift_abs = 0;
            l->st.drift_rows = 0;
            if (census == 1)
                l->st.census_misses++;
            if (census == 1)
                e = reseed(l, "%zu row(s) differed from the walk, with the table's totals off "
                              "from the kernel's own counts (%s): events the table did not get, "
                              "not drift", d.n, what);
            else
                e = reseed(l, "%zu row(s) differed from the walk, with %llu event(s) lost on "
                              "record: not drift", d.n, (unsigned long long)lost);
            d.n = 0;
        } else {
            l->st.drift_abs = abs_sum;
            l->st.drift_rows = d.n;
            l->st.drift_total += d.n;
            if (d.n)
                e = reseed(l, "drift at reconciliation: %zu row(s) differed from the walk", d.n);
            else if (tw__table_lost(&l->t))
                e = ensure(l);
        }
    }
    if (e) {
        free(d.v);
        return e;
    }
    *rows = d.v;
    *n = d.n;
    return 0;
}

void tw_live_stats(const struct tw_live *l, struct tw_live_stats *st)
{
    *st = l->st;
    st->lost_events = l->lost_before;
    if (l->t.skel) {
        st->lost_events += tw__table_lost(&l->t);
        st->tw_born = tw__table_stat(&l->t, LIVE_ST_TW_BORN);
        st->tw_died = tw__table_stat(&l->t, LIVE_ST_TW_DIED);
        st->seeded = tw__table_stat(&l->t, LIVE_ST_SEEDED);
        st->tw_fin = tw__table_stat(&l->t, LIVE_ST_TW_SUBSTATE);
        st->tw_fin_seen = l->t.substate_events;
    }
}

void tw_live_close(struct tw_live *l)
{
    if (!l)
        return;
    tw__table_free(&l->t);
    free(l);
}

#endif /* TWKIT_BPF */
