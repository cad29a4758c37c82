/*
 * tool.h — what the twkit command's files share: the command registry,
 * exit codes, the options every command declares the same way, and the
 * namespace and colour helpers.  The command uses libtwkit only through
 * include/twkit, and the internal tier (twx/) for options, JSON, messages
 * and clocks.
 */
#ifndef TWKIT_TOOL_H
#define TWKIT_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <twkit/sock.h>

#include "twx/msg.h"
#include "twx/opt.h"

/* Exit status of every twkit command (the table is in twkit(1)). */
enum {
    TW_EXIT_OK = 0,      /* success */
    TW_EXIT_RUNTIME = 1, /* runtime error: kernel, namespace, permission, bad input data */
    TW_EXIT_USAGE = 2,   /* usage error: unknown option, bad option value */
};

/* The statuses most commands share, for their twx_cmd exit tables. */
#define TOOL_EXITS_COMMON                                                          \
    {TW_EXIT_OK, "success"},                                                       \
    {TW_EXIT_RUNTIME, "runtime error: kernel, namespace, permission or bad input data"}, \
    {TW_EXIT_USAGE, "usage error: unknown option, bad or conflicting option value"}

/*
 * The commands.  Each is defined in its own file; the registry in
 * commands.c names every one, so a command that is missing from the build
 * is a link error, not a silently absent command.
 */
extern const struct twx_cmd stat_command;
extern const struct twx_cmd doctor_command;
extern const struct twx_cmd watch_command;
extern const struct twx_cmd lab_command;
extern const struct twx_cmd lab_load_command;
extern const struct twx_cmd lab_backend_command;
extern const struct twx_cmd explain_command;
extern const struct twx_cmd export_command;
extern const struct twx_cmd trace_command;

/* Every top-level command, NULL-terminated (commands.c). */
extern const struct twx_cmd *const tool_commands[];
/* Find a command ("stat", or "lab load" with its parent): NULL if none. */
const struct twx_cmd *tool_find_command(const char *name);

/* ---- options shared by several commands, declared once ------------------ */

/* Exclusion bits of the shared options; commands use bits from TOOL_X_CMD up. */
enum {
    TOOL_X_OUTPUT = 1u << 0,          /* --json, --prom, ... */
    TOOL_X_FAMILY = 1u << 1,          /* -4, -6 */
    TOOL_X_FIXTURE_NETNS = 1u << 2,   /* --fixture, --netns */
    TOOL_X_FIXTURE_SOURCE = 1u << 3,  /* --fixture, --source */
    TOOL_X_FIXTURE_RECORD = 1u << 4,  /* --fixture, --record */
    TOOL_X_CMD = 1u << 8,             /* first bit free for a command */
};

/* Where sockets come from and which: what stat, doctor, watch and export share. */
struct tool_common {
    const char *netns;       /* --netns NAME|PID|PATH|all, NULL: current */
    int source;              /* --source: index into tool_source_choices */
    const char *fixture;     /* --fixture DIR */
    bool json;               /* --json */
    int color;               /* --color: 0 auto, 1 always, 2 never */
    bool ipv4, ipv6;         /* -4, -6 */
    unsigned states;         /* --state, 0: every state */
    struct tw_query query;   /* the port and address filters */
};

extern const char *const tool_source_choices[]; /* "auto", "netlink", "proc", "bpf" */
extern const char *const tool_source_live_choices[]; /* the same and "live" */
extern const char *const tool_color_choices[];  /* "auto", "always", "never" */
/* The source kind of a --source choice index. */
enum tw_source_kind tool_source_kind(int choice);
/* Report why --source bpf could not be opened (error e, and the library's
 * reason: privileges, BTF, a build without BPF); returns TW_EXIT_RUNTIME. */
int tool_bpf_err(int e);

/* Value parsers of the shared options (twx_opt_fn). */
int tool_opt_state(void *states, const char *v, char *err, size_t len);
int tool_opt_sport(void *query, const char *v, char *err, size_t len);
int tool_opt_dport(void *query, const char *v, char *err, size_t len);
int tool_opt_src(void *query, const char *v, char *err, size_t len);
int tool_opt_dst(void *query, const char *v, char *err, size_t len);

/* Defaults of the shared options (before parsing). */
void tool_common_init(struct tool_common *c);
/* After parsing: fold -4/-6 and --state into the query. */
void tool_common_finish(struct tool_common *c);

/* Option table entries, for an argument struct T with a `struct tool_common c`. */
#define TOOL_OPT_JSON(T, HELP, DOC)                                                  \
    {.lng = "json", .shrt = 'j', .type = TWX_FLAG, .off = offsetof(T, c.json),        \
     .help = HELP, .doc = DOC, .excl = TOOL_X_OUTPUT}
