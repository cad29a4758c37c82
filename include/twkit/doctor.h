/*
 * twkit/doctor.h — the findings engine behind `twkit doctor`.
 *
 * doctor audits the TIME_WAIT-related kernel settings of one network
 * namespace against the load it actually carries.  It works in two steps:
 *
 *   1. measure  (tw_doctor_measure): read the sysctls, sample the kernel
 *      counters over a short window (default 2 s), build the socket report of
 *      `twkit stat` at the end of the window, follow the client-side
 *      TIME_WAIT sockets seen at the start (to catch ones killed early by an
 *      RST), and parse the sysctl configuration files;
 *   2. judge    (tw_doctor_run): run every rule of a declarative table over
 *      the measurement.  Each rule yields zero or more findings with a stable
 *      id, a severity, the evidence (measured numbers), a short explanation
 *      with its source (kernel file or RFC), the fix, and at most one sysctl
 *      change the finding justifies.
 *
 * The two steps are apart so that tests can hand-build a measurement and
 * check a rule without a kernel.  tw_doctor_write_sysctl, tw_doctor_apply and
 * tw_doctor_rollback turn the justified changes into a sysctl.d drop-in and,
 * on request, into live settings that can be rolled back exactly.
 *
 * The library never prints; errors are 0/-errno/TW_E* (twkit/error.h) and a
 * one-line reason in a caller-supplied buffer.
 *
 * Thread-safety: no global state; a measurement and a result are used by one
 * thread at a time.  tw_doctor_measure reads the namespace of the calling
 * thread (enter another with tw_netns_enter first).
 */
#ifndef TWKIT_DOCTOR_H
#define TWKIT_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <twkit/common.h>
#include <twkit/kernel.h>
#include <twkit/report.h>
#include <twkit/sock.h>

TW_BEGIN_DECLS

/* ---- thresholds (documented in twkit-doctor(1)) ------------------------- */

#define TW_DOCTOR_HOT_PCT 25.0       /* a destination above this is "under pressure" */
#define TW_DOCTOR_WARN_PCT 50.0      /* port pressure: warn */
#define TW_DOCTOR_CRIT_PCT 90.0      /* port pressure: crit */
#define TW_DOCTOR_BUCKETS_CLOSE 90.0 /* sockstat tw / tcp_max_tw_buckets, % */
#define TW_DOCTOR_SERVER_TW_MIN 100  /* server-side TIME_WAIT worth a note */
#define TW_DOCTOR_TW_OBJ_BYTES 256   /* slab object if the kernel does not say */
#define TW_DOCTOR_DEFAULT_SAMPLE 2.0 /* seconds */

/* ---- sysctl configuration files ---------------------------------------- */

/* One assignment "key = value" from a sysctl.d file. */
struct tw_sysctl_entry {
    char key[128];   /* dotted ("net.ipv4.tcp_tw_reuse"), '/' form normalised */
    char value[128]; /* trimmed; inner whitespace kept ("1024 65535") */
    const char *file; /* path as read (with the root prefix), whole; owned by the
                         tw_sysctl_conf (NULL from tw_sysctl_conf_parse) */
    unsigned line;   /* 1-based */
    bool ignore_err; /* the line started with '-' (sysctl.d(5): ignore failure) */
};

/* A line or a file that could not be used. */
struct tw_sysctl_problem {
    const char *file; /* whole path, owned by the tw_sysctl_conf */
    unsigned line;   /* 0: the whole file (unreadable) */
    char msg[128];
};

/* Every assignment of every file, in the order `sysctl --system` applies them. */
struct tw_sysctl_conf {
    size_t n, cap;
    struct tw_sysctl_entry *e;
    size_t n_problems, cap_problems;
    struct tw_sysctl_problem *p;
    unsigned n_files;  /* files read */
    size_t n_paths;    /* the paths entries and problems point into (owned) */
    char **paths;
};

/*
 * Callback for tw_sysctl_conf_parse: one assignment (entry.file is NULL and
 * entry.line set).  Return 0 to go on.
 */
typedef int (*tw_sysctl_entry_cb)(const struct tw_sysctl_entry *e, void *arg);
typedef int (*tw_sysctl_problem_cb)(unsigned line, const char *msg, void *arg);

/*
 * Parse sysctl.d(5) text held in buf (len bytes, need not be NUL-ended):
 * "key = value" lines, '#' or ';' comments, blank lines, a leading '-' on
 * the key, keys with '/' separators.  Malformed lines (no '=', empty key,
 * key or value too long, NUL byte, bad characters in the key) go to
 * on_problem and are skipped.  Returns 0, or the first non-zero callback
 * value.
 */
