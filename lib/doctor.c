/*
 * doctor.c — the findings engine of `twkit doctor`: a declarative table of
 * rules run over one measurement (struct tw_doctor_sample).
 *
 * Tuning guides repeat claims that are false on current Linux (TIME_WAIT
 * shortened by tcp_fin_timeout, tcp_tw_recycle, "reuse helps servers").
 * Each rule looks at measured numbers only — sysctls, counter deltas over
 * the sampling window, the socket report of `twkit stat`, the sysctl
 * configuration files — and says what is wrong for *this* load, why (the
 * kernel code or RFC that makes it so), and the exact fix.  A rule that sees
 * nothing wrong says nothing, so a healthy host gets a short all-clear.
 *
 * This file holds the table and runs it: the numbers every rule shares are
 * derived once, the findings are ordered worst first, and the sysctl
 * changes are merged one per key.  The rules themselves are in
 * doctor_rules_*.c, the finding helpers in doctor_finding.c.  The facts the
 * rules' text relies on are re-measured on the running kernel by
 * tests/integration/doctor_facts.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_int.h"

struct rule {
    const char *id;
    const char *title;
    void (*check)(struct tw__dctx *x);
};

static const struct rule rules[] = {
    /* the host-wide cause first: within a severity, findings keep this order */
    {"bind-before-connect", "bind() before connect(): one host-wide pool of ports",
     tw__rule_bind_connect},
    {"port-pressure", "destinations near ephemeral-port exhaustion",
     tw__rule_port_pressure},
    {"tw-reuse-off", "tcp_tw_reuse = 0", tw__rule_reuse_off},
    {"tw-reuse-loopback-only", "tcp_tw_reuse = 2, pressure on non-loopback destinations",
     tw__rule_reuse_loopback},
    {"timestamps-off", "tcp_timestamps = 0: reuse cannot work", tw__rule_timestamps},
    {"tw-reuse-delay", "tcp_tw_reuse_delay (6.14+) and the rate it caps", tw__rule_reuse_delay},
    {"tw-buckets", "tcp_max_tw_buckets reached or close to it",
     tw__rule_buckets},
    {"fin-timeout-myth", "tcp_fin_timeout lowered to shorten TIME_WAIT",
     tw__rule_fin_timeout},
    {"tw-recycle-config", "tcp_tw_recycle in a sysctl file (removed in 4.12)", tw__rule_recycle},
    {"port-range-narrow", "ip_local_port_range too narrow for the connect rate",
     tw__rule_range_narrow},
    {"port-range-parity", "ip_local_port_range ends of the same parity", tw__rule_range_parity},
    {"port-range-listeners", "listening ports inside the ephemeral range",
     tw__rule_range_listeners},
    {"port-range-reserved", "ip_local_reserved_ports inside the range", tw__rule_range_reserved},
    {"server-tw", "server-side TIME_WAIT dominating (memory only)", tw__rule_server_tw},
    {"rst-close", "RST closes (SO_LINGER {1, 0}) instead of TIME_WAIT",
     tw__rule_rst_close},
    {"rfc1337", "TIME_WAIT ended early: RSTs (tcp_rfc1337) or new SYNs", tw__rule_rfc1337},
    {"sysctl-conf", "unreadable, malformed or out-of-range sysctl files", tw__rule_conf},
};

#define N_RULES TW__ARRAY_LEN(rules)

const struct tw_doctor_rule *tw_doctor_rules(size_t *n)
{
    static struct tw_doctor_rule pub[N_RULES];
    /* filled on every call: plain stores of the same constants, race-free in practice */
    for (size_t i = 0; i < N_RULES; i++) {
        pub[i].id = rules[i].id;
        pub[i].title = rules[i].title;
    }
    if (n)
        *n = N_RULES;
    return pub;
}

uint64_t tw_doctor_delta(const struct tw_doctor_sample *s, enum tw_counter_id id)
{
    if (!s->have_counters || s->seconds <= 0 || id >= TW_C_MAX || !s->c0.have[id] ||
        !s->c1.have[id] || s->c1.v[id] < s->c0.v[id])
        return 0;
    return s->c1.v[id] - s->c0.v[id];
}

