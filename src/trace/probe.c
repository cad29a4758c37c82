/*
 * probe.c — `twkit trace`'s BPF programs in user space: load the libbpf
 * skeleton of bpf/trace.bpf.c with the run's filters in its read-only
 * data, attach, drain the per-interval tables, read the counters, detach.
 *
 * It also answers, before anything is loaded, whether trace can run here
 * and what exactly is missing: the BPF programs in this build, the kernel's
 * BTF, the capabilities (root, or CAP_BPF and CAP_PERFMON; CAP_SYSLOG or
 * kptr_restrict=0 to see the address that exact birth counting needs).
 * libbpf's own messages are captured, not printed: when the kernel refuses
 * the programs, the last lines are shown with the reason, instead of
 * libbpf's advice about RLIMIT_MEMLOCK, which is wrong on current kernels.
 *
 * Draining: the kernel writes into the pair of tables chosen by `gen`;
 * flipping it moves new events to the other pair.  A BPF program runs to
 * completion without sleeping (tracepoint programs run with preemption
 * disabled), so after a short settle the idle pair has no writer and is
 * read and emptied exactly.
 *
 * Built without BPF (TWKIT_BPF 0), every entry point reports why.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "twkit_bpf_config.h"
#include "twx/bpfcaps.h"
#include "twx/clock.h"
#include "trace.h"

#define KERNEL_BTF "/sys/kernel/btf/vmlinux"

/* ---- privileges (also without BPF) --------------------------------------- */

void trace_priv_missing(char *buf, size_t len, bool *exact_possible)
{
    buf[0] = '\0';
    if (exact_possible)
        *exact_possible = trace_kallsyms_visible("/proc/kallsyms");
    const char *miss = twx_bpf_caps_missing();
    if (!miss)
        return;
    snprintf(buf, len,
             "trace loads eBPF programs: it needs root, or CAP_BPF and CAP_PERFMON "
             "(this process lacks %s)%s",
             miss, twx_has_cap(CAP_SYSLOG) ? "" : "; exact birth counts also need CAP_SYSLOG");
}

bool trace_kallsyms_visible(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[512];
    bool seen = false;
    while (fgets(line, sizeof(line), f)) {
        char *sp = strrchr(line, ' ');
        if (!sp || strncmp(sp + 1, "tw_timer_handler", 16) || (sp[17] != '\n' && sp[17]))
            continue;
        seen = strtoull(line, NULL, 16) != 0;
        break;
    }
    fclose(f);
    return seen;
}

#if !TWKIT_BPF

bool trace_probe_built(const char **why)
{
    *why = TWKIT_BPF_WHY;
    return false;
}

int trace_probe_open(const struct trace_cfg *cfg, struct trace_probe **out, char *why, size_t len)
{
    (void)cfg;
    *out = NULL;
    snprintf(why, len, "this twkit has no BPF programs: %s", TWKIT_BPF_WHY);
    return TRACE_UNAVAILABLE;
}

int trace_probe_drain(struct trace_probe *b, struct trace_tab *c, struct trace_tab *f)
{
    return -ENOSYS;
}

int trace_probe_births(struct trace_probe *b, uint32_t netns, struct trace_births *out)
{
    return -ENOSYS;
}

int trace_probe_stats(struct trace_probe *b, uint64_t out[TRACE_ST_MAX])
{
    return -ENOSYS;
}

uint64_t trace_probe_missed(struct trace_probe *b)
{
    return 0;
}

size_t trace_probe_prog_stats(struct trace_probe *b, struct trace_prog_stat *out, size_t max)
{
    return 0;
}

void trace_probe_detach(struct trace_probe *b)
{
}

void trace_probe_close(struct trace_probe *b)
{
}

#else /* TWKIT_BPF */

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "trace.skel.h"

struct trace_probe {
    struct trace_bpf *skel;
    int stats_fd;
    bool attached;
    int ncpu;
};

bool trace_probe_built(const char **why)
{
    *why = "";
    return true;
}

/* libbpf's messages: the last few kept for an error report. */
static char g_log[4096];
static size_t g_log_len;

