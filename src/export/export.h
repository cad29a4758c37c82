/*
 * export.h — the parts of `twkit export` and what they share.
 *
 *   cmd_export.c  the command: options, the collector loop (main thread),
 *                 signals, --textfile mode
 *   collect.c     one collection: every namespace's report, counters and
 *                 forecast, rendered as one page (both formats)
 *   rates.c       THE INTEGRATION POINT with libtwkit's rate-and-forecast
 *                 engine (issue 11): per destination, new TIME_WAIT per
 *                 second, seconds to exhaustion, sustainable rate
 *   server.c      the HTTP server (libmicrohttpd): routes, scrapes that
 *                 share one collection, limits, the request deadline
 *   listen.c      --listen values and the listening socket
 *   webconfig.c   exporter-toolkit's web-config.yml (libyaml): TLS and
 *                 basic auth with bcrypt (libcrypt)
 *   trace.c       --trace: trace's BPF programs, counts per process name
 *
 * Threads: the main thread collects (it enters network namespaces with
 * setns(2), which changes the calling thread only, and /proc/net follows
 * the main thread); libmicrohttpd's two polling threads serve; one thread
 * closes connections that miss the request deadline.
 */
#ifndef TWKIT_EXPORT_H
#define TWKIT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <twkit/twkit.h>

#include "../metrics.h"

/* ---- rates.c: the rate-and-forecast engine, one per namespace ------------------------ */

struct export_rates;

/* True when twkit was built with the engine (include/twkit/rate.h). */
bool export_rates_available(void);
/* Returns 0 or -ENOMEM.  Without the engine *out is a placeholder that says "no figure". */
int export_rates_new(struct export_rates **out);
void export_rates_free(struct export_rates *x);
/*
 * One tick at t_ms (monotonic): r is the namespace's finished report (kept
 * alive by the caller until the next tick), c its counters or NULL.  Fills
 * out[i] for each r->pressure[i] (have = false without the engine).
 * Returns 0 or a negative error.
 */
int export_rates_tick(struct export_rates *x, uint64_t t_ms, const struct tw_report *r,
                      const struct tw_counters *c, struct metrics_dest_rate *out);

/* ---- trace.c: --trace ---------------------------------------------------------------- */

/* Exit statuses of --trace (trace's own numbers where export has them free). */
enum { EXP_EXIT_TRACE_NOPRIV = 4, EXP_EXIT_TRACE_UNAVAILABLE = 5 };

struct exp_trace;

/* What one namespace's page shows (exp_trace_view): m points into the rest. */
struct exp_trace_view {
    struct metrics_trace m;
    struct metrics_trace_proc *procs;
    struct metrics_trace_err *errs;
    char (*names)[32];        /* errno names */
};

/*
 * Load and attach trace's programs for namespace netns (its inode; 0:
 * every namespace).  Returns 0, or an exit status (EXP_EXIT_TRACE_*,
 * TW_EXIT_RUNTIME) with a one-line reason in why, naming what is missing.
 */
int exp_trace_open(uint32_t netns, struct exp_trace **out, char *why, size_t len);
void exp_trace_close(struct exp_trace *t);
/* Add what the kernel counted since the last drain.  Returns 0 or -errno. */
int exp_trace_drain(struct exp_trace *t);
/* Namespace netns's counts so far, valid until the next drain; free with
 * exp_trace_view_free.  Returns 0 or -ENOMEM. */
int exp_trace_view(const struct exp_trace *t, uint32_t netns, struct exp_trace_view *v);
void exp_trace_view_free(struct exp_trace_view *v);

/* ---- collect.c ------------------------------------------------------------------------ */

struct exp_collect_opts {
    enum tw_source_kind kind; /* netlink, proc, auto */
    const char *fixture;      /* recorded dump instead of the kernel, or NULL */
    const char *netns;        /* NULL: current; NAME|PID|PATH; "all" */
    unsigned top;             /* destinations (and --trace processes) with their own series */
    struct exp_trace *trace;  /* --trace, or NULL */
    uint32_t trace_netns;     /* with trace and no --netns: the inode of twkit's namespace */
    bool live;                /* --source live: counts from the live table */
    double reconcile;         /* with live: seconds between reconciliations (0 never) */
};

