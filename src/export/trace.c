/*
 * trace.c — `twkit export --trace`: the BPF programs of `twkit trace`
 * (src/trace/probe.c, bpf/trace.bpf.c) attached for the exporter's life,
 * so that each page also says which processes make the TIME_WAIT sockets
 * (twkit_timewait_created_total) and whose connect() calls fail with which
 * errno (twkit_connect_errors_total), per namespace and process name.
 *
 * At each collection the kernel's per-interval rows are drained (the same
 * drain trace uses) and added into two cumulative tables keyed by
 * (namespace, process name) and (namespace, process name, errno); a page
 * then gets, per namespace, the processes in the order they were first
 * seen (those first seen in the same collection: most TIME_WAIT made
 * first) — the order the cap of metrics_trace.c keeps for the exporter's
 * life.  Per-process ids, cgroups and destinations are dropped here: a
 * metric label per pid or destination would be unbounded.
 *
 * Why it cannot run (no BPF in this build, no BTF, no privileges) is said
 * once, at start, with what exactly is missing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../trace/trace.h"
#include "export.h"
#include "tool.h"

struct proc_key {
    uint32_t netns;
    char comm[TRACE_COMM_LEN];
};

struct err_key {
    uint32_t netns;
    char comm[TRACE_COMM_LEN];
    uint32_t err;
};

struct exp_trace {
    struct trace_probe *probe;
    struct trace_tab procs;      /* proc_key -> TIME_WAIT made; first seen first */
    struct trace_tab errs;       /* err_key -> failed connect() calls */
    struct trace_tab closes, fails;  /* one drain */
};

int exp_trace_open(uint32_t netns, struct exp_trace **out, char *why, size_t len)
{
    *out = NULL;
    const char *nobpf;
    if (!trace_probe_built(&nobpf)) {
        snprintf(why, len, "this twkit was built without its BPF programs (%s)", nobpf);
        return EXP_EXIT_TRACE_UNAVAILABLE;
    }
    bool exact;
    trace_priv_missing(why, len, &exact);
    if (why[0])
        return EXP_EXIT_TRACE_NOPRIV;
    if (!exact)
        twx_warn("export: --trace: TIME_WAIT births are approximate: the address of "
                 "tw_timer_handler is hidden from this process (exact counting needs "
                 "CAP_SYSLOG)");
    struct exp_trace *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(why, len, "out of memory");
        return TW_EXIT_RUNTIME;
    }
    trace_tab_init(&t->procs, sizeof(struct proc_key), 1);
    trace_tab_init(&t->errs, sizeof(struct err_key), 1);
    trace_tab_init(&t->closes, sizeof(struct trace_close_key), TRACE_CLOSE_NV);
    trace_tab_init(&t->fails, sizeof(struct trace_fail_key), TRACE_FAIL_NV);
    struct trace_cfg cfg = {.method = exact ? TRACE_EXACT : TRACE_APPROX,
                            .netns = netns, .dport_hi = 65535};
    int rc = trace_probe_open(&cfg, &t->probe, why, len);
    if (rc) {
        exp_trace_close(t);
        return rc == TRACE_NOPRIV ? EXP_EXIT_TRACE_NOPRIV
               : rc == TRACE_UNAVAILABLE ? EXP_EXIT_TRACE_UNAVAILABLE : TW_EXIT_RUNTIME;
    }
    *out = t;
    return 0;
}

void exp_trace_close(struct exp_trace *t)
{
    if (!t)
        return;
    trace_probe_close(t->probe);
    trace_tab_release(&t->procs);
    trace_tab_release(&t->errs);
    trace_tab_release(&t->closes);
    trace_tab_release(&t->fails);
    free(t);
}

static void proc_of(const struct trace_who *w, struct proc_key *pk)
{
    memset(pk, 0, sizeof(*pk));
    pk->netns = w->netns;
    memcpy(pk->comm, w->comm, TRACE_COMM_LEN);
    pk->comm[TRACE_COMM_LEN - 1] = '\0';
}