#define TOOL_OPT_NETNS(T, DOC)                                                       \
    {.lng = "netns", .shrt = 'N', .type = TWX_STR, .off = offsetof(T, c.netns),       \
     .arg = "NS", .help = "namespace: NAME (ip netns), PID, path or 'all'",          \
     .doc = DOC, .example = "1", .excl = TOOL_X_FIXTURE_NETNS}
#define TOOL_OPT_SOURCE(T)                                                           \
    {.lng = "source", .type = TWX_CHOICE, .off = offsetof(T, c.source), .arg = "KIND", \
     .help = "where sockets are read from",                                          \
     .doc = "Where the socket table is read from: *netlink* (NETLINK_SOCK_DIAG, one " \
            "kernel walk with the filters run in the kernel), *proc* (*/proc/net/tcp* " \
            "and *tcp6*), *bpf* (an eBPF iterator over the same socket table: "      \
            "the same walk, plus the exact *tcp_tw_reuse* verdict of each TIME_WAIT " \
            "socket, so RECLAIM is a count, not a bound; needs root, or CAP_BPF "    \
            "and CAP_PERFMON, and kernel BTF, otherwise the command exits with "    \
            "status 1 naming what is missing), or *auto*: netlink, falling back to " \
            "proc where netlink sockets are unavailable (auto never loads BPF: "    \
            "a program load costs more than a small table's whole dump).",          \
     .dflt = "auto", .example = "proc", .choices = tool_source_choices,              \
     .excl = TOOL_X_FIXTURE_SOURCE}
/* The same for the long-running commands (watch, export): a fifth kind, live. */
#define TOOL_SOURCE_LIVE 4
#define TOOL_OPT_SOURCE_LIVE(T)                                                      \
    {.lng = "source", .type = TWX_CHOICE, .off = offsetof(T, c.source), .arg = "KIND", \
     .help = "where sockets are read from (live: counts kept by eBPF)",              \
     .doc = "Where the socket table is read from: *netlink*, *proc*, *bpf* or *auto* " \
            "as for *twkit stat*, or *live*: a table of socket counts per "          \
            "destination and state (a server's connections per client address) "   \
            "kept in the kernel by eBPF (seeded by one walk, "                       \
            "then kept by TIME_WAIT timer and socket state events), so that a "     \
            "sample reads counts, not sockets. A reconciliation walk (see "         \
            "*--reconcile*) compares it with sock_diag and reports drift; lost "     \
            "events, or totals that disagree with the kernel's own counts "          \
            "(/proc/net/sockstat, checked at every sample), make it seed a new "     \
            "table. Live samples carry counts per "                                  \
            "destination, no report (no expiry, reuse or rates; *twkit export* adds " \
            "the kernel's counters and sysctls). Without privileges (root, or "      \
            "CAP_BPF and "                                                           \
            "CAP_PERFMON), kernel BTF or a visible tw_timer_handler, each sample "   \
            "walks with sock_diag instead, and the reason is said. The table "     \
            "follows one namespace: the current one or the one *--netns* names "     \
            "(not *all*). In *twkit watch*, *--state*, *--dport*, *--src*, *--dst*, " \
            "*-4* and *-6* select the rows shown (the table has no local ports: "   \
            "not *--sport*).",                                                       \
     .dflt = "auto", .example = "live", .choices = tool_source_live_choices,         \
     .excl = TOOL_X_FIXTURE_SOURCE}
#define TOOL_OPT_RECONCILE(T, FIELD, WHEN)                                           \
    {.lng = "reconcile", .type = TWX_NUM, .off = offsetof(T, FIELD), .arg = "SECONDS", \
     .help = "with --source live: compare with a walk every SECONDS",               \
     .doc = "With *--source live*: every _SECONDS_ (0: never on a schedule), compare " \
            "the live table with a sock_diag walk of the namespace and report the "  \
            "difference per destination and state (drift): a row the table reads "  \
            "the same before and after the walk, three walks in a row, and that "   \
            "differs from the walk by more sockets than the events the table saw "  \
            "on its destination during it (connections born and gone within a "    \
            "walk are counted as unsettled, not drift); drift makes the table "     \
            "seed again. " WHEN,                                                     \
     .dflt = "60", .example = "10", .min = 0, .max = 86400}
