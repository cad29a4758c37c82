/*
 * live_bpf.c — the live table's kernel half, from user space: load
 * bpf/live.bpf.c, attach its event programs (each *_nested twin after its
 * pair), seed the maps with one iter/tcp walk, read the counts, and throw
 * the table away and seed a new one when the kernel side lost an event
 * (a map update refused, or an event both twins missed to recursion) or a
 * reconciliation found drift.
 *
 * Re-seeding loads a fresh copy of the programs and maps rather than
 * emptying the old ones: emptying maps that events keep writing to cannot
 * be made exact, and a load costs milliseconds.  The old table stays
 * attached until the new one is seeded, so no event falls in between.
 *
 * Knobs for tests: TWKIT_LIVE_FAIL=load|ksym makes tw_live_open fail as a
 * verifier rejection or a hidden tw_timer_handler would, with the same
 * kind of reason; TWKIT_LIVE_MAX_TW=N bounds the TIME_WAIT map to N
 * entries (when the caller leaves max_tw 0), so that a test can fill it;
 * TWKIT_LIVE_MAX_DESTS=N the same for the destinations; TWKIT_LIVE_PREALLOC=1
 * preallocates the TIME_WAIT map (for bench/live.sh, which measures what
 * that saves per event against the memory it takes at load);
 * TWKIT_LIVE_SKIP_CLOSE=N makes the first table ignore N changes to CLOSE,
 * the events the kernel sometimes runs without the table's programs (the
 * census, lib/live_census.c, must then find the table wrong).
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
#include <bpf/btf.h>

#include "live.skel.h"
#include "bpf_load.h"

struct table {
    struct live_bpf *skel;
    struct bpf_link *links[16];
    size_t n_links;
    bool substate_events; /* on_drop is loaded (the kernel's kfree_skb has rx_sk) */
    uint16_t port_lo, port_hi; /* ip_local_port_range the sides were told apart by */
    struct tw__census census;  /* the kernel's counts to check it with (fds -1: none) */
};

#define RETRY_NS (10ull * 1000000000ull)

struct tw_live {
    struct tw_live_opts o;
    struct table t;
    uint64_t lost_before;    /* lost events of the tables thrown away */
    size_t keys;             /* destinations in the table at the last read */
    int fail_err;            /* the last re-seed failed: its error and reason, */
    char fail_why[512];
    uint64_t retry_ns;       /* and no new attempt before this (a load costs ~1 s) */
    size_t used;             /* of which not 0 */
    struct tw_live_stats st;
};

static void table_free(struct table *t)
{
    for (size_t i = t->n_links; i-- > 0;)
        bpf_link__destroy(t->links[i]);
    t->n_links = 0;
    live_bpf__destroy(t->skel);
    t->skel = NULL;
    tw__census_close(&t->census);
}

static bool is_nested(const char *name)
{
    size_t l = strlen(name);
    return l >= 7 && !strcmp(name + l - 7, "_nested");
}

/* The map `stats` is per CPU: a value is the sum of the CPUs' (8 bytes
 * each). */
static int64_t percpu_sum(int fd, const void *key)
{
    int n = libbpf_num_possible_cpus();
    if (n <= 0)
        return 0;
    int64_t buf[n > 1024 ? 1024 : n], sum = 0; /* possible CPUs: bounded by the kernel config */
    if (n > 1024 || bpf_map_lookup_elem(fd, key, buf) != 0)
        return 0;
    for (int i = 0; i < n; i++)
        sum += buf[i];
    return sum;
}

static uint64_t stat_get(const struct table *t, uint32_t i)
{
    return (uint64_t)percpu_sum(bpf_map__fd(t->skel->maps.stats), &i);
}

/*
 * Events lost by the current table: refused updates, and for each twin
 * pair the smaller of the two programs' recursion misses (an event is lost
 * only when both missed it: bpf/twin.h).  A bound: the misses include
 * timers that are not TIME_WAIT's, so a re-seed may be needless, never
 * missing.
 */
