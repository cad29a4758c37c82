/*
 * live_table.c — one live table's kernel half: load bpf/live.bpf.c, attach
 * its event programs (each *_nested twin after its pair), seed the maps
 * with one iter/tcp walk, read the counts and the programs' counters, and
 * free it all.  live_bpf.c decides when a table is thrown away and a new
 * one seeded; this file only makes, reads and frees one.
 *
 * A table follows the namespace it is opened in: the events are filtered on
 * its nsfs inode, the walk sees the namespace of the thread that creates
 * it, and the census (live_census.c) opens that namespace's procfs files.
 *
 * Knobs for tests: TWKIT_LIVE_FAIL=load|ksym makes the open fail as a
 * verifier rejection or a hidden tw_timer_handler would, with the same
 * kind of reason; TWKIT_LIVE_MAX_TW=N bounds the TIME_WAIT map to N
 * entries (when the caller leaves max_tw 0), so that a test can fill it;
 * TWKIT_LIVE_MAX_DESTS=N the same for the destinations; TWKIT_LIVE_PREALLOC=1
 * preallocates the TIME_WAIT map (for bench/live.sh, which measures what
 * that saves per event against the memory it takes at load).
 */
#include <errno.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twkit_bpf_config.h"

#if TWKIT_BPF

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpf/live.h"
#include "bpf_load.h"
#include "live.skel.h"
#include "live_table.h"
#include "twx/bpfcaps.h"
#include "twx/clock.h"

#define set_why(err, ...) twx_why_set(why, err, __VA_ARGS__)

void tw__table_free(struct tw__table *t)
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

uint64_t tw__table_stat(const struct tw__table *t, uint32_t i)
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
uint64_t tw__table_lost(const struct tw__table *t)
{
    uint64_t n = tw__table_stat(t, LIVE_ST_LOST);
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

static int netns_inode(uint32_t *ino)
{
    struct stat st;
    if (stat("/proc/thread-self/ns/net", &st) != 0)
        return -errno;
    *ino = (uint32_t)st.st_ino;
    return 0;
}

/* The walk: read the iterator to its end (the program writes nothing). */
static int run_seed(struct tw__table *t)
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

static void clear_dead(struct tw__table *t)
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

int tw__table_open(const struct tw_live_opts *o, struct tw__table *t, double *seed_s,
                   struct twx_why *why)
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
        tw__table_free(t);
        return set_why(-ENOENT, "the address of tw_timer_handler is hidden (/proc/kallsyms shows "
                                "0: kptr_restrict, or no CAP_SYSLOG), so TIME_WAIT births "
                                "cannot be told from other timers");
    }
    if (!t->skel->bss->twt_addr) {
        tw__table_free(t);
        return set_why(-ENOENT, "this kernel has no tcp_write_timer in /proc/kallsyms, so a "
                                "connect() cannot be told hashed (out of its port search)");
    }
    if (tw__table_stat(t, LIVE_ST_LOST)) {
        uint32_t max = bpf_map__max_entries(t->skel->maps.tws);
        uint32_t mdst = bpf_map__max_entries(t->skel->maps.counts);
        tw__table_free(t);
        return set_why(-ENOSPC, "the namespace's sockets did not fit in a new table's maps "
                                "(TIME_WAIT %u entries, destinations %u) when its seed walk "
                                "entered them, or a socket's entry could not be allocated; a "
                                "new table is tried every %llu s",
                       max, mdst, LIVE_RETRY_NS / 1000000000ull);
    }
    return 0;
fail:
    tw__bpf_log_end(old);
    tw__table_free(t);
    return tw__bpf_load_why(why, e, "the live table's eBPF programs", step);
}

/*
 * The counts, sorted: one row per destination and state not 0; ev (if not
 * NULL): one row per destination (state 0) whose n is its events so far.
 * Destinations are never deleted while the table lives (its entries hold
 * their indices), so those of sockets long gone (a server's accepted
 * connections are one destination per client port) stay at 0; *keys says
 * how many there are, for ensure() to seed a fresh table before they fill
 * the map.
 */
int tw__table_counts(struct tw__table *t, struct tw__live_rows *r, struct tw__live_rows *ev,
                     size_t *keys)
{
    int dfd = bpf_map__fd(t->skel->maps.dests), cfd = bpf_map__fd(t->skel->maps.counts);
    struct live_key k, next;
    struct live_key *prev = NULL;
    r->n = 0;
    if (ev)
        ev->n = 0;
    size_t nk = 0;
    while (bpf_map_get_next_key(dfd, prev, &next) == 0) {
        __u32 idx;
        struct live_counts c;
        k = next;
        prev = &k;
        nk++;
        if (bpf_map_lookup_elem(dfd, &k, &idx) != 0 || bpf_map_lookup_elem(cfd, &idx, &c) != 0)
            continue;
        struct tw_live_row row = {.rport = k.rport, .server = k.server};
        row.laddr.family = row.raddr.family = k.family;
        memcpy(row.laddr.u.w, k.laddr, 16);
        memcpy(row.raddr.u.w, k.raddr, 16);
        int e;
        row.n = c.n[LIVE_EVENTS];
        if (ev && row.n && (e = tw__live_rows_push(ev, &row)))
            return e;
        for (unsigned st = 0; st < LIVE_STATES; st++) {
            /* (LIVE_PENDING: connect()s not hashed yet; LIVE_EVENTS: no state) */
            if (c.n[st] == 0 || st == LIVE_PENDING || st == LIVE_EVENTS)
                continue;
            row.state = (uint8_t)st;
            row.n = c.n[st];
            if ((e = tw__live_rows_push(r, &row)))
                return e;
        }
    }
    tw__live_rows_finish(r);
    if (ev)
        tw__live_rows_finish(ev);
    if (keys)
        *keys = nk;
    return 0;
}

#endif /* TWKIT_BPF */
