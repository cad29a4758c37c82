/*
 * doctor_int.h — what the files of doctor's findings engine share inside
 * libtwkit, and nothing else sees:
 *
 *   doctor.c            the engine: the rule table, running it, ordering,
 *                       merging the sysctl changes;
 *   doctor_finding.c    building a finding (summary, evidence, fix, change)
 *                       and the small derived numbers several rules print;
 *   doctor_allow.c      the allow-list of settings and values doctor may write;
 *   doctor_rules_*.c    the rules, grouped by what they look at (ports,
 *                       reuse, TIME_WAIT lifetime, configuration files).
 *
 * A rule is a function of one `struct tw__dctx`: it reads the measurement
 * and the numbers derived once from it, and adds zero or more findings.
 */
#ifndef TWKIT_DOCTOR_INT_H
#define TWKIT_DOCTOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <twkit/doctor.h>
#include <twkit/rate.h>

#include "internal.h"

/* What every rule sees: the measurement and what the engine derived from it. */
struct tw__dctx {
    const struct tw_doctor_sample *s;
    const struct tw_kernel *k;
    const struct tw_report *rep;      /* may be NULL */
    struct tw_doctor_result *r;
    int err;                          /* first error (-ENOMEM); later adds are dropped */
    double rate;                      /* ActiveOpens per second over the window */
    const struct tw_pressure *busiest; /* highest pct, or NULL */
    unsigned hot, hot_nonloop, hot_reuse; /* destinations >= TW_DOCTOR_HOT_PCT */
    uint32_t eff;                     /* effective range */
    /* the host-wide pool (bind() before connect() draws from it) */
    unsigned n_dest;                  /* destinations with a client port in the range */
    uint64_t sum_in_use;              /* their in_use added up */
    uint64_t shared;                  /* sum_in_use - distinct ports: port reuse across
                                         destinations (0: no port is shared) */
    /* the forecast (libtwkit's engine, twkit/rate.h), the only one doctor makes */
    struct tw_report fc_rep;          /* *rep with the kernel readings the rules use (*k) */
    double enter_rate;                /* sockets entering TIME_WAIT per second (counters) */
    struct tw_fc_plan plan;           /* the namespace under tcp_max_tw_buckets */
    const struct tw_pressure *cap_saves; /* a destination that runs out of ports without
                                         tcp_max_tw_buckets but not with it (the busiest) */
    double cap_saves_s;               /* when it would run out without the cap (0: now) */
};

/*
 * True when tcp_tw_reuse is known to reclaim this destination's TIME_WAIT:
 * it applies and the source saw the peer's timestamps (an exact count).
 * With sock_diag or /proc it is never known: reuse is then only a bound.
 */
static inline bool tw__doctor_reuse_verified(const struct tw__dctx *x, const struct tw_pressure *p)
{
    return p->reuse_applies && x->rep && x->rep->reuse_exact;
}

/* ---- building findings (doctor_finding.c) ------------------------------- */

/* Set (per thread) when a finding's text could not be allocated. */
extern __thread int tw__doctor_oom;

/* Add a finding; returns it (a scratch finding if out of memory: x->err set). */
struct tw_finding *tw__doctor_add(struct tw__dctx *x, const char *id, enum tw_severity sev,
                                  const char *explain, const char *source, const char *fmt,
                                  ...) __attribute__((format(printf, 6, 7)));
/* One evidence item (numeric: printed as a JSON number). */
void tw__doctor_ev(struct tw_finding *f, bool numeric, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Append one step to the fix ('\n' between steps). */
void tw__doctor_fix(struct tw_finding *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The sysctl change this finding justifies; dropped if the allow-list refuses it. */
void tw__doctor_change(struct tw_finding *f, const char *key, const char *current,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The short names the rules use. */
#define ADD tw__doctor_add
#define FIX tw__doctor_fix
#define CHANGE tw__doctor_change
#define EVN(f, key, fmt, ...) tw__doctor_ev(f, true, key, fmt, __VA_ARGS__)
#define EVS(f, key, fmt, ...) tw__doctor_ev(f, false, key, fmt, __VA_ARGS__)

/* "L -> R:port" ("L -> [R]:port" for IPv6); buf of 128 bytes is enough. */
const char *tw__doctor_dest_str(const struct tw_pressure *p, char *buf, size_t len);
/* tcp_tw_reuse_delay in seconds (1 s before 6.14). */
double tw__doctor_reuse_delay_s(const struct tw_kernel *k);
/*
 * The forecast for destination p at the measured connect rate (x->rate): the
 * engine's, with the namespace's tcp_max_tw_buckets when cap is true, as if
 * there were none when false.  fc (p = 0 for reuse twkit cannot verify) is
 * the forecast; bound is only an "as late as".
 */
void tw__doctor_forecast(const struct tw__dctx *x, const struct tw_pressure *p, bool cap,
                         struct tw_forecast *out);
/* "in about 8 s", "now", "never", "not within 10 min" */
const char *tw__doctor_fc_words(const struct tw_fc_result *r, char *buf, size_t len);
/* Set up the forecast of x (doctor.c's derive; needs x->rate). */
void tw__doctor_forecast_init(struct tw__dctx *x);

/* Bytes of one TIME_WAIT slab object (measured, or 256). */
uint64_t tw__doctor_tw_obj_bytes(const struct tw_kernel *k);

/* ---- the allow-list (doctor_allow.c) ------------------------------------ */

/* True when doctor may write this sysctl (any value); rollback checks keys with it. */
bool tw__doctor_managed(const char *key);
/*
 * For a setting doctor checks in configuration files (those it writes, and
 * tcp_fin_timeout): 1 when value is in the kernel's accepted range, 0 when
 * not (accepted gets "1-2" or the like), -1 when doctor does not know key.
 */
int tw__doctor_value_check(const char *key, const char *value, char *accepted, size_t len);

/* ---- files (doctor_write.c) ---------------------------------------------- */

/* A growing string; oom set once an allocation failed (then p is to be freed). */
struct tw__sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};
void tw__sb_add(struct tw__sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Split path into its directory ("." or "/" when none) and base name. */
int tw__doctor_split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen);
/* Files doctor reads back (its drop-in, its state) are small. */
#define TW__DOCTOR_FILE_MAX (4u << 20)

/* ---- the rules ---------------------------------------------------------- */

/* doctor_rules_ports.c */
void tw__rule_port_pressure(struct tw__dctx *x);
void tw__rule_bind_connect(struct tw__dctx *x);
/* doctor_rules_range.c */
void tw__rule_range_narrow(struct tw__dctx *x);
void tw__rule_range_parity(struct tw__dctx *x);
void tw__rule_range_listeners(struct tw__dctx *x);
void tw__rule_range_reserved(struct tw__dctx *x);
/* doctor_rules_reuse.c */
void tw__rule_reuse_off(struct tw__dctx *x);
void tw__rule_reuse_loopback(struct tw__dctx *x);
void tw__rule_timestamps(struct tw__dctx *x);
void tw__rule_reuse_delay(struct tw__dctx *x);
/* doctor_rules_tw.c */
void tw__rule_buckets(struct tw__dctx *x);
void tw__rule_server_tw(struct tw__dctx *x);
void tw__rule_rst_close(struct tw__dctx *x);
void tw__rule_rfc1337(struct tw__dctx *x);
/* doctor_rules_conf.c */
void tw__rule_fin_timeout(struct tw__dctx *x);
void tw__rule_recycle(struct tw__dctx *x);
void tw__rule_conf(struct tw__dctx *x);

#endif /* TWKIT_DOCTOR_INT_H */