static uint64_t table_lost(const struct table *t)
{
    uint64_t n = stat_get(t, LIVE_ST_LOST);
    struct bpf_program *p;
    bpf_object__for_each_program(p, t->skel->obj)
    {
        const char *name = bpf_program__name(p);
        if (p == t->skel->progs.seed || is_nested(name) || bpf_program__fd(p) < 0)
            continue;
        char tname[128];
        snprintf(tname, sizeof(tname), "%s_nested", name);
        struct bpf_program *q = bpf_object__find_program_by_name(t->skel->obj, tname);
        struct bpf_prog_info a = {0}, b = {0};
        __u32 la = sizeof(a), lb = sizeof(b);
        if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &a, &la))
            continue;
        if (q && bpf_obj_get_info_by_fd(bpf_program__fd(q), &b, &lb) == 0)
            n += a.recursion_misses < b.recursion_misses ? a.recursion_misses
                                                         : b.recursion_misses;
        else
            n += a.recursion_misses;
    }
    return n;
}

/* the table's totals, as the census compares them (lib/live_census.c) */
static int table_totals(void *arg, struct tw__census_k *k)
{
    const struct table *t = arg;
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
    }
    free(v);
    return 0;
}

static int netns_inode(uint32_t *ino)
{
    struct stat st;
    if (stat("/proc/thread-self/ns/net", &st) != 0)
        return -errno;
    *ino = (uint32_t)st.st_ino;
    return 0;
}

/* The walk: read the iterator to its end (the program writes nothing). */
static int run_seed(struct table *t)
{
    struct bpf_link *it = bpf_program__attach_iter(t->skel->progs.seed, NULL);
    if (!it)
        return -errno;
    int fd = bpf_iter_create(bpf_link__fd(it));
    int e = 0;
    if (fd < 0) {
        e = -errno;
    } else {
        char buf[64];
        ssize_t r;
        unsigned again = 0;
        while ((r = read(fd, buf, sizeof(buf))) != 0) {
            /* a read() that visits 1M sockets writing nothing ends with
             * EAGAIN (the kernel's MAX_ITER_OBJECTS); the next one goes on
             * from there */
            if (r < 0 && errno == EAGAIN && ++again < 4096)
                continue;
            if (r < 0 && errno != EINTR) {
                e = -errno;
                break;
            }
        }
        close(fd);
    }
    bpf_link__destroy(it);
    return e;
}

static void clear_dead(struct table *t)
{
    int fd = bpf_map__fd(t->skel->maps.dead);
    __u64 k;
    while (bpf_map_get_next_key(fd, NULL, &k) == 0)
        bpf_map_delete_elem(fd, &k);
}

/*
 * Does the kernel's kfree_skb tracepoint give the receiving socket (rx_sk,
 * Linux 6.11)?  Without it on_drop cannot load (it reads a fifth argument),
 * and a FIN_WAIT2 minisock that becomes TIME_WAIT without a timer event
 * stays counted as FIN_WAIT2 until a reconciliation.
 */
static bool drop_has_rx_sk(void)
{
    static int known = -1;
    if (known >= 0)
        return known;
    struct btf *b = btf__load_vmlinux_btf();
    known = 0;
    if (!b)
        return false;
    __s32 id = btf__find_by_name_kind(b, "btf_trace_kfree_skb", BTF_KIND_TYPEDEF);
    const struct btf_type *t = id > 0 ? btf__type_by_id(b, id) : NULL;
    if (t)
        t = btf__type_by_id(b, t->type);
    if (t && btf_is_ptr(t))
        t = btf__type_by_id(b, t->type);
    /* (void *ctx, skb, location, reason, rx_sk) */
    known = t && btf_is_func_proto(t) && btf_vlen(t) == 5;
    btf__free(b);
    return known;
}