static int log_cb(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG && !getenv("TWKIT_TRACE_DEBUG"))
        return 0;
    char line[512];
    va_list copy;
    va_copy(copy, ap);
    if (getenv("TWKIT_TRACE_DEBUG"))   /* everything libbpf says, verifier logs included */
        vfprintf(stderr, fmt, copy);
    va_end(copy);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n <= 0)
        return 0;
    size_t l = strlen(line);
    if (l >= sizeof(g_log))
        return 0;
    if (g_log_len + l >= sizeof(g_log)) {   /* keep the tail */
        size_t drop = g_log_len + l - sizeof(g_log) + 1;
        memmove(g_log, g_log + drop, g_log_len - drop);
        g_log_len -= drop;
    }
    memcpy(g_log + g_log_len, line, l);
    g_log_len += l;
    g_log[g_log_len] = '\0';
    return 0;
}

/* The last non-empty line libbpf logged, for a one-line reason. */
static const char *log_last(char *buf, size_t len)
{
    buf[0] = '\0';
    size_t end = g_log_len;
    while (end && (g_log[end - 1] == '\n' || g_log[end - 1] == ' '))
        end--;
    size_t start = end;
    while (start && g_log[start - 1] != '\n')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), g_log + start);
    return buf;
}

static int fail(struct trace_probe *b, int kind, char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(struct trace_probe *b, int kind, char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    trace_probe_close(b);
    return kind;
}

static bool is_nested(const char *name)
{
    size_t l = strlen(name);
    return l >= 7 && !strcmp(name + l - 7, "_nested");
}

/*
 * Attach every program, each *_nested one after its twin: the kernel calls
 * the programs of a tracepoint in the order they were attached, and a
 * nested program relies on its twin having seen the event first.  The links
 * go into the skeleton, which detaches and frees them.
 */
static int attach_in_order(struct trace_probe *b)
{
    struct bpf_object_skeleton *s = b->skel->skeleton;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < s->prog_cnt; i++) {
            struct bpf_program *p = *s->progs[i].prog;
            if (is_nested(bpf_program__name(p)) != (pass == 1) || !bpf_program__autoload(p))
                continue;
            struct bpf_link *l = bpf_program__attach(p);
            if (!l)
                return -errno;
            *s->progs[i].link = l;
        }
    }
    return 0;
}

int trace_probe_open(const struct trace_cfg *cfg, struct trace_probe **out, char *why, size_t len)
{
    *out = NULL;
    char last[400];
    if (access(KERNEL_BTF, R_OK) != 0)
        return fail(NULL, TRACE_UNAVAILABLE, why, len,
                    "this kernel has no BTF (%s; CONFIG_DEBUG_INFO_BTF=y): the tp_btf "
                    "programs of trace need it", KERNEL_BTF);
    struct trace_probe *b = calloc(1, sizeof(*b));
    if (!b)
        return fail(NULL, TRACE_ERROR, why, len, "out of memory");
    b->stats_fd = -1;
    g_log_len = 0;
    g_log[0] = '\0';
    libbpf_set_print(log_cb);
    b->ncpu = libbpf_num_possible_cpus();
    b->skel = trace_bpf__open();
    if (!b->skel || b->ncpu <= 0)
        return fail(b, TRACE_UNAVAILABLE, why, len, "cannot open the BPF object: %s",
                    log_last(last, sizeof(last)));

    struct trace_bpf__rodata *ro = b->skel->rodata;
    ro->cfg_exact = cfg->method == TRACE_EXACT;
    ro->cfg_netns = cfg->netns;
    ro->cfg_tgid = cfg->tgid;
    ro->cfg_has_comm = cfg->comm[0] != '\0';
    memcpy((char *)ro->cfg_comm, cfg->comm, TRACE_COMM_LEN);
    ro->cfg_dport_lo = cfg->dport_lo;
    ro->cfg_dport_hi = cfg->dport_hi;
    ro->cfg_ncidr = cfg->ncidr;
    memcpy((void *)ro->cfg_cidr, cfg->cidr, sizeof(cfg->cidr));
    if (cfg->method != TRACE_EXACT) {
        bpf_program__set_autoload(b->skel->progs.on_tw_start, false);
        bpf_program__set_autoload(b->skel->progs.on_tw_start_nested, false);
    }

    int e = trace_bpf__load(b->skel);
    if (e == -EPERM)
        return fail(b, TRACE_NOPRIV, why, len,
                    "the kernel refused to load the BPF programs (%s): twkit trace needs "
                    "root, or CAP_BPF and CAP_PERFMON", strerror(-e));
    if (e)
        return fail(b, TRACE_UNAVAILABLE, why, len, "the kernel refused the BPF programs: %s (%s)",
                    strerror(-e), log_last(last, sizeof(last)));
    if ((e = attach_in_order(b)))
        return fail(b, e == -EPERM ? TRACE_NOPRIV : TRACE_UNAVAILABLE, why, len,
                    "cannot attach the BPF programs: %s (%s)", strerror(-e),
                    log_last(last, sizeof(last)));
    b->attached = true;
    if (cfg->prog_stats) {
        b->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
        if (b->stats_fd < 0)
            return fail(b, TRACE_ERROR, why, len, "--prog-stats: BPF_ENABLE_STATS: %s",
                        strerror(errno));
    }
    *out = b;
    return TRACE_OK;
}

