/*
 * twkit/rate.h — rates and time to exhaustion: the engine behind `twkit
 * watch` (and `twkit export`, and `twkit doctor`).
 *
 * Three layers, each usable alone:
 *
 *   1. Counter rates.  A tw_counter_series keeps the TcpExt / Tcp counters
 *      of one namespace sampled over time and gives each one's rate over
 *      the last 1 s, 10 s and 60 s (TW_RATE_WINDOWS).
 *
 *   2. New TIME_WAIT per destination, from ONE dump (tw_births).  Linux
 *      keeps a TIME_WAIT socket exactly 60 s (TCP_TIMEWAIT_LEN), and
 *      sock_diag reports the time left (idiag_expires), so a socket's age
 *      is 60 s - time left, and the TIME_WAIT sockets of a destination aged
 *      under W seconds are the connections to it that closed in the last W
 *      seconds.  No eBPF, no second dump.  How exact it is:
 *        - sockets that died early are missed: taken over by tcp_tw_reuse
 *          (never before tcp_tw_reuse_delay: the 1 s window, with
 *          young_ms <= the delay, cannot miss these), killed by an RST
 *          (tcp_rfc1337=0), SOCK_DESTROY, and connections that never had a
 *          TIME_WAIT (RST close, tcp_max_tw_buckets overflow);
 *        - a re-armed timer (an ACK, an out-of-window or PAWS-rejected
 *          segment in TIME_WAIT re-arms it to 60 s) makes an old socket look
 *          new: counted again;
 *        - ages have the kernel's jiffy resolution (1-4 ms) and are read
 *          while the dump runs (0.3 s at 1M sockets), not at one instant;
 *        - the windows are the ages, not the time between two dumps: a late
 *          tick (jitter) neither loses nor double-counts births, except that
 *          the 1 s window sees only the last young_ms before the dump;
 *        - only client-side sockets in the port range are counted (the ones
 *          that can exhaust it), and only those the query selects.
 *      Connections that closed by RST, or were refused, never appear; the
 *      TcpExt TW counter rate is the namespace-wide check.
 *
 *   3. Time to exhaustion per destination (tw_forecast_dest): when a
 *      connect() to it will first find no usable local port.  The model,
 *      in continuous time with 1 s resolution:
 *        - The destination has R usable ports (the effective range).  H of
 *          them are held by sockets that are not TIME_WAIT (ESTABLISHED,
 *          SYN_SENT, FIN_WAIT...): H stays as it is.
 *        - New connections arrive at a constant rate L (births per second);
 *          each is assumed short (it closes at once, client first) and
 *          holds its port in TIME_WAIT.
 *        - A TIME_WAIT holds its port until it expires 60 s after it was
 *          born (the ones there now: as their histogram says), unless
 *          connect() may take it over: with tcp_tw_reuse, once it is older
 *          than tcp_tw_reuse_delay (1 s before Linux 6.14), but only if the
 *          peer sent timestamps.  A fraction p of TIME_WAIT is taken to be
 *          reusable: where reuse does not apply p = 0; where a source saw
 *          the peers' timestamps p is measured; where no source can (netlink,
 *          /proc) it is unknown, and the forecast is made twice: p = 0 (the
 *          forecast) and p = 1 (a bound, "as late as", never shown as the
 *          forecast).  With reuse a destination sustains at most about
 *          (R - H) / delay connections per second; without, (R - H) / 60.
 *        - tcp_max_tw_buckets (B): the namespace never holds more than B
 *          TIME_WAIT; a connection that closes when it holds B gets none
 *          (the kernel counts TCPTimeWaitOverflow) and its port is free at
 *          once.  A namespace plan (tw_forecast_plan) follows the
 *          namespace's count second by second from its expiry histogram and
 *          the rate sockets enter TIME_WAIT, and gives the fraction admitted
 *          each second; each destination's new TIME_WAIT are admitted in
 *          that proportion.
 *        - Exhaustion is the first moment the ports held (H, TIME_WAIT not
 *          yet reusable, the admitted new ones) reach R while L > 0.  Ports
 *          full now is "now".  If the held ports settle below R the answer
 *          is "never"; if the 600 s horizon passes without either, "beyond".
 *      What it does not model: rate changes (it is a forecast at the
 *      current rate), bind() before connect() (ports then come from one
 *      host-wide pool: tw_report.host_ports_in_use), TIME_WAIT killed by
 *      RSTs, and connections that stay open (they are in H only once open).
 *
 *   4. The engine (tw_rate_engine) does 1-3 once per tick for `watch` and
 *      `export`: it takes a finished tw_report (from any source: the netlink
 *      dump today, a BPF iterator later) and the counters, keeps the counter
 *      series and a 60 s history of each destination's new TIME_WAIT per
 *      second, and forecasts every destination.  A caller with its own rates
 *      (doctor) calls tw_forecast_* directly.
 *
 * A caller with a report and its own rate (doctor, export) forecasts without
 * an engine:
 *
 *     struct tw_fc_namespace ns;
 *     struct tw_fc_plan plan;                      (about 2.4 KB)
 *     tw_forecast_namespace_from(rep, enter_per_s, &ns);
 *     tw_forecast_plan(&ns, &plan);
 *     for (size_t i = 0; i < rep->n_pressure; i++) {
 *         struct tw_fc_dest d;
 *         struct tw_forecast f;
 *         tw_forecast_dest_from(rep, &rep->pressure[i], rate_of(i), &d);
 *         tw_forecast_dest(&plan, &d, &f);
 *     }
 *
 * The library never prints.  An engine is used by one thread at a time;
 * the tw_forecast_* functions keep no state.
 */