/* Load, attach and seed a new table into *t: 0 or an error with g_why. */
static int table_open(const struct tw_live_opts *o, struct table *t, double *seed_s)
{
    const char *knob = getenv("TWKIT_LIVE_FAIL");
    uint32_t ns = 0;
    t->census.sockstat = t->census.sockstat6 = t->census.snmp = -1;
    int e = netns_inode(&ns);
    if (e)
        return set_why(e, "cannot identify the network namespace: %s", strerror(-e));
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return set_why(-ENOENT, "the kernel has no BTF (/sys/kernel/btf/vmlinux: %s)",
                       strerror(errno));
    const char *miss = twx_bpf_caps_missing();
    if (miss)
        return set_why(-EPERM, "the live table loads eBPF programs: it needs root, or CAP_BPF "
                               "and CAP_PERFMON (this process lacks %s)", miss);
    libbpf_print_fn_t old = tw__bpf_log_begin();
    const char *step = "opening";
    t->skel = live_bpf__open();
    if (!t->skel) {
        e = -errno;
        goto fail;
    }
    uint32_t max_tw = o->max_tw ? o->max_tw : 1u << 21;
    const char *mt = getenv("TWKIT_LIVE_MAX_TW");
    if (!o->max_tw && mt && atoi(mt) > 0)
        max_tw = (uint32_t)atoi(mt);
    bpf_map__set_max_entries(t->skel->maps.tws, max_tw);
    uint32_t max_dests = o->max_dests ? o->max_dests : 65536;
    const char *md = getenv("TWKIT_LIVE_MAX_DESTS");
    if (!o->max_dests && md && atoi(md) > 0)
        max_dests = (uint32_t)atoi(md);
    bpf_map__set_max_entries(t->skel->maps.dests, max_dests);
    bpf_map__set_max_entries(t->skel->maps.counts, max_dests);
    const char *pre = getenv("TWKIT_LIVE_PREALLOC");
    if (pre && !strcmp(pre, "1")) {
        bpf_map__set_map_flags(t->skel->maps.tws, 0);
    }
    t->substate_events = drop_has_rx_sk();
    if (!t->substate_events) {
        bpf_program__set_autoload(t->skel->progs.on_drop, false);
        bpf_program__set_autoload(t->skel->progs.on_drop_nested, false);
    }
    step = "loading";
    if (knob && !strcmp(knob, "load")) {
        e = -EINVAL;
        tw__bpf_log_set("forced by TWKIT_LIVE_FAIL=load (as a verifier rejection)");
        goto fail;
    }
    if ((e = live_bpf__load(t->skel)))
        goto fail;
    t->skel->bss->cfg_netns = ns;
    /* the sides: the range now, and the ports listening before the events
     * are attached (an accepted connection's event may come before the
     * walk reaches its listener) */
    step = "reading ip_local_port_range for";
    if ((e = tw__live_port_range(&t->port_lo, &t->port_hi)))
        goto fail;
    t->skel->bss->cfg_port_lo = t->port_lo;
    t->skel->bss->cfg_port_hi = t->port_hi;
    step = "listing the listeners for";
    {
        struct tw__live_side *sd = calloc(1, sizeof(*sd));
        if (!sd) {
            e = -ENOMEM;
            goto fail;
        }
        e = tw__live_listeners(sd);
        memcpy(t->skel->bss->listen_bits, sd->bits, sizeof(sd->bits));
        free(sd);
        if (e)
            goto fail;
    }
    if (tw__census_open(&t->census) != 0) /* (procfs without them: no census) */
        t->census.sockstat = t->census.sockstat6 = t->census.snmp = -1;
    t->skel->bss->seeding = 1;
    step = "attaching";
    for (int pass = 0; pass < 2; pass++) {
        struct bpf_program *p;
        bpf_object__for_each_program(p, t->skel->obj)
        {
            if (bpf_program__type(p) != BPF_PROG_TYPE_TRACING || p == t->skel->progs.seed ||
                !bpf_program__autoload(p) ||
                is_nested(bpf_program__name(p)) != (pass == 1))
                continue;
            struct bpf_link *l = bpf_program__attach(p);
            if (!l) {
                e = -errno;
                goto fail;
            }
            t->links[t->n_links++] = l;
        }
    }
    step = "running the seed walk of";
    uint64_t t0 = twx_now_ns();
    if ((e = run_seed(t)))
        goto fail;
    *seed_s = (double)(twx_now_ns() - t0) / 1e9;
    t->skel->bss->seeding = 0;
    clear_dead(t);
    tw__bpf_log_end(old);
    if (!t->skel->bss->twh_addr || (knob && !strcmp(knob, "ksym"))) {
        table_free(t);
        return set_why(-ENOENT, "the address of tw_timer_handler is hidden (/proc/kallsyms shows "
                                "0: kptr_restrict, or no CAP_SYSLOG), so TIME_WAIT births "
                                "cannot be told from other timers");
    }
    if (stat_get(t, LIVE_ST_LOST)) {
        uint32_t max = bpf_map__max_entries(t->skel->maps.tws);
        uint32_t mdst = bpf_map__max_entries(t->skel->maps.counts);
        table_free(t);
        return set_why(-ENOSPC, "the namespace's sockets did not fit in a new table's maps "
                                "(TIME_WAIT %u entries, destinations %u) when its seed walk "
                                "entered them, or a socket's entry could not be allocated; a "
                                "new table is tried every %llu s",
                       max, mdst, RETRY_NS / 1000000000ull);
    }
    return 0;
fail:
    tw__bpf_log_end(old);
    table_free(t);
    return tw__bpf_load_why(&g_why, e, "the live table's eBPF programs", step);
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
    int e = table_open(&l->o, &l->t, &l->st.seed_seconds);
    if (e) {
        free(l);
        return e;
    }
    l->st.seeds = 1;
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
    struct table nt = {0};
    double s = 0;
    int e = table_open(&l->o, &nt, &s);
    if (l->t.skel)
        l->lost_before += table_lost(&l->t);
    table_free(&l->t);
    if (e) { /* the reader walks instead; the reason is in tw_live_why() */
        l->fail_err = e;
        snprintf(l->fail_why, sizeof(l->fail_why), "%s", g_why.msg);
        l->retry_ns = twx_now_ns() + RETRY_NS;
        return e;
    }
    l->t = nt;
    l->keys = 0;
    l->st.seeds++;
    l->st.seed_seconds = s;
    return 0;
}

