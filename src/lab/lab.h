/*
 * lab.h — what the files of `twkit lab` share: the scenarios, the options
 * of a lab run, the results model that every renderer reads (filled by a
 * live run or loaded from saved JSON), and the entry points of each part:
 *
 *   scenarios.c   the scenario table, --list, the programs' command lines
 *   run.c         one run: hosts, programs, samples, teardown
 *   capacity.c    what TIME_WAIT allows each run (the physics)
 *   results.c     the results model; loading saved results (--from)
 *   out_json.c, out_table.c, out_csv.c, plot.c   the renderers
 *   cmd_lab.c     the command
 *   cmd_load.c, loadgen*.c, backend.c   the lab's own programs
 *
 * Internal to src/lab.
 */
#ifndef TWKIT_LAB_H
#define TWKIT_LAB_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <twkit/kernel.h>

#include "lab/msg.h"

/* ---- scenarios (scenarios.c) ----------------------------------------------- */

enum { LAB_CLIENT = 0, LAB_SERVER = 1, LAB_PROXY = 2, LAB_HOSTS = 3 };

/* One run of a scenario: how its hosts and its load are set up. */
struct lab_scenario {
    const char *scenario;       /* name on the command line */
    const char *name;           /* this run's row */
    const char *what;           /* one line */
    bool nginx, nginx_keepalive;
    const char *sysctl, *sysctl_val; /* on the client host */
    bool wide_range;            /* ip_local_port_range 1024-65535 */
    unsigned rpc;               /* requests per connection, 0 = unlimited */
    const char *close;          /* client, server, rst */
    bool sources;               /* --sources addresses */
    bool one_source;            /* bind to the client's address */
    const char *bind;           /* no-port, port */
    bool stop;                  /* stop at exhaustion */
    int ndst;                   /* destination ports */
    const char *backend_mode;
    bool pool;
};

extern const struct lab_scenario lab_runs[];
extern const size_t lab_n_runs;
extern const char *const lab_scenario_names[]; /* NULL-terminated, command-line order */

/* "client", "server", "proxy". */
const char *lab_host_name(int h);
/* Print --list (fits 80 columns). */
void lab_list(FILE *f);
/* nginx's path, or NULL when it is not installed (TWKIT_NGINX, /usr/sbin...). */
const char *lab_find_nginx(void);
/* nginx's configuration for a run. */
void lab_nginx_conf(char *buf, size_t len, bool keepalive, bool as_root, unsigned threads);
/* Command lines of the programs; strings live in store (n entries of 48). */
void lab_load_argv(const struct lab_scenario *sc, char **av, char store[][48]);
void lab_backend_argv(const struct lab_scenario *sc, int b, char **av, char store[][48]);

/* ---- options of a lab run (cmd_lab.c) ---------------------------------------- */

struct lab_opts {
    double duration, rate;
    unsigned conc, threads, sources;
    int port_lo, port_hi;       /* --port-range; 0: the kernel's */
    bool json, progress;
    bool real_root;             /* false: in a user namespace of our own */
    const char *csv_dir, *plot, *from;
    const char *nginx_bin;
};

extern struct lab_opts lab_opt;

/* ---- results ------------------------------------------------------------------ */

#define LAB_MAX_KINDS 32        /* failure classes a run may show (12 known) */

/* One row of a run's time series. */
struct lab_row {
    double t;                   /* seconds since the load began */
    uint64_t attempted, connected, requests;
    uint64_t err[LAB_MAX_KINDS];/* by the run's kinds */
    uint32_t tw[LAB_HOSTS];     /* TIME_WAIT sockets per host */
    double skew_ms;             /* from the TIME_WAIT dump to the load's counters; < 0: n/a */
};

/* What TIME_WAIT allows a run (capacity.c), kernel-facts sections 2, 4, 5. */
struct lab_capacity {
    bool known;
    double per_s;               /* new connections/s sustained; < 0: no limit */
    bool at_least;              /* per_s is a lower bound (reuse delay not exact) */
    uint64_t ports;             /* effective local ports per pool */
    uint64_t pools;             /* independent pools (sources x destinations) */
    double hold_s;              /* how long a connection holds its port; 0: not held */
    uint64_t burst;             /* connections until every port is held; 0: n/a */
    double offered;             /* offered new connections/s; < 0: unknown */
    bool offered_measured;      /* offered is the measured attempt rate (closed loop) */
    bool exceeded;              /* offered > per_s */
    double run_out_s;           /* when the offered load holds every port; < 0: never */
    char *why;                  /* in words (owned) */
};