/* A rendered page: body[METRIC_TEXT], body[METRIC_OPENMETRICS] (malloc'd, or NULL). */
struct exp_output {
    char *body[2];
    size_t len[2];
    size_t samples;           /* samples on the page */
    size_t namespaces;        /* namespaces on it */
    double seconds;           /* the collection took */
    bool ok;                  /* every namespace collected */
};

struct exp_collector;

int exp_collector_new(const struct exp_collect_opts *o, struct exp_collector **out);
void exp_collector_free(struct exp_collector *c);
/*
 * Collect every namespace now, in the calling thread, and render the
 * formats in mask (1 << METRIC_TEXT, 1 << METRIC_OPENMETRICS).  A namespace
 * that fails is left out, said once on stderr, and the page says so
 * (twkit_exporter_scrape_success 0).  Returns 0, or -ENOMEM (out is empty).
 */
int exp_collect(struct exp_collector *c, unsigned mask, struct exp_output *out);
void exp_output_free(struct exp_output *o);

/* ---- webconfig.c ------------------------------------------------------------------------ */

struct exp_user {
    char *name;
    char *hash;               /* bcrypt: $2a$, $2b$ or $2y$ */
};

struct exp_header {
    char *name, *value;
};

struct exp_webcfg {
    char *cert_pem, *key_pem; /* tls_server_config cert_file / key_file contents, or NULL */
    char *priorities;         /* GnuTLS priority string from min_version / max_version */
    struct exp_user *users;   /* basic_auth_users */
    size_t n_users;
    struct exp_header *headers; /* http_server_config.headers */
    size_t n_headers;
    struct exp_auth_cache *cache;
};

/*
 * Read a web-config.yml (Prometheus exporter-toolkit format).  Relative
 * file names in it are relative to the file's directory, as in
 * exporter-toolkit.  Returns 0, or -1 with a one-line reason in err.
 */
int exp_webcfg_load(const char *path, struct exp_webcfg *cfg, char *err, size_t errlen);
/* Parse from memory (dir: where relative file names start). */
int exp_webcfg_parse(const char *text, size_t len, const char *dir, struct exp_webcfg *cfg,
                     char *err, size_t errlen);
void exp_webcfg_free(struct exp_webcfg *cfg);
/*
 * Check a user and password against basic_auth_users.  An unknown user
 * costs a bcrypt all the same; a success is remembered (SHA-256 of user,
 * password and hash) so that a scraper's every request does not pay a
 * bcrypt.  Thread-safe.
 */
bool exp_webcfg_auth(struct exp_webcfg *cfg, const char *user, const char *pass);

/* ---- server.c ------------------------------------------------------------------------------ */

struct exp_server_opts {
    const char *listen;       /* ADDR:PORT, [ADDR]:PORT, :PORT */
    unsigned max_conn;
    unsigned max_per_ip;
    double idle_timeout;      /* s: a connection must send a whole request within this */
    double min_interval;      /* s: a page younger than this is served again */
    struct exp_webcfg *web;   /* NULL: plain HTTP, no auth */
};

struct exp_server;

/*
 * Parse an --listen value into a socket address.  Returns 0 or -1 with a
 * reason in err.
 */
int exp_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                     size_t errlen);
/*
 * A listening socket (non-blocking, backlog 1024) on spec; url gets
 * "http[s]://ADDR:PORT/metrics" with the port bound.  Returns the socket,
 * or -1 with the reason printed (listen.c).
 */
int exp_listen(const char *spec, bool tls, char *url, size_t urllen);
/* Bind, listen and start serving.  Returns 0, or -1 with a reason printed. */
int exp_server_start(const struct exp_server_opts *o, struct exp_server **out);
/* The URL it serves metrics on ("http://127.0.0.1:10120/metrics"). */
const char *exp_server_url(const struct exp_server *s);
/*
 * The collector's side: wait until a scrape needs a fresh page or a signal
 * in sigfd arrives.  Returns 1 (collect now), 0 (signal: stop).
 */
int exp_server_wait(struct exp_server *s, int sigfd);
/* Install a freshly collected page and answer every scrape waiting for it. */
void exp_server_publish(struct exp_server *s, struct exp_output *page);
void exp_server_stop(struct exp_server *s);

#endif /* TWKIT_EXPORT_H */