/*
 * The counts, sorted: one row per destination and state not 0.
 * Destinations are never deleted while the table lives (its entries hold
 * their indices), so those of sockets long gone (a server's accepted
 * connections are one destination per client port) stay at 0; *keys says
 * how many there are, for ensure() to seed a fresh table before they fill
 * the map.
 */
static int read_counts(struct table *t, struct tw__live_rows *r, size_t *keys)
{
    int dfd = bpf_map__fd(t->skel->maps.dests), cfd = bpf_map__fd(t->skel->maps.counts);
    struct live_key k, next;
    struct live_key *prev = NULL;
    r->n = 0;
    size_t nk = 0;
    while (bpf_map_get_next_key(dfd, prev, &next) == 0) {
        __u32 idx;
        struct live_counts c;
        k = next;
        prev = &k;
        nk++;
        if (bpf_map_lookup_elem(dfd, &k, &idx) != 0 || bpf_map_lookup_elem(cfd, &idx, &c) != 0)
            continue;
        for (unsigned st = 0; st < LIVE_STATES; st++) {
            if (c.n[st] == 0)
                continue;
            struct tw_live_row row = {.rport = k.rport, .state = (uint8_t)st, .n = c.n[st],
                                      .server = k.server};
            row.laddr.family = row.raddr.family = k.family;
            memcpy(row.laddr.u.w, k.laddr, 16);
            memcpy(row.raddr.u.w, k.raddr, 16);
            int e = tw__live_rows_push(r, &row);
            if (e)
                return e;
        }
    }
    tw__live_rows_finish(r);
    if (keys)
        *keys = nk;
    return 0;
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
    uint64_t lost = table_lost(&l->t);
    if (lost)
        return reseed(l, "%llu event(s) lost (a full map, or recursion)",
                      (unsigned long long)lost);
    char what[200];
    if (l->t.census.sockstat >= 0 &&
        tw__census_check(&l->t.census, table_totals, &l->t, what, sizeof(what)) == 1) {
        l->st.census_misses++;
        return reseed(l, "the table's totals disagreed with the kernel's own counts (%s): the "
                         "kernel ran events without the table's programs", what);
    }
    uint32_t max = bpf_map__max_entries(l->t.skel->maps.dests);
    if (l->keys > (size_t)max / 4 * 3 && l->keys > 2 * l->used)
        return reseed(l, "the destinations map is 3/4 full (%zu of %u destinations, %zu rows in "
                         "use, the rest for sockets long gone): a fresh table drops them",
                      l->keys, max, l->used);
    return 0;
}