TW_EXTERN int tw_sysctl_conf_parse(const char *buf, size_t len,
                                   tw_sysctl_entry_cb on_entry,
                                   tw_sysctl_problem_cb on_problem, void *arg);

/*
 * Read the files `sysctl --system` reads, below root (NULL or "" = "/"):
 * *.conf in /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d,
 * /usr/lib/sysctl.d, /lib/sysctl.d (by file name; the first directory wins
 * for a name), then /etc/sysctl.conf.  Missing directories are fine;
 * unreadable files and malformed lines become problems.  Returns 0 or
 * -ENOMEM.  Release with tw_sysctl_conf_release.
 */
TW_EXTERN int tw_sysctl_conf_load(struct tw_sysctl_conf *c, const char *root);
/* Parse one file into c (used by tw_sysctl_conf_load; for tests). */
TW_EXTERN int tw_sysctl_conf_load_file(struct tw_sysctl_conf *c, const char *path);
TW_EXTERN void tw_sysctl_conf_release(struct tw_sysctl_conf *c);
/* The last assignment of key (dotted) or NULL. */
TW_EXTERN const struct tw_sysctl_entry *tw_sysctl_conf_find(const struct tw_sysctl_conf *c,
                                                           const char *key);

/* ---- the measurement ---------------------------------------------------- */

struct tw_doctor_opts {
    double sample_s;       /* counter window in seconds (0 = no rates); see DEFAULT */
    const char *proc_root; /* NULL = /proc */
    const char *root;      /* prefix for /etc, /run, /usr files; NULL = "/" */
    enum tw_source_kind source; /* socket source (TW_SOURCE_AUTO) */
    /*
     * A recording instead of the live namespace (NULL: live): the layout of
     * `twkit stat --record` (sock_diag.bin or net/tcp and net/tcp6, the
     * files of net/, sys/net/ipv4/ and slab/), plus optionally window/ (net/snmp,
     * net/netstat, net/sockstat at the start of the window, and a file
     * "seconds" with its length) and root/ (the sysctl files, used when
     * root is NULL).  Nothing is slept and no TIME_WAIT is followed.
     */
    const char *fixture;
};

/* Everything the rules look at. */
struct tw_doctor_sample {
    struct tw_kernel k;           /* sysctls and sockstat at the end of the window (the rules read this one) */
    struct tw_counters c0, c1;    /* counters at the start and at the end */
    bool have_counters;
    double seconds;               /* actual window length (0: no window) */
    long tw0, tw1;                /* sockstat tw at the start and at the end */
    bool tw_recycle_exists;       /* /proc/sys/net/ipv4/tcp_tw_recycle exists (< 4.12) */
    int tw_recycle;               /* its value, -1 if absent */
    long ehash_entries;           /* |tcp_ehash_entries| (6.1+; 0: unknown): the kernel
                                     sets tcp_max_tw_buckets to half of it in a new namespace */
    /* TIME_WAIT followed through the window (rfc1337 rule) */
    uint64_t tw_tracked;          /* TIME_WAIT seen at the start with > window + 2 s left */
    uint64_t tw_vanished;         /* of those: gone at the end, 4-tuple not in use again */
    uint64_t tw_tracked_server;   /* of tw_tracked: server side (the local port was
                                     listening at the start) */
    uint64_t tw_vanished_server;  /* of tw_vanished: server side */
    bool tw_track_capped;         /* too many to follow all */
    struct tw_report *report;     /* at the end of the window; NULL if unavailable */
    bool have_listen;             /* listen[] was read */
    uint8_t listen[65536 / 8];    /* ports with a listening socket at the end (bitmap) */
    struct tw_sysctl_conf conf;   /* configuration files */
    bool conf_read;               /* they were looked for (a recording may have none) */
    char label[96];               /* namespace label for output ("" = current) */
};

/* True when port p had a listening socket at the end of the window. */
static inline bool tw_doctor_listening(const struct tw_doctor_sample *s, unsigned p)
{
    return s->have_listen && p < 65536 && ((s->listen[p >> 3] >> (p & 7)) & 1);
}

/*
 * Measure the calling thread's namespace.  Sleeps o->sample_s seconds.
 * Returns 0 and *out (free with tw_doctor_sample_free), or a negative error
 * with a one-line reason in errbuf.
 */
TW_EXTERN int tw_doctor_measure(const struct tw_doctor_opts *o, struct tw_doctor_sample **out,
                                char *errbuf, size_t errlen);
/* Free a measurement (also one built by hand if its report/conf are set). */
TW_EXTERN void tw_doctor_sample_free(struct tw_doctor_sample *s);
/* Counter delta over the window (0 when not measured or the counter is absent). */
TW_EXTERN uint64_t tw_doctor_delta(const struct tw_doctor_sample *s, enum tw_counter_id id);
/* ActiveOpens per second over the window (0 without a window). */
TW_EXTERN double tw_doctor_connect_rate(const struct tw_doctor_sample *s);