#define TOOL_OPT_FIXTURE(T)                                                          \
    {.lng = "fixture", .type = TWX_STR, .off = offsetof(T, c.fixture), .arg = "DIR",  \
     .help = "read a recorded dump and kernel files from DIR",                       \
     .doc = "Read a recording instead of the live kernel: _DIR_/sock_diag.bin (raw " \
            "netlink replies) or _DIR_/net/tcp and net/tcp6, and the kernel files "  \
            "(net/sockstat, sys/net/ipv4/...) beside them, as *twkit stat --record* " \
            "writes them.",                                                          \
     .example = "tests/fixtures/stat/recorded-nl",                                         \
     .excl = TOOL_X_FIXTURE_NETNS | TOOL_X_FIXTURE_SOURCE | TOOL_X_FIXTURE_RECORD}
#define TOOL_OPT_COLOR(T)                                                            \
    {.lng = "color", .type = TWX_CHOICE, .off = offsetof(T, c.color), .arg = "WHEN",  \
     .help = "colour in the human view",                                             \
     .doc = "Colour in the human view. *auto* colours only when standard output is " \
            "a terminal, *NO_COLOR* is unset or empty and *TERM* is not *dumb*. "    \
            "Machine output (*--json* and the like) is never coloured, whatever "     \
            "_WHEN_ says.",                                                          \
     .dflt = "auto", .example = "never", .choices = tool_color_choices}
#define TOOL_OPTS_FILTERS(T)                                                         \
    {.lng = "state", .shrt = 's', .type = TWX_FN, .off = offsetof(T, c.states),       \
     .arg = "STATE[,..]", .help = "only these states (time-wait, established, all..)", \
     .doc = "Only sockets in these states: *established*, *syn-sent*, *syn-recv*, "  \
            "*fin-wait-1*, *fin-wait-2*, *time-wait*, *close*, *close-wait*, "       \
            "*last-ack*, *listen*, *closing*, *new-syn-recv*, or the groups *all*, " \
            "*connected*, *synchronized* (as in *ss*(8)); upper case and "           \
            "underscores also work. Repeated options add states.",                  \
     .example = "time-wait", .fn = tool_opt_state, .flags = TWX_REPEAT},             \
    {.lng = "sport", .type = TWX_FN, .off = offsetof(T, c.query), .arg = "PORT[-PORT]", \
     .help = "only local ports in this range",                                       \
     .doc = "Only sockets whose local port is in the range (filtered in the kernel).", \
     .example = "1024-65535", .fn = tool_opt_sport},                                 \
    {.lng = "dport", .type = TWX_FN, .off = offsetof(T, c.query), .arg = "PORT[-PORT]", \
     .help = "only remote ports in this range",                                      \
     .doc = "Only sockets whose remote port is in the range (filtered in the kernel).", \
     .example = "443", .fn = tool_opt_dport},                                        \
    {.lng = "src", .type = TWX_FN, .off = offsetof(T, c.query), .arg = "CIDR",        \
     .help = "only local addresses in CIDR",                                         \
     .doc = "Only sockets whose local address is in the prefix. Repeat to give "     \
            "alternatives (up to 8); different options must all match. An IPv4 "    \
            "prefix also matches IPv4-mapped IPv6 addresses.",                       \
     .example = "198.18.0.0/15", .fn = tool_opt_src, .flags = TWX_REPEAT},           \
    {.lng = "dst", .type = TWX_FN, .off = offsetof(T, c.query), .arg = "CIDR",        \
     .help = "only remote addresses in CIDR",                                        \
     .doc = "Only sockets whose remote address is in the prefix; as *--src*.",       \
     .example = "2001:db8::/32", .fn = tool_opt_dst, .flags = TWX_REPEAT},           \
    {.lng = "ipv4", .shrt = '4', .type = TWX_FLAG, .off = offsetof(T, c.ipv4),        \
     .help = "IPv4 sockets only", .doc = "IPv4 sockets only.", .excl = TOOL_X_FAMILY},                            \
    {.lng = "ipv6", .shrt = '6', .type = TWX_FLAG, .off = offsetof(T, c.ipv6),        \
     .help = "IPv6 sockets only", .doc = "IPv6 sockets only.", .excl = TOOL_X_FAMILY}
#define TOOL_OPT_HELP                                                                \
    {.lng = "help", .shrt = 'h', .type = TWX_HELP, .help = "this help"}

/* ---- namespaces and colour ------------------------------------------------ */

/* "host" when the calling thread is in the host's network namespace, else
 * "current"; *inode (may be NULL) gets the namespace id, 0 if unknown. */
void tool_netns_label(char *buf, size_t len, uint64_t *inode);
/* Report a failure to open (entering false) or enter a namespace; returns
 * TW_EXIT_RUNTIME. */
int tool_netns_err(const char *spec, int err, bool entering);

/* Colour: decided once per run (--color choice index, NO_COLOR, isatty). */
extern bool tool_color;
void tool_color_init(int choice, FILE *out);

#endif /* TWKIT_TOOL_H */
