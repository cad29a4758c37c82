/*
 * trace.h — what the files of `twkit trace` share (internal to src/trace
 * and src/cmd_trace.c): the loaded BPF programs behind an opaque handle,
 * the user-space tables the kernel's rows are merged into, the names of
 * processes, cgroups and errnos, and the renderers.
 *
 * The kernel side is bpf/trace.bpf.c; the record layouts are bpf/trace.h.
 * Everything that touches libbpf is in probe.c, which compiles to a stub that
 * explains why when twkit is built without BPF (TWKIT_BPF = 0).
 */
#ifndef TWKIT_TRACE_H
#define TWKIT_TRACE_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bpf/trace.h"

/* ---- user-space tables (table.c) ----------------------------------------- */

/*
 * Rows keyed by the kernel's key bytes, each with nv 64-bit counters,
 * merged by key: adding a row whose key exists adds its counters.  Used for
 * the rows of one interval and for the totals of the run.
 */
struct trace_tab {
    size_t ksz, nv;             /* key bytes; counters per row */
    size_t n, cap;              /* rows used / allocated */
    unsigned char *keys;        /* n * ksz */
    uint64_t *vals;             /* n * nv */
    uint32_t *slot;             /* open-addressing index: row + 1, 0 empty */
    size_t nslot;               /* a power of two, >= 2 * cap */
};

void trace_tab_init(struct trace_tab *t, size_t ksz, size_t nv);
void trace_tab_release(struct trace_tab *t);
/* Forget the rows, keep the memory. */
void trace_tab_clear(struct trace_tab *t);
/* Add a row; returns 0 or -ENOMEM. */
int trace_tab_add(struct trace_tab *t, const void *key, const uint64_t *vals);
/* Add every row of from. */
int trace_tab_merge(struct trace_tab *t, const struct trace_tab *from);
static inline const void *trace_tab_key(const struct trace_tab *t, size_t i)
{
    return t->keys + i * t->ksz;
}
static inline const uint64_t *trace_tab_val(const struct trace_tab *t, size_t i)
{
    return t->vals + i * t->nv;
}
/* Row indices, largest first: by the sum of the first nlead counters, then
 * of all counters, then by key bytes (a stable, reproducible order).  The
 * caller frees the array; NULL when out of memory or t is empty. */
size_t *trace_tab_order(const struct trace_tab *t, size_t nlead);

#define TRACE_CLOSE_NV (sizeof(struct trace_close_val) / 8)
#define TRACE_FAIL_NV (sizeof(struct trace_fail_val) / 8)

/* ---- the loaded programs (probe.c) ----------------------------------------- */

enum trace_method { TRACE_AUTO, TRACE_EXACT, TRACE_APPROX };

struct trace_cfg {
    enum trace_method method;   /* resolved: TRACE_EXACT or TRACE_APPROX */
    uint32_t netns;             /* namespace inode to watch, 0: all */
    uint32_t tgid;              /* 0: every process */
    char comm[TRACE_COMM_LEN];  /* "": every process */
    uint16_t dport_lo, dport_hi;
    unsigned ncidr;
    struct trace_cidr cidr[TRACE_MAX_CIDR];
    const char *btf;            /* kernel BTF file, NULL: the running kernel's */
    bool prog_stats;            /* BPF_ENABLE_STATS: run time per program */
};

/* Why trace cannot run (trace_probe_open's return), for the exit status. */
enum trace_fail {
    TRACE_OK = 0,
    TRACE_UNAVAILABLE = 3,      /* no BPF in this build, no BTF, refused by the kernel */
    TRACE_NOPRIV = 4,           /* missing capabilities */
    TRACE_ERROR = 1,            /* anything else */
};

struct trace_probe;

/* Per-program run statistics (--prog-stats). */
struct trace_prog_stat {
    char name[48];              /* the program's name in bpf/trace.bpf.c */
    uint64_t run_cnt, run_time_ns, recursion_misses;
};

/* Whether this build has the BPF programs; *why explains when not. */
bool trace_probe_built(const char **why);
/* Load, configure and attach.  On failure returns a trace_fail with a
 * one-line reason in why. */
int trace_probe_open(const struct trace_cfg *cfg, struct trace_probe **out, char *why, size_t len);
/* Move the rows of the interval that ends now into closes / fails (merged;
 * see struct trace_tab), leaving the kernel tables empty. */