/* Sum the ncpu per-CPU copies of a value of nv counters at vals into out. */
static void sum_cpus(const uint64_t *vals, size_t nv, int ncpu, uint64_t *out)
{
    memset(out, 0, nv * sizeof(*out));
    for (int c = 0; c < ncpu; c++)
        for (size_t j = 0; j < nv; j++)
            out[j] += vals[(size_t)c * nv + j];
}

/* Read and empty one kernel table (per CPU, counters only) into t. */
static int drain_map(struct trace_probe *b, struct bpf_map *m, struct trace_tab *t)
{
    int fd = bpf_map__fd(m);
    size_t ksz = bpf_map__key_size(m), nv = bpf_map__value_size(m) / 8;
    size_t vsz = nv * 8 * (size_t)b->ncpu;   /* what the kernel returns per key */
    enum { CHUNK = 256 };
    unsigned char *keys = malloc(CHUNK * ksz), *vals = malloc(CHUNK * vsz);
    uint64_t *sum = malloc(nv * sizeof(*sum));
    int rc = 0;
    if (!keys || !vals || !sum) {
        rc = -ENOMEM;
        goto out;
    }
    /* Batches first; where the kernel lacks them, key by key. */
    __u32 token = 0;
    bool first = true;
    for (;;) {
        __u32 count = CHUNK;
        int e = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &token, &token, keys, vals,
                                                &count, NULL);
        int err = e ? errno : 0;
        first = false;
        for (__u32 i = 0; i < count && (!e || err == ENOENT); i++) {
            sum_cpus((const uint64_t *)(vals + i * vsz), nv, b->ncpu, sum);
            if ((rc = trace_tab_add(t, keys + i * ksz, sum)))
                goto out;
        }
        if (!e)
            continue;
        if (err == ENOENT)
            break;
        if (err != EINVAL && err != ENOTSUP && err != EOPNOTSUPP) {
            rc = -err;
            goto out;
        }
        while (bpf_map_get_next_key(fd, NULL, keys) == 0) {
            if (bpf_map_lookup_and_delete_elem(fd, keys, vals) != 0) {
                if (bpf_map_lookup_elem(fd, keys, vals) != 0 || bpf_map_delete_elem(fd, keys)) {
                    rc = -errno;
                    goto out;
                }
            }
            sum_cpus((const uint64_t *)vals, nv, b->ncpu, sum);
            if ((rc = trace_tab_add(t, keys, sum)))
                goto out;
        }
        break;
    }
out:
    free(keys);
    free(vals);
    free(sum);
    return rc;
}

int trace_probe_drain(struct trace_probe *b, struct trace_tab *closes, struct trace_tab *fails)
{
    struct trace_bpf *s = b->skel;
    unsigned live = __atomic_load_n(&s->bss->gen, __ATOMIC_SEQ_CST) & 1;
    int e;
    if (b->attached) {
        __atomic_store_n(&s->bss->gen, live ^ 1, __ATOMIC_SEQ_CST);
        twx_sleep_ns(20 * 1000000ull);   /* let programs that read the old gen finish */
        if ((e = drain_map(b, live ? s->maps.closes1 : s->maps.closes0, closes)) ||
            (e = drain_map(b, live ? s->maps.fails1 : s->maps.fails0, fails)))
            return e;
        return 0;
    }
    /* detached: nothing writes any more, take both */
    if ((e = drain_map(b, s->maps.closes0, closes)) ||
        (e = drain_map(b, s->maps.closes1, closes)) ||
        (e = drain_map(b, s->maps.fails0, fails)) || (e = drain_map(b, s->maps.fails1, fails)))
        return e;
    return 0;
}