int exp_trace_drain(struct exp_trace *t)
{
    trace_tab_clear(&t->closes);
    trace_tab_clear(&t->fails);
    int e = trace_probe_drain(t->probe, &t->closes, &t->fails);
    if (e)
        return e;
    /* this drain's processes, then added to procs most TIME_WAIT first: the
     * rank of processes first seen together does not depend on hash order */
    struct trace_tab fresh;
    trace_tab_init(&fresh, sizeof(struct proc_key), 1);
    for (size_t i = 0; i < t->closes.n && !e; i++) {
        const struct trace_close_key *k = trace_tab_key(&t->closes, i);
        const struct trace_close_val *v = (const void *)trace_tab_val(&t->closes, i);
        uint64_t made = v->tw + v->fw2;
        struct proc_key pk;
        proc_of(&k->who, &pk);
        if (made)
            e = trace_tab_add(&fresh, &pk, &made);
    }
    for (size_t i = 0; i < t->fails.n && !e; i++) {
        const struct trace_fail_key *k = trace_tab_key(&t->fails, i);
        const struct trace_fail_val *v = (const void *)trace_tab_val(&t->fails, i);
        if (k->call != TRACE_CONNECT)
            continue;
        struct proc_key pk;
        proc_of(&k->who, &pk);
        struct err_key ek = {.netns = pk.netns, .err = k->err};
        memcpy(ek.comm, pk.comm, TRACE_COMM_LEN);
        uint64_t zero = 0, n = v->now + v->later;
        if (!(e = trace_tab_add(&fresh, &pk, &zero)))
            e = trace_tab_add(&t->errs, &ek, &n);
    }
    size_t *order = e || !fresh.n ? NULL : trace_tab_order(&fresh, 1);
    if (!e && fresh.n && !order)
        e = -ENOMEM;
    for (size_t i = 0; i < fresh.n && !e; i++)
        e = trace_tab_add(&t->procs, trace_tab_key(&fresh, order[i]),
                          trace_tab_val(&fresh, order[i]));
    free(order);
    trace_tab_release(&fresh);
    return e;
}

int exp_trace_view(const struct exp_trace *t, uint32_t netns, struct exp_trace_view *v)
{
    memset(v, 0, sizeof(*v));
    size_t np = 0, ne = 0;
    for (size_t i = 0; i < t->procs.n; i++)
        np += ((const struct proc_key *)trace_tab_key(&t->procs, i))->netns == netns;
    for (size_t i = 0; i < t->errs.n; i++)
        ne += ((const struct err_key *)trace_tab_key(&t->errs, i))->netns == netns;
    v->procs = calloc(np ? np : 1, sizeof(*v->procs));
    v->errs = calloc(ne ? ne : 1, sizeof(*v->errs));
    v->names = calloc(ne ? ne : 1, sizeof(*v->names));
    if (!v->procs || !v->errs || !v->names) {
        exp_trace_view_free(v);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->procs.n; i++) {
        const struct proc_key *k = trace_tab_key(&t->procs, i);
        if (k->netns == netns)
            v->procs[v->m.n_procs++] = (struct metrics_trace_proc){
                .comm = k->comm, .created = trace_tab_val(&t->procs, i)[0]};
    }
    for (size_t i = 0; i < t->errs.n; i++) {
        const struct err_key *k = trace_tab_key(&t->errs, i);
        if (k->netns != netns)
            continue;
        size_t p = 0;   /* every errs row's process is in procs (exp_trace_drain) */
        while (p + 1 < v->m.n_procs && strncmp(v->procs[p].comm, k->comm, TRACE_COMM_LEN))
            p++;
        size_t j = v->m.n_errs++;
        v->errs[j] = (struct metrics_trace_err){
            .proc = p, .err = trace_errno_name(k->err, v->names[j], sizeof(v->names[j])),
            .n = trace_tab_val(&t->errs, i)[0]};
    }
    v->m.procs = v->procs;
    v->m.errs = v->errs;
    return 0;
}

void exp_trace_view_free(struct exp_trace_view *v)
{
    free(v->procs);
    free(v->errs);
    free(v->names);
    memset(v, 0, sizeof(*v));
}