enum lab_status { LAB_RUN_OK, LAB_RUN_SKIPPED, LAB_RUN_ERROR };

struct lab_run {
    const struct lab_scenario *sc; /* live runs; NULL when loaded (--from) */
    char *scenario, *name;      /* owned */
    enum lab_status status;
    char *reason;               /* why skipped or failed (owned), or NULL */
    int n_hosts;
    int port_lo, port_hi;       /* client range written, 0: the kernel's */
    int n_sources;
    /* the load */
    struct lab_load_result load;/* the load generator's result */
    double conn_per_s, req_per_s;
    int n_kinds;
    char *kind[LAB_MAX_KINDS];  /* failure class names (owned) */
    uint64_t err[LAB_MAX_KINDS];
    uint64_t err_total;
    /* the hosts */
    uint32_t tw_peak[LAB_HOSTS], tw_end[LAB_HOSTS], leg_peak;
    uint64_t ctr[LAB_HOSTS][TW_C_MAX]; /* counter deltas over the run */
    bool have_ctr[LAB_HOSTS][TW_C_MAX];
    bool have_be;
    struct lab_be_counts be;
    struct lab_capacity cap;
    /* the time series */
    struct lab_row *rows;
    size_t n_rows, cap_rows;
};

/* Set up r for a live run of sc (names, kinds). 0 or -ENOMEM. */
int lab_run_init(struct lab_run *r, const struct lab_scenario *sc);
/* A new row at the end of r's series (zeroed), or NULL (out of memory). */
struct lab_row *lab_run_add_row(struct lab_run *r);
/* Set r->reason (printf-style). */
void lab_run_reason(struct lab_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After a live run: derive the rates and failure counts from r->load. */
void lab_run_finish_load(struct lab_run *r);
void lab_run_free(struct lab_run *r);

/*
 * Load results saved with `twkit lab --json` from path ("-": stdin).
 * Returns 0 and sets *runs and *n, or -1 after printing why.
 */
int lab_results_load(const char *path, struct lab_run **runs, size_t *n);

/* ---- a run (run.c) --------------------------------------------------------- */

/* Once per lab invocation: the signalfd that ends runs (SIGINT...). */
extern int lab_sigfd;
extern volatile int lab_interrupted;
/* Run scenario sc into r (index idx of total, for progress). */
void lab_run(const struct lab_scenario *sc, struct lab_run *r, int idx, int total);

/* ---- capacity (capacity.c) ---------------------------------------------------- */

/*
 * Fill r->cap from the settings of the host that opens the connections
 * (the client, or the proxy for nginx) and of its peer.
 */
void lab_capacity(struct lab_run *r, const struct tw_kernel *opener, const struct tw_kernel *peer);
/* "16.7", "1075", "none", ">=1000": the LIMIT/S cell. */
void lab_capacity_cell(const struct lab_capacity *c, char *buf, size_t len);

/* ---- renderers --------------------------------------------------------------------- */

void lab_print_json(FILE *f, struct lab_run *runs, size_t n);
void lab_print_table(FILE *f, struct lab_run *runs, size_t n);
/* Before the first run: can the outputs be written?  0, or -1 after saying why. */
int lab_csv_check(const char *dir);
int lab_plot_check(const char *path);
/* After the runs: 0, or -1 after saying why. */
int lab_write_csv(const char *dir, struct lab_run *runs, size_t n);
int lab_write_plot(const char *path, struct lab_run *runs, size_t n);

/* ---- helpers (util.c) ----------------------------------------------------------- */

/* "198.18.0.2:8001" -> sockaddr; 0 or -1. */
int lab_parse_hostport(const char *s, struct sockaddr_in *out);
/* True for 127/8 and 198.18.0.0/15: the only places the lab sends traffic. */
bool lab_addr_allowed(struct in_addr a);
/* twx_esc into a malloc'd string ("" if out of memory; free it). */
char *lab_esc(const char *s);

#endif /* TWKIT_LAB_H */