int trace_probe_births(struct trace_probe *b, uint32_t netns, struct trace_births *out)
{
    int fd = bpf_map__fd(b->skel->maps.births);
    struct trace_births *v = calloc((size_t)b->ncpu, sizeof(*v));   /* one per CPU */
    if (!v)
        return -ENOMEM;
    memset(out, 0, sizeof(*out));
    __u32 key, next;
    __u32 *prev = NULL;
    int rc = 0;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (netns && key != netns)
            continue;
        if (bpf_map_lookup_elem(fd, &key, v) != 0) {
            if (errno == ENOENT)
                continue;
            rc = -errno;
            break;
        }
        for (int c = 0; c < b->ncpu; c++) {
            out->tw += v[c].tw;
            out->fw2 += v[c].fw2;
        }
    }
    free(v);
    return rc;
}

int trace_probe_stats(struct trace_probe *b, uint64_t out[TRACE_ST_MAX])
{
    int fd = bpf_map__fd(b->skel->maps.stats);
    uint64_t *v = calloc((size_t)b->ncpu, sizeof(uint64_t));
    if (!v)
        return -ENOMEM;
    for (__u32 k = 0; k < TRACE_ST_MAX; k++) {
        out[k] = 0;
        if (bpf_map_lookup_elem(fd, &k, v) == 0)
            for (int c = 0; c < b->ncpu; c++)
                out[k] += v[c];
    }
    free(v);
    return 0;
}

static int prog_info(struct bpf_program *p, struct bpf_prog_info *info)
{
    int fd = bpf_program__fd(p);
    if (fd < 0)
        return -1;
    __u32 len = sizeof(*info);
    memset(info, 0, sizeof(*info));
    return bpf_obj_get_info_by_fd(fd, info, &len);
}

uint64_t trace_probe_missed(struct trace_probe *b)
{
    /*
     * An event is lost only if a program and its *_nested twin both missed
     * it, so a pair loses at most the smaller of their recursion_misses; a
     * program without a twin loses what it misses.  A bound, not a count:
     * most misses of the timer programs are other kernel timers.
     */
    uint64_t n = 0;
    struct bpf_program *p;
    bpf_object__for_each_program(p, b->skel->obj) {
        struct bpf_prog_info info, twin;
        const char *name = bpf_program__name(p);
        if (is_nested(name) || prog_info(p, &info) != 0)
            continue;
        char tname[64];
        snprintf(tname, sizeof(tname), "%s_nested", name);
        struct bpf_program *t = bpf_object__find_program_by_name(b->skel->obj, tname);
        if (t && prog_info(t, &twin) == 0)
            n += info.recursion_misses < twin.recursion_misses ? info.recursion_misses
                                                               : twin.recursion_misses;
        else
            n += info.recursion_misses;
    }
    return n;
}

size_t trace_probe_prog_stats(struct trace_probe *b, struct trace_prog_stat *out, size_t max)
{
    size_t n = 0;
    struct bpf_program *p;
    bpf_object__for_each_program(p, b->skel->obj) {
        struct bpf_prog_info info;
        if (n >= max || prog_info(p, &info) != 0)
            continue;
        snprintf(out[n].name, sizeof(out[n].name), "%s", bpf_program__name(p));
        out[n].run_cnt = info.run_cnt;
        out[n].run_time_ns = info.run_time_ns;
        out[n].recursion_misses = info.recursion_misses;
        n++;
    }
    return n;
}

void trace_probe_detach(struct trace_probe *b)
{
    if (b && b->attached) {
        trace_bpf__detach(b->skel);
        b->attached = false;
    }
}

void trace_probe_close(struct trace_probe *b)
{
    if (!b)
        return;
    trace_probe_detach(b);
    if (b->stats_fd >= 0)
        close(b->stats_fd);
    trace_bpf__destroy(b->skel);
    free(b);
}

#endif /* TWKIT_BPF */
