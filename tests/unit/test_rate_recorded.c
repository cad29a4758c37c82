/*
 * test_rate_recorded.c — the engine on series recorded from the real kernel
 * (Linux 6.18, tests/fixtures/watch/record.sh): twkit lab load at a fixed
 * rate into a 200-port range, sampled every second by `twkit watch
 * --record`.  Each series is replayed through the public API (a fixture
 * source, tw_report_collect with young_ms = the recorded interval, the
 * recorded counters, tw_rate_engine_tick) and checked against what the
 * kernel did in that recording (series.txt): the rates against the offered
 * rate, the forecast against the real EADDRNOTAVAIL, and each regime:
 * fits forever, exhausts at a known second, tw_reuse capacity exceeded,
 * reuse that only the bound can count (netlink cannot see timestamps), and
 * tcp_max_tw_buckets freeing ports.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/twkit.h>

#define SERIES "tests/fixtures/watch"
#define MAXF 16

struct sample {
    uint64_t t_ms;
    struct tw_report *r;
    const struct tw_pressure *p;  /* the 127.0.0.1:8080 destination (in r) */
    struct tw_forecast fc;
    double new_per_s[TW_RATE_WINDOWS];
    struct tw_counter_rates cr;
    struct tw_fc_plan plan;
};

struct series {
    struct sample s[MAXF];
    size_t n;
    double eaddrnotavail_ms; /* NAN: none */
    double offered;
    char load[512];
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void meta(struct series *z, const char *dir)
{
    char p[512], line[512];
    snprintf(p, sizeof(p), "%s/series.txt", dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f, "%s", p);
    z->eaddrnotavail_ms = NAN;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "eaddrnotavail_ms ", 17))
            z->eaddrnotavail_ms = atof(line + 17);
        else if (!strncmp(line, "offered_per_s ", 14))
            z->offered = atof(line + 14);
        else if (!strncmp(line, "load ", 5))
            snprintf(z->load, sizeof(z->load), "%s", line + 5);
    }
    fclose(f);
}

/* Replay SERIES/name through a fresh engine. */
static void replay(struct series *z, const char *name)
{
    char dir[256];
    snprintf(dir, sizeof(dir), SERIES "/%s", name);
    memset(z, 0, sizeof(*z));
    meta(z, dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    char *names[MAXF];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] == 't' && nn < MAXF)
            names[nn++] = strdup(de->d_name);
    closedir(d);
    qsort(names, nn, sizeof(*names), name_cmp);
    cr_assert_geq(nn, 4, "%s: %zu samples", name, nn);

    struct tw_rate_engine *e;
    cr_assert_eq(tw_rate_engine_new(NULL, &e), 0);
    for (size_t i = 0; i < nn; i++) {
        struct sample *s = &z->s[z->n++];
        char fd[512];
        snprintf(fd, sizeof(fd), "%s/%s", dir, names[i]);
        s->t_ms = strtoull(names[i] + 1, NULL, 10);
        uint32_t young = i ? (uint32_t)(s->t_ms - z->s[i - 1].t_ms) : 1000;
        struct tw_source *src;
        cr_assert_eq(tw_source_open(TW_SOURCE_FIXTURE, fd, &src), 0, "%s", fd);
        struct tw_report_opts o;
        memset(&o, 0, sizeof(o));
        tw_query_init(&o.query);
        o.young_ms = young;
        char err[256];
        cr_assert_eq(tw_report_collect(src, &o, NULL, &s->r, err, sizeof(err)), 0, "%s: %s", fd, err);
        tw_source_close(src);
        struct tw_counters c;
        cr_assert_eq(tw_counters_read(&c, fd), 0);
        cr_assert_eq(tw_rate_engine_tick(e, s->t_ms, s->r, &c, young), 0);
        const struct tw_dest_rate *dr;
        size_t nd = tw_rate_engine_dests(e, &dr);
        const struct tw_dest_rate *x = NULL;
        for (size_t k = 0; k < nd; k++)
            if (dr[k].p->rport == 8080)
                x = &dr[k];
        cr_assert_not_null(x, "%s: no 127.0.0.1:8080 destination", fd);
        s->p = x->p;
        s->fc = x->forecast;
        memcpy(s->new_per_s, x->new_per_s, sizeof(s->new_per_s));
        s->cr = *tw_rate_engine_counters(e);
        s->plan = *tw_rate_engine_plan(e);
        free(names[i]);
    }
    tw_rate_engine_free(e);
}

static void release(struct series *z)
{
    for (size_t i = 0; i < z->n; i++)
        tw_report_free(z->s[i].r);
}

#define within(got, want, frac, what) \
    cr_assert(fabs((double)(got) - (double)(want)) <= (frac) * fabs((double)(want)), \
              "%s: %.3f, want %.3f +-%.0f%%", what, (double)(got), (double)(want), (frac) * 100)

Test(recorded, fits_forever)
{
    struct series z;
    replay(&z, "fits"); /* 2/s into 200 ports: 120 held at most */
    for (size_t i = 0; i < z.n; i++) {
        struct sample *s = &z.s[i];
        cr_assert_eq(s->fc.fc.state, TW_FC_NEVER, "sample %zu", i);
        cr_assert_not(s->fc.bounded, "tcp_tw_reuse 0: nothing to bound");
        within(s->fc.fc.sustainable_per_s, 200.0 / 60, 1e-9, "200 ports / 60 s");
        within(s->new_per_s[0], z.offered, 0.5, "1 s window (2 +- 1 socket)");
        if (s->cr.span_s[1] > 0)
            within(s->cr.per_s[TW_C_TW][1], z.offered, 0.1, "TcpExt TW rate");
    }
    release(&z);
}