double tw_doctor_connect_rate(const struct tw_doctor_sample *s)
{
    if (s->seconds <= 0)
        return 0;
    return (double)tw_doctor_delta(s, TW_C_ACTIVE_OPENS) / s->seconds;
}

/* The numbers several rules use, derived once. */
static void derive(struct tw__dctx *x)
{
    const struct tw_report *rep = x->rep;
    x->rate = tw_doctor_connect_rate(x->s);
    tw__doctor_forecast_init(x);
    if (!rep)
        return;
    x->eff = rep->effective_range;
    for (size_t i = 0; i < rep->n_pressure; i++) {
        const struct tw_pressure *p = &rep->pressure[i];
        if (!x->busiest || p->pct > x->busiest->pct)
            x->busiest = p;
        if (p->pct < TW_DOCTOR_HOT_PCT)
            continue;
        x->hot++;
        if (!p->loopback)
            x->hot_nonloop++;
        if (p->reuse_applies)
            x->hot_reuse++;
    }
    for (size_t i = 0; i < rep->n_pressure; i++) {
        x->n_dest++;
        x->sum_in_use += rep->pressure[i].in_use;
    }
    x->shared = x->sum_in_use > rep->host_ports_in_use ? x->sum_in_use - rep->host_ports_in_use : 0;
}

/*
 * The changes to write or apply: those of warn and crit findings, one per
 * key (the worst finding's value wins).  An info finding's change stays a
 * suggestion in the finding: a host with nothing above info is all clear,
 * and --apply changes nothing on it.
 */
static void merge_changes(struct tw_doctor_result *r, int *err)
{
    for (size_t i = 0; i < r->n && !*err; i++) {
        const struct tw_finding *f = &r->f[i];
        if (!f->has_change || f->severity < TW_SEV_WARN)
            continue;
        size_t j;
        for (j = 0; j < r->n_changes; j++)
            if (!strcmp(r->changes[j].key, f->change.key))
                break;
        if (j < r->n_changes) {
            if (f->change.severity > r->changes[j].severity)
                r->changes[j] = f->change;
            continue;
        }
        void *p = realloc(r->changes, (r->n_changes + 1) * sizeof(*r->changes));
        if (!p) {
            *err = -ENOMEM;
            return;
        }
        r->changes = p;
        r->changes[r->n_changes++] = f->change;
    }
}

int tw_doctor_run(const struct tw_doctor_sample *s, struct tw_doctor_result **out)
{
    struct tw_doctor_result *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->passed = calloc(N_RULES, sizeof(*r->passed));
    if (!r->passed) {
        free(r);
        return -ENOMEM;
    }
    struct tw__dctx x = {.s = s, .k = &s->k, .rep = s->report, .r = r};
    tw__doctor_oom = 0;
    derive(&x);
    for (size_t i = 0; i < N_RULES && !x.err; i++) {
        size_t before = r->n;
        rules[i].check(&x);
        if (r->n == before)
            r->passed[r->n_passed++] = rules[i].id;
    }
    /* worst first; rule order kept within a severity (insertion sort: small n) */
    for (size_t i = 1; i < r->n && !x.err; i++) {
        struct tw_finding tmp = r->f[i];
        size_t j = i;
        while (j > 0 && r->f[j - 1].severity < tmp.severity) {
            r->f[j] = r->f[j - 1];
            j--;
        }
        r->f[j] = tmp;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->f[i].severity > r->worst)
            r->worst = r->f[i].severity;
    merge_changes(r, &x.err);
    if (!x.err && tw__doctor_oom)
        x.err = -ENOMEM;
    tw__doctor_oom = 0;
    if (x.err) {
        tw_doctor_result_free(r);
        return x.err;
    }
    *out = r;
    return 0;
}

void tw_doctor_result_free(struct tw_doctor_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->f[i].summary);
        free(r->f[i].fix);
        for (size_t e = 0; e < r->f[i].n_evidence; e++)
            free(r->f[i].evidence[e].value);
    }
    free(r->f);
    free(r->passed);
    free(r->changes);
    free(r);
}