/* ---- findings ----------------------------------------------------------- */

enum tw_severity { TW_SEV_OK = 0, TW_SEV_INFO, TW_SEV_WARN, TW_SEV_CRIT };

/* "ok", "info", "warn", "crit". */
TW_EXTERN const char *tw_severity_name(enum tw_severity s);

#define TW_DOCTOR_EVIDENCE_MAX 24

struct tw_evidence {
    char key[32];     /* snake_case, stable */
    char *value;      /* as printed, whole (owned by the result) */
    bool numeric;     /* value is a number (JSON number) */
};

/* A sysctl value a finding justifies.  A value that would not fit is never
 * proposed (the finding's fix still gives the whole line). */
struct tw_sysctl_change {
    char key[64];     /* dotted */
    char value[256];  /* the new value */
    char current[256]; /* the running value */
    const char *finding; /* id of the finding that justifies it (static) */
    enum tw_severity severity; /* of that finding */
};

struct tw_finding {
    const char *id;            /* stable id (static), e.g. "port-pressure" */
    enum tw_severity severity;
    char *summary;             /* one line, with the key number (owned by the result) */
    size_t n_evidence;
    struct tw_evidence evidence[TW_DOCTOR_EVIDENCE_MAX];
    const char *explain;       /* the correct explanation (static) */
    const char *source;        /* kernel file / commit / RFC (static) */
    char *fix;                 /* commands, sysctl line or code-level change; '\n' between
                                  steps, none inside one (a newline in a quoted path
                                  shows as '?': the evidence has it exact); owned by
                                  the result */
    bool has_change;
    struct tw_sysctl_change change;
};

/* What every rule answered. */
struct tw_doctor_result {
    size_t n;
    struct tw_finding *f;      /* worst first; rule order within a severity */
    enum tw_severity worst;    /* TW_SEV_OK when no finding */
    size_t n_passed;
    const char **passed;       /* ids of rules that found nothing (static strings) */
    size_t n_changes;
    struct tw_sysctl_change *changes; /* of warn and crit findings only, merged by key:
                                         the worst finding wins (an info finding's change
                                         is a suggestion, never written or applied) */
};

/* A rule in the table (exposed so that docs and tests can list them). */
struct tw_doctor_rule {
    const char *id;            /* stable, lower case and '-', at most 23 characters */
    const char *title;         /* what it checks, one line of at most 55 characters */
};

/* The rule table, in the order the rules run; *n gets its length.
 * `twkit doctor --list-rules` prints it. */
TW_EXTERN const struct tw_doctor_rule *tw_doctor_rules(size_t *n);

/* Run every rule over s.  Returns 0 or -ENOMEM.  Free with tw_doctor_result_free. */
TW_EXTERN int tw_doctor_run(const struct tw_doctor_sample *s, struct tw_doctor_result **out);
TW_EXTERN void tw_doctor_result_free(struct tw_doctor_result *r);
/* The first finding with this id, or NULL. */
TW_EXTERN const struct tw_finding *tw_doctor_find(const struct tw_doctor_result *r,
                                                 const char *id);
/* The evidence value for key, or NULL. */
TW_EXTERN const char *tw_finding_evidence(const struct tw_finding *f, const char *key);

/* ---- writing and applying changes --------------------------------------- */

/*
 * True when doctor may write key = value: key is one of the settings doctor
 * manages (tcp_tw_reuse, tcp_tw_reuse_delay, tcp_timestamps,
 * tcp_max_tw_buckets, tcp_rfc1337, ip_local_port_range,
 * ip_local_reserved_ports) and the value is in the range the kernel accepts
 * (for ip_local_reserved_ports: ports 0-65535 and ranges A-B, comma
 * separated, as the kernel prints them; "" clears the list).  tcp_tw_recycle (removed in 4.12) and
 * tcp_fin_timeout (does not touch TIME_WAIT) are never written.
 */
TW_EXTERN bool tw_doctor_change_safe(const char *key, const char *value);

/*
 * Where the changes go.  Values written to /etc/sysctl.d are loaded by the
 * host's `sysctl --system` into the host's namespace at boot, so they may
 * only come from the host's namespace (that of PID 1 as this process sees
 * it: in a container with its own PID and mount namespaces, the
 * container's).  A namespace's values are set live in it, and nothing the
 * host loads at boot is written.
 */