Test(recorded, exhausts_at_a_known_second)
{
    struct series z;
    replay(&z, "exhaust"); /* 25/s into 200 ports: EADDRNOTAVAIL after 8 s of load */
    cr_assert(!isnan(z.eaddrnotavail_ms), "the recording met EADDRNOTAVAIL");
    for (size_t i = 0; i < z.n; i++) {
        struct sample *s = &z.s[i];
        double left = (z.eaddrnotavail_ms - (double)s->t_ms) / 1000.0;
        cr_assert_eq(s->fc.fc.state, TW_FC_AT, "sample %zu", i);
        within(s->fc.fc.seconds, left, 0.2, "forecast against the real EADDRNOTAVAIL");
        within(s->fc.fc.seconds, left, 0.05, "(and in fact within 5%)");
        within(s->new_per_s[0], z.offered, 0.1, "new/s, 1 s window");
        within(s->fc.rate, z.offered, 0.1, "rate used");
    }
    /* not a straight line from the first sample's pressure: the same answer
     * from every sample, 1 s apart */
    for (size_t i = 1; i < z.n; i++)
        within(z.s[i - 1].fc.fc.seconds - z.s[i].fc.fc.seconds,
               (double)(z.s[i].t_ms - z.s[i - 1].t_ms) / 1000, 0.1, "1 s later, 1 s less");
    release(&z);
}

Test(recorded, reuse_capacity_exceeded)
{
    struct series z;
    replay(&z, "reuse-over"); /* 400/s offered, tcp_tw_reuse 1, 1 s delay: 200/s at most */
    cr_assert(z.eaddrnotavail_ms < 0, "exhausted before the first sample (%s)", z.load);
    for (size_t i = 0; i < z.n; i++) {
        struct sample *s = &z.s[i];
        cr_assert_eq(s->fc.fc.state, TW_FC_NOW, "sample %zu: no verified reuse, range full", i);
        cr_assert(s->fc.bounded, "reuse unverified: a bound");
        cr_assert_eq(s->fc.bound.limit, TW_FC_LIMIT_REUSE_DELAY);
        within(s->fc.bound.sustainable_per_s, 200, 0.02, "bound: range / 1 s");
        within(s->new_per_s[0], 200, 0.05, "what succeeds: the cap");
        if (s->cr.span_s[0] > 0)
            within(s->cr.per_s[TW_C_TW_RECYCLED][0], s->cr.per_s[TW_C_TW][0], 0.05,
                   "every new TIME_WAIT's port came from a takeover");
    }
    cr_assert_eq(z.s[z.n - 1].fc.bound.state, TW_FC_NOW, "even the bound: full at the cap");
    release(&z);
}

Test(recorded, reuse_only_the_bound_can_count)
{
    struct series z;
    replay(&z, "reuse-fits"); /* 100/s, tcp_tw_reuse 1: the kernel sustains it */
    cr_assert(isnan(z.eaddrnotavail_ms), "the kernel never failed a connect (%s)", z.load);
    for (size_t i = 0; i < z.n; i++) {
        struct sample *s = &z.s[i];
        /* netlink cannot see the peer's timestamps: the forecast counts no reuse
         * and says the 97 free ports go in about a second; the bound, reuse
         * for all, says never, which is what the kernel did */
        cr_assert_eq(s->fc.fc.state, TW_FC_AT, "sample %zu", i);
        cr_assert_lt(s->fc.fc.seconds, 2);
        cr_assert(s->fc.bounded);
        cr_assert_eq(s->fc.bound.state, TW_FC_NEVER);
        within(s->fc.bound.sustainable_per_s, 200, 0.02, "range / 1 s");
        cr_assert_eq(s->p->reclaimable, 0, "netlink: nothing verified");
        cr_assert_gt(s->p->reclaimable_max, 0, "... only a bound");
        within(s->new_per_s[0], z.offered, 0.05, "1 s window: no takeover is that young");
    }
    release(&z);
}

Test(recorded, max_tw_buckets_frees_ports)
{
    struct series z;
    replay(&z, "buckets"); /* tcp_max_tw_buckets 50, 25/s: 200 ports would last 8 s */
    cr_assert(isnan(z.eaddrnotavail_ms), "the kernel never failed a connect (%s)", z.load);
    for (size_t i = 0; i < z.n; i++) {
        struct sample *s = &z.s[i];
        cr_assert_eq(s->r->kernel.sock_tw, 50, "TIME_WAIT never exceeds the cap");
        cr_assert_eq(s->plan.full_in_s, 0, "the namespace is full");
        cr_assert_eq(s->fc.fc.state, TW_FC_NEVER, "sample %zu", i);
        cr_assert(s->fc.fc.capped, "only the cap keeps it going");
        if (s->cr.span_s[0] > 0) {
            within(s->cr.per_s[TW_C_TW_OVERFLOW][0], z.offered, 0.1,
                   "every close overflows: TCPTimeWaitOverflow");
            cr_assert_eq(s->new_per_s[0], 0, "no new TIME_WAIT");
        }
    }
    release(&z);
}