int tw_live_read(struct tw_live *l, struct tw_live_row **rows, size_t *n)
{
    int e = ensure(l);
    if (e)
        return e;
    struct tw__live_rows r = {0};
    if ((e = read_counts(&l->t, &r, &l->keys))) {
        free(r.v);
        return e;
    }
    if (table_lost(&l->t)) { /* lost while being read: do not trust it */
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

/* One comparison: table, walk, table.  Drift rows into d. */
static int compare_once(struct tw_live *l, struct tw__live_rows *d, uint64_t *unsettled,
                        int64_t *abs_sum)
{
    struct tw__live_rows a = {0}, t = {0}, b = {0};
    char err[256] = "";
    int e;
    struct tw__live_side *sd = malloc(sizeof(*sd));
    if (!sd)
        return set_why(-ENOMEM, "%s", strerror(ENOMEM));
    if (!(e = read_counts(&l->t, &a, NULL))) {
        /* the table's sides: its sticky listening ports (read after a, so
         * that they hold every listener of a's connections) and its range */
        memcpy(sd->bits, l->t.skel->bss->listen_bits, sizeof(sd->bits));
        sd->lo = l->t.port_lo;
        sd->hi = l->t.port_hi;
        if (!(e = tw__live_walk(&t, sd, err, sizeof(err))))
            e = read_counts(&l->t, &b, &l->keys);
    }
    free(sd);
    if (!e)
        l->used = b.n;
    if (!e)
        *abs_sum = tw__live_compare(&a, &t, &b, d, unsettled);
    else
        set_why(e, "the reconciliation walk failed: %s", err[0] ? err : strerror(-e));
    free(a.v);
    free(t.v);
    free(b.v);
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
 * A row is drift only if it differs, with the table steady during the
 * walk, in three comparisons in a row: a count that moved and came back
 * during one walk is not drift, and three such coincidences on one row are
 * not expected.
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
        l->st.drift_abs = abs_sum;
        l->st.drift_rows = d.n;
        l->st.drift_total += d.n;
        if (d.n)
            e = reseed(l, "drift at reconciliation: %zu row(s) differed from the walk", d.n);
        else if (table_lost(&l->t))
            e = ensure(l);
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
        st->lost_events += table_lost(&l->t);
        st->tw_born = stat_get(&l->t, LIVE_ST_TW_BORN);
        st->tw_died = stat_get(&l->t, LIVE_ST_TW_DIED);
        st->seeded = stat_get(&l->t, LIVE_ST_SEEDED);
        st->tw_fin = stat_get(&l->t, LIVE_ST_TW_SUBSTATE);
        st->tw_fin_seen = l->t.substate_events;
    }
}

void tw_live_close(struct tw_live *l)
{
    if (!l)
        return;
    table_free(&l->t);
    free(l);
}

#endif /* TWKIT_BPF */