#ifndef TWKIT_RATE_H
#define TWKIT_RATE_H

#include <stdbool.h>
#include <stdint.h>

#include <twkit/common.h>
#include <twkit/kernel.h>
#include <twkit/report.h>

TW_BEGIN_DECLS

/* ---- 1. counter rates ------------------------------------------------------ */

#define TW_RATE_WINDOWS 3 /* 1 s, 10 s, 60 s */

/* The window lengths in seconds: {1, 10, 60}. */
TW_EXTERN unsigned tw_rate_window_s(unsigned w);

struct tw_counter_rates {
    double per_s[TW_C_MAX][TW_RATE_WINDOWS]; /* increase per second; 0 without data */
    bool have[TW_C_MAX];   /* the kernel exports the counter (both samples had it) */
    double span_s[TW_RATE_WINDOWS]; /* seconds the window actually covers: less than
                              asked until that much history exists; 0 = no rate yet */
};

struct tw_counter_series;

/* Returns 0 or -ENOMEM. */
TW_EXTERN int tw_counter_series_new(struct tw_counter_series **out);
TW_EXTERN void tw_counter_series_free(struct tw_counter_series *s);
/*
 * Add a sample taken at t_ms (a monotonic clock, milliseconds; must not go
 * back: TW_EBADOPT).  Samples older than 60 s (plus one) are dropped, so
 * memory stays bounded.  A counter that went down (another namespace, a
 * wrap) restarts the series: returns 1 then, 0 otherwise, or -ENOMEM.
 */
TW_EXTERN int tw_counter_series_add(struct tw_counter_series *s, uint64_t t_ms,
                                    const struct tw_counters *c);
/*
 * Rates over each window, ending at the newest sample.  For a window of W s
 * the reference is the sample whose age is nearest W (at least W/2 old); a
 * window with no such sample uses the oldest one, and span_s says how long
 * it really was.
 */
TW_EXTERN void tw_counter_series_rates(const struct tw_counter_series *s,
                                       struct tw_counter_rates *out);

/* ---- 2. new TIME_WAIT per destination, from one dump ------------------------- */