int trace_probe_drain(struct trace_probe *b, struct trace_tab *closes, struct trace_tab *fails);
/* Births so far in namespace netns (0: all namespaces together). */
int trace_probe_births(struct trace_probe *b, uint32_t netns, struct trace_births *out);
/* The global counters (enum trace_stat), summed over CPUs. */
int trace_probe_stats(struct trace_probe *b, uint64_t out[TRACE_ST_MAX]);
/* At most how many events were lost because a program was already running
 * on that CPU (recursion): a bound from the kernel's recursion_misses, see
 * the twins in bpf/trace.bpf.c. */
uint64_t trace_probe_missed(struct trace_probe *b);
/* Per-program statistics; returns how many were filled (at most max). */
size_t trace_probe_prog_stats(struct trace_probe *b, struct trace_prog_stat *out, size_t max);
/* Detach every program (no more events); the maps stay readable. */
void trace_probe_detach(struct trace_probe *b);
void trace_probe_close(struct trace_probe *b);

/* Whether kallsyms shows the address of tw_timer_handler to this process. */
bool trace_kallsyms_visible(const char *path);
/* Which capabilities trace misses: a message ("" when nothing is missing). */
void trace_priv_missing(char *buf, size_t len, bool *exact_possible);

/* ---- names (names.c) ---------------------------------------------------- */

/* "EADDRNOTAVAIL" for 99; "E123" for unknown values. */
const char *trace_errno_name(unsigned err, char *buf, size_t len);
/* A destination as text: "198.18.0.2:80", "[2001:db8::1]:443", "local :8080",
 * "bind 0.0.0.0:0".  Returns buf. */
char *trace_addr_str(const struct trace_addr *a, char *buf, size_t len);
/* The address alone ("198.18.0.2", "2001:db8::1") and its family (4 or 6). */
char *trace_ip_str(const struct trace_addr *a, char *buf, size_t len, int *family);
/* A container id in a cgroup path (docker, containerd, cri-o, podman,
 * kubepods): its first 12 hex digits in buf, or "" when there is none. */
char *trace_container_id(const char *path, char *buf, size_t len);

/* cgroup v2 ids to paths, by walking the cgroup2 mount (cached). */
struct trace_cgroups;
struct trace_cgroups *trace_cgroups_new(const char *root);
/* The path of id relative to the cgroup2 root ("/system.slice/x.service"),
 * "/" for the root, NULL when unknown.  Walks the tree again at most once
 * per call to trace_cgroups_refresh_allowed(). */
const char *trace_cgroups_path(struct trace_cgroups *c, uint64_t id);
void trace_cgroups_refresh_allowed(struct trace_cgroups *c);
void trace_cgroups_free(struct trace_cgroups *c);

/* ---- what one interval or the whole run shows (view.c, json.c) --------- */

struct trace_ns_check {         /* the cross-check of one namespace */
    char label[96];
    uint32_t netns;
    uint64_t births;            /* trace's births, both substates */
    uint64_t tw_delta;          /* TcpExtTW delta */
    uint64_t killed_delta;      /* TcpExtTWKilled delta */
    bool settled;               /* the counters and the map were read with
                                   no birth in between (else +-in-flight) */
};

struct trace_report {
    const char *kind;           /* "interval" or "total" */
    double seconds;             /* length */
    uint64_t wall_ns;           /* end, wall clock */
    bool exact;                 /* births from the timers (else approximate) */
    const char *scope;          /* "namespace current (4026531840)" */
    struct trace_births births; /* in the watched namespaces */
    const struct trace_tab *closes, *fails;
    const struct trace_ns_check *checks;
    size_t nchecks;
    uint64_t lost_rows, lost_pending, missed, unattributed;
    unsigned top;
    struct trace_cgroups *cg;
    const struct trace_prog_stat *progs;  /* --prog-stats, total only */
    size_t nprogs;
};

void trace_view(FILE *f, const struct trace_report *r, bool color);
void trace_json(FILE *f, const struct trace_report *r);
/* The first NDJSON line: what is being traced, and how. */
void trace_json_start(FILE *f, const struct trace_report *r, const char *method_why,
                      double interval);

#endif /* TWKIT_TRACE_H */
