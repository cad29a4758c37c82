/*
 * doctor_finding.c — how a rule of `twkit doctor` builds a finding: the
 * one-line summary, the evidence (measured numbers, each with a stable key),
 * the fix (one step per line), and at most one sysctl change.  Also the
 * lookups callers use on a result, and the few derived numbers that several
 * rules print the same way (a destination as text, the reuse delay, the
 * slab cost of one TIME_WAIT).
 *
 * Rules never check for out-of-memory themselves: tw__doctor_add hands back
 * a scratch finding once an allocation failed, and the engine returns the
 * error after the rules have run.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "doctor_int.h"

const char *tw_severity_name(enum tw_severity s)
{
    switch (s) {
    case TW_SEV_OK: return "ok";
    case TW_SEV_INFO: return "info";
    case TW_SEV_WARN: return "warn";
    case TW_SEV_CRIT: return "crit";
    }
    return "?";
}

const struct tw_finding *tw_doctor_find(const struct tw_doctor_result *r, const char *id)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (!strcmp(r->f[i].id, id))
            return &r->f[i];
    return NULL;
}

const char *tw_finding_evidence(const struct tw_finding *f, const char *key)
{
    for (size_t i = 0; f && i < f->n_evidence; i++)
        if (!strcmp(f->evidence[i].key, key))
            return f->evidence[i].value;
    return NULL;
}

/* Set when an allocation of a finding's text failed; the engine reports it. */
__thread int tw__doctor_oom;

/* printf into a new string (NULL and tw__doctor_oom set on failure). */
__attribute__((format(printf, 1, 0))) static char *vfmt(const char *fmt, va_list ap)
{
    char *p = NULL;
    if (vasprintf(&p, fmt, ap) < 0) {
        tw__doctor_oom = 1;
        return NULL;
    }
    return p;
}

struct tw_finding *tw__doctor_add(struct tw__dctx *x, const char *id, enum tw_severity sev,
                                  const char *explain, const char *source, const char *fmt, ...)
{
    static __thread struct tw_finding sink; /* id NULL: the helpers ignore it */
    struct tw_doctor_result *r = x->r;

    if (x->err || tw__doctor_oom)
        return memset(&sink, 0, sizeof(sink));
    if (r->n % 16 == 0) { /* grow by one chunk of 16 */
        void *p = realloc(r->f, (r->n + 16) * sizeof(*r->f));
        if (!p) {
            x->err = -ENOMEM;
            return memset(&sink, 0, sizeof(sink));
        }
        r->f = p;
    }
    struct tw_finding *f = &r->f[r->n++];
    memset(f, 0, sizeof(*f));
    f->id = id;
    f->severity = sev;
    f->explain = explain;
    f->source = source;
    va_list ap;
    va_start(ap, fmt);
    f->summary = vfmt(fmt, ap);
    va_end(ap);
    return f;
}

void tw__doctor_ev(struct tw_finding *f, bool numeric, const char *key, const char *fmt, ...)
{
    if (!f->id || f->n_evidence >= TW_DOCTOR_EVIDENCE_MAX) {
        if (f->id) /* a rule with more evidence than the array holds: a bug */
            tw__doctor_oom = 1;
        return;
    }
    struct tw_evidence *e = &f->evidence[f->n_evidence++];
    snprintf(e->key, sizeof(e->key), "%s", key);
    va_list ap;
    va_start(ap, fmt);
    e->value = vfmt(fmt, ap);
    va_end(ap);
    e->numeric = numeric;
}

void tw__doctor_fix(struct tw_finding *f, const char *fmt, ...)
{
    if (!f->id)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *step = vfmt(fmt, ap);
    va_end(ap);
    if (!step)
        return;
    for (char *c = step; *c; c++) /* '\n' separates steps: none inside one */
        if (*c == '\n' || *c == '\r')
            *c = '?';
    if (!f->fix) {
        f->fix = step;
        return;
    }
    size_t a = strlen(f->fix), b = strlen(step);
    char *p = realloc(f->fix, a + 1 + b + 1);
    if (!p) {
        tw__doctor_oom = 1;
    } else {
        p[a] = '\n';
        memcpy(p + a + 1, step, b + 1);
        f->fix = p;
    }
    free(step);
}

void tw__doctor_change(struct tw_finding *f, const char *key, const char *current,
                       const char *fmt, ...)
{
    char value[sizeof(f->change.value)];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    if (!f->id || n < 0 || (size_t)n >= sizeof(value) ||
        strlen(current) >= sizeof(f->change.current) || !tw_doctor_change_safe(key, value))
        return; /* a rule must never propose what apply would refuse, nor a cut value */
    f->has_change = true;
    snprintf(f->change.key, sizeof(f->change.key), "%s", key);
    snprintf(f->change.value, sizeof(f->change.value), "%s", value);
    snprintf(f->change.current, sizeof(f->change.current), "%s", current);
    f->change.finding = f->id;
    f->change.severity = f->severity;
}

const char *tw__doctor_dest_str(const struct tw_pressure *p, char *buf, size_t len)
{
    char l[64], r[64];
    tw_addr_str(&p->laddr, l, sizeof(l));
    tw_addr_str(&p->raddr, r, sizeof(r));
    if (p->raddr.family == AF_INET6)
        snprintf(buf, len, "%s -> [%s]:%u", l, r, p->rport);
    else
        snprintf(buf, len, "%s -> %s:%u", l, r, p->rport);
    return buf;
}

double tw__doctor_reuse_delay_s(const struct tw_kernel *k)
{
    return k->tw_reuse_delay_ms > 0 ? k->tw_reuse_delay_ms / 1000.0 : 1.0;
}

uint64_t tw__doctor_tw_obj_bytes(const struct tw_kernel *k)
{
    return k->tw_slab_v4 ? k->tw_slab_v4 : TW_DOCTOR_TW_OBJ_BYTES;
}