/*
 * New TIME_WAIT per second of destination p over each window:
 *   [0] tw_young / young_ms  (young_ms: tw_report_opts.young_ms of the
 *       report, 0 = its default 1000; more than 60 s counts as 60 s)
 *   [1] TIME_WAIT aged 10 s or less (tw_expiry[50..59]) / 10
 *   [2] every TIME_WAIT in the histogram / 60
 * See the accuracy notes above.
 */
TW_EXTERN void tw_births(const struct tw_pressure *p, uint32_t young_ms,
                         double per_s[TW_RATE_WINDOWS]);

/* ---- 3. time to exhaustion ----------------------------------------------------- */

#define TW_FORECAST_HORIZON_S 600 /* seconds simulated at most */

enum tw_fc_state {
    TW_FC_NEVER = 0, /* the steady state fits (or nothing connects) */
    TW_FC_AT,        /* exhausted in `seconds` */
    TW_FC_NOW,       /* no usable port now */
    TW_FC_BEYOND,    /* not within the horizon, but the steady state does not fit */
};

/* What sets a destination's sustainable rate. */
enum tw_fc_limit {
    TW_FC_LIMIT_TIMEWAIT = 0, /* (R - H) / 60 s: TIME_WAIT holds each port 60 s */
    TW_FC_LIMIT_REUSE_DELAY,  /* (R - H) / tcp_tw_reuse_delay: reuse, capped by its delay */
};

struct tw_fc_result {
    enum tw_fc_state state;
    double seconds;           /* TW_FC_AT: from now; 0 for NOW; -1 otherwise */
    double sustainable_per_s; /* most new connections per second the destination takes
                                 forever, without tcp_max_tw_buckets' help */
    enum tw_fc_limit limit;   /* what sets sustainable_per_s */
    bool capped;              /* the rate is above it: only tcp_max_tw_buckets (closes
                                 past it free their port at once) keeps it from exhausting */
};

struct tw_forecast {
    struct tw_fc_result fc;    /* the forecast: reuse counted only where verified */
    struct tw_fc_result bound; /* as if every unverified TIME_WAIT were reusable: the
                                  latest exhaustion the facts allow (a bound) */
    bool bounded;              /* unverified reuse makes bound differ from fc */
    double rate;               /* the births per second used */
};

/* The namespace, for tcp_max_tw_buckets. */
struct tw_fc_namespace {
    long max_tw_buckets;       /* <= 0: no cap known */
    double tw_now;             /* TIME_WAIT (+FIN_WAIT2 minisocks) now: sockstat tw */
    uint64_t expiry[TW_EXPIRY_SECONDS]; /* TIME_WAIT by seconds left (tw_report.tw_expiry_s);
                                  tw_now beyond their sum is taken to go at once */
    double enter_per_s;        /* sockets that enter TIME_WAIT or try to, per second,
                                  net of takeovers: TW + TCPTimeWaitOverflow - TWRecycled */
};

/* The fraction of new TIME_WAIT the namespace admits in each coming second. */
struct tw_fc_plan {
    float admit[TW_FORECAST_HORIZON_S]; /* 0..1 */
    unsigned steady_from;      /* admit[] is constant from here to the horizon */
    double full_in_s;          /* when the namespace first holds max_tw_buckets; -1 never */
};

/* One destination's inputs. */
struct tw_fc_dest {
    uint32_t range;            /* effective range R */
    double held;               /* H: ports held by non-TIME_WAIT sockets */
    uint32_t expiry[TW_EXPIRY_SECONDS]; /* its TIME_WAIT by seconds left */
    double rate;               /* L: new connections per second */
    double reuse_lo, reuse_hi; /* fraction p of TIME_WAIT that connect() may take over once
                                  older than the delay: verified (lo) and bound (hi), 0..1 */
    double delay_s;            /* tcp_tw_reuse_delay in seconds (> 0) */
};

/* Follow the namespace's TIME_WAIT count; ns NULL or no cap: admit all. */
TW_EXTERN void tw_forecast_plan(const struct tw_fc_namespace *ns, struct tw_fc_plan *out);
/* Forecast one destination; plan NULL: no cap. */
TW_EXTERN void tw_forecast_dest(const struct tw_fc_plan *plan, const struct tw_fc_dest *d,
                                struct tw_forecast *out);