enum tw_doctor_scope {
    TW_DOCTOR_SCOPE_AUTO = 0, /* HOST in the host's namespace, NETNS anywhere else */
    TW_DOCTOR_SCOPE_HOST,     /* live values and the boot drop-in; refused elsewhere */
    TW_DOCTOR_SCOPE_NETNS,    /* live values of the calling thread's namespace only */
};

/* "host", "netns" (AUTO: "auto"). */
TW_EXTERN const char *tw_doctor_scope_name(enum tw_doctor_scope s);

/*
 * The scope an apply or rollback would use from the calling thread: HOST or
 * NETNS for AUTO; HOST only when this is the host's namespace.  Returns the
 * scope, or TW_EFOREIGN (HOST asked outside the host's namespace), or a
 * negative errno when the namespaces cannot be compared (then nothing may be
 * written to the boot configuration).
 */
TW_EXTERN int tw_doctor_scope_resolve(enum tw_doctor_scope want);

/*
 * True when the host reads path at boot (systemd-sysctl or procps
 * `sysctl --system`): a *.conf file directly in /etc/sysctl.d,
 * /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d or
 * /lib/sysctl.d, or /etc/sysctl.conf, after resolving symbolic links (of the
 * file if it exists, of its directory otherwise; a path whose directory
 * does not exist is compared as written).  A namespace's changes must never
 * be written there.
 */
TW_EXTERN bool tw_doctor_boot_path(const char *path);
/*
 * tw_doctor_boot_path, with the reason in why (len bytes, always
 * terminated): what reads it at boot when true; when false, why a file in
 * or under one of those directories is not read ("not read at boot: ...
 * only the *.conf files in /etc/sysctl.d"), or "" for any other path.
 */
TW_EXTERN bool tw_doctor_boot_explain(const char *path, char *why, size_t len);

/*
 * Render the drop-in text for the changes of r: a commented header, then for
 * each change the finding, its summary and the previous value as comments,
 * and the "key = value" line.  For a NETNS scope the header says the file
 * is for that namespace only and must not be put where the host's
 * `sysctl --system` reads.  Returns a malloc'd string or NULL (ENOMEM).
 */
TW_EXTERN char *tw_doctor_dropin_text(const struct tw_doctor_result *r, const char *label,
                                      enum tw_doctor_scope scope);

/*
 * Write text to path atomically: an unnamed temporary file in the same
 * directory (O_TMPFILE, else a hidden mkstemp file), fsync, rename over
 * path, fsync the directory.  An interrupted write leaves path as it was.
 * Returns 0 or -errno.
 */
TW_EXTERN int tw_doctor_write_atomic(const char *path, const char *text, size_t len,
                                     unsigned mode);

#define TW_DOCTOR_DROPIN "/etc/sysctl.d/90-twkit.conf"
#define TW_DOCTOR_STATE "/var/lib/twkit/doctor-rollback"
/* A namespace's rollback state: PREFIX.netns-ID, ID its netns cookie (it
 * lives no longer than the namespace, so under /run). */
#define TW_DOCTOR_NETNS_STATE "/run/twkit/doctor-rollback"

struct tw_doctor_apply_opts {
    const char *root;       /* prefix for the drop-in and the state files; NULL = "/" */
    const char *proc_root;  /* NULL = /proc */
    const char *label;      /* namespace label for comments */
    enum tw_doctor_scope scope; /* AUTO: as tw_doctor_scope_resolve says */
};

/*
 * Apply r's changes in the calling thread's namespace: check each is safe,
 * read and record the previous values (HOST: and the previous drop-in) in
 * the state file (atomically), set the values through /proc/sys (if the
 * kernel rejects one, restore those already set and fail with -EINVAL,
 * leaving nothing changed), then, HOST only, write the drop-in atomically.
 * Returns 0, -EPERM/-EACCES (not root), -EINVAL (unsafe or rejected value:
 * errbuf says which), -EEXIST (an earlier apply in this scope was not rolled
 * back), TW_EFOREIGN (HOST outside the host's namespace), or -errno.
 */
TW_EXTERN int tw_doctor_apply(const struct tw_doctor_apply_opts *o, const struct tw_doctor_result *r,
                              char *errbuf, size_t errlen);
/*
 * Undo the last apply of this scope: restore every recorded value through
 * /proc/sys and (HOST) the previous drop-in, or remove it if there was none,
 * then delete the state file.  Returns 0, -ENOENT (nothing to roll back),
 * TW_EMALFORMED (bad state file), TW_EFOREIGN (the state belongs to another
 * network namespace), or -errno.  errbuf gets a reason.
 */
TW_EXTERN int tw_doctor_rollback(const struct tw_doctor_apply_opts *o, char *errbuf, size_t errlen);

TW_END_DECLS

#endif /* TWKIT_DOCTOR_H */