/*
 * Inputs from a finished report: d from p (range, held, expiry, the reuse
 * fractions from tcp_tw_reuse, the timestamps sysctl and what the source
 * saw, the delay) with rate; ns from the report's kernel readings and
 * expiry, with enter_per_s.
 */
TW_EXTERN void tw_forecast_dest_from(const struct tw_report *r, const struct tw_pressure *p,
                                     double rate, struct tw_fc_dest *d);
TW_EXTERN void tw_forecast_namespace_from(const struct tw_report *r, double enter_per_s,
                                          struct tw_fc_namespace *ns);

/* "never", "at", "now", "beyond"; "time_wait", "reuse_delay". */
TW_EXTERN const char *tw_fc_state_name(enum tw_fc_state s);
TW_EXTERN const char *tw_fc_limit_name(enum tw_fc_limit l);

/* ---- 4. the engine ------------------------------------------------------------------ */

#define TW_HISTORY_S 60 /* seconds of per-destination history */

/* One destination after a tick. */
struct tw_dest_rate {
    const struct tw_pressure *p;     /* into the report given to the last tick */
    double new_per_s[TW_RATE_WINDOWS]; /* tw_births */
    struct tw_forecast forecast;     /* at max(the rate window, the 1 s window): a rising
                                        rate is never hidden by the average; past
                                        tcp_max_tw_buckets divided by the share of closes
                                        that got a TIME_WAIT (counters, 10 s window) */
};

struct tw_rate_opts {
    unsigned rate_window_s;    /* births window the forecast uses: 1, 10 or 60; 0 = 10 */
};

struct tw_rate_engine;

TW_EXTERN int tw_rate_engine_new(const struct tw_rate_opts *o, struct tw_rate_engine **out);
TW_EXTERN void tw_rate_engine_free(struct tw_rate_engine *e);
/*
 * One tick at t_ms (monotonic ms, not going back).  r is a finished report
 * whose young_ms (tw_report_opts) was young_ms, best the tick interval; the
 * caller keeps r alive until the next tick (the results point into it).  c
 * is the namespace's counters, or NULL.  The namespace's rate of entering
 * TIME_WAIT comes from the counters (10 s window) once two samples exist,
 * before that from the destinations' births.  Returns 0, TW_EBADOPT (time
 * went back) or -ENOMEM.
 */
TW_EXTERN int tw_rate_engine_tick(struct tw_rate_engine *e, uint64_t t_ms,
                                  const struct tw_report *r, const struct tw_counters *c,
                                  uint32_t young_ms);
/* The destinations of the last tick, in the report's pressure order. */
TW_EXTERN size_t tw_rate_engine_dests(const struct tw_rate_engine *e,
                                      const struct tw_dest_rate **out);
/*
 * New TIME_WAIT per second (the 1 s window of each tick) of the i-th
 * destination of the last tick, in each of the last 60 seconds, oldest
 * first; NaN before the engine first saw it, 0 for seconds it had no port
 * in use.  A tick longer than 1 s fills each second it spans.
 */
TW_EXTERN void tw_rate_engine_history(const struct tw_rate_engine *e, size_t i,
                                      float out[TW_HISTORY_S]);
/* Counter rates as of the last tick (span_s 0 before the second tick). */
TW_EXTERN const struct tw_counter_rates *tw_rate_engine_counters(const struct tw_rate_engine *e);
/* The namespace plan of the last tick (tcp_max_tw_buckets). */
TW_EXTERN const struct tw_fc_plan *tw_rate_engine_plan(const struct tw_rate_engine *e);
/* Destinations remembered (seen within the last 60 s). */
TW_EXTERN size_t tw_rate_engine_tracked(const struct tw_rate_engine *e);

TW_END_DECLS

#endif /* TWKIT_RATE_H */
