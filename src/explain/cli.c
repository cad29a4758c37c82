/*
 * cli.c — `twkit explain`: why TIME_WAIT exists, shown on the real kernel.
 *
 * Parses the option table, picks the scenario variants to run (all by
 * default), makes sure the command can run here (root, or an unprivileged
 * user namespace; a tun device), runs each variant on fresh hosts, and
 * hands the finished runs to the renderers: the ladder on standard output
 * as each run ends, or JSON at the end; SVG and pcapng files, written
 * atomically once everything ran.  SIGINT, SIGTERM and SIGHUP stop the
 * current run cleanly (exit 128+signal); SIGKILL leaves nothing behind
 * either, by twx/topo's design.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "explain.h"
#include "tool.h"
#include "twx/file.h"
#include "twx/json.h"
#include "twx/text.h"

enum {
    X_EXIT_DISAGREE = 3, /* --check: the kernel disagreed with an expectation */
    X_EXIT_CANNOT = 4,   /* missing privilege or tun device */
};

/* Options that make no sense together: each pair shares a bit of its own, so
 * the parser refuses them ("--list and --json exclude each other"). */
enum {
    X_LIST_JSON = TOOL_X_CMD << 0,
    X_LIST_WAIT = TOOL_X_CMD << 1,
    X_LIST_ASCII = TOOL_X_CMD << 2,
    X_ASCII_JSON = TOOL_X_CMD << 3, /* --ascii draws; JSON has no drawing */
    /* --list with what is about runs; one bit per option, or they would
     * exclude each other too (-4 and -6 already do) */
    X_LIST_CHECK = TOOL_X_CMD << 4,
    X_LIST_SVG = TOOL_X_CMD << 5,
    X_LIST_PCAP = TOOL_X_CMD << 6,
    X_LIST_FAMILY = TOOL_X_CMD << 7,
};

struct explain_args {
    struct tool_common c;
    bool check, wait, list, ascii;
    const char *svg, *pcap;
};

static const struct twx_opt explain_opts[] = {
    {.lng = "list", .shrt = 'l', .type = TWX_FLAG, .off = offsetof(struct explain_args, list),
     .help = "list the scenarios and their variants",
     .doc = "List the scenarios and their variants, and exit. Needs no privileges.",
     .excl = X_LIST_JSON | X_LIST_WAIT | X_LIST_ASCII | X_LIST_CHECK | X_LIST_SVG |
             X_LIST_PCAP | X_LIST_FAMILY},
    {.lng = "ipv4", .shrt = '4', .type = TWX_FLAG, .off = offsetof(struct explain_args, c.ipv4),
     .help = "IPv4 between the hosts (the default)",
     .doc = "IPv4 between the hosts: client 198.18.0.1, server 198.18.0.2 (RFC 2544 "
            "addresses, inside the private namespaces only). The default.",
     .excl = TOOL_X_FAMILY | X_LIST_FAMILY},
    {.lng = "ipv6", .shrt = '6', .type = TWX_FLAG, .off = offsetof(struct explain_args, c.ipv6),
     .help = "IPv6 between the hosts",
     .doc = "IPv6 between the hosts: client 2001:2::1, server 2001:2::2 (RFC 5180 "
            "addresses, inside the private namespaces only).",
     .excl = TOOL_X_FAMILY | X_LIST_FAMILY},
    {.lng = "check", .type = TWX_FLAG, .off = offsetof(struct explain_args, check),
     .help = "exit 3 when the kernel disagrees with an expectation",
     .doc = "Exit with status 3 when the kernel did not do what a scenario expects (each "
            "expectation is listed under its diagram with the kernel's answer). Without it "
            "the disagreement is shown and the exit status is 0.",
     .excl = X_LIST_CHECK},
    {.lng = "wait", .type = TWX_FLAG, .off = offsetof(struct explain_args, wait),
     .help = "close: wait TIME_WAIT out (60 s) and show the socket go",
     .doc = "In the *close* scenario, wait until the TIME_WAIT socket disappears (60 s on "
            "Linux), reading it with sock_diag every 250 ms, and show when it went. A usage "
            "error when no *close:with-time-wait* run is selected.",
     .excl = X_LIST_WAIT},
    {.lng = "json", .shrt = 'j', .type = TWX_FLAG, .off = offsetof(struct explain_args, c.json),
     .help = "JSON output (schema: docs/explain-json.md)",
     .doc = "JSON instead of the diagrams: every segment with its send and delivery "
            "times, every state change, the narration and the expectations; schema "
            "*twkit.explain.v1*, documented in docs/explain-json.md.",
     .excl = TOOL_X_OUTPUT | X_LIST_JSON | X_ASCII_JSON},
    {.lng = "svg", .type = TWX_STR, .off = offsetof(struct explain_args, svg), .arg = "FILE",
     .help = "also write the diagrams as one SVG file",
     .doc = "Also write the diagrams to _FILE_ as one self-contained SVG image (no script, "
            "no external reference), for a browser or for print.",
     .example = "/tmp/explain.svg", .excl = X_LIST_SVG},
    {.lng = "pcap", .type = TWX_STR, .off = offsetof(struct explain_args, pcap), .arg = "FILE",
     .help = "also write both hosts' captures to a pcapng file",
     .doc = "Also write every segment to _FILE_ in pcapng format, as captured on both "
            "hosts: two interfaces per run (its client and server tun devices), each "
            "segment on the sender's at its send time and on the receiver's at its "
            "delivery time, with a comment where the wire dropped, held, duplicated or "
            "moved it. Readable by tshark and Wireshark.",
     .example = "/tmp/explain.pcapng", .excl = X_LIST_PCAP},
    {.lng = "ascii", .type = TWX_FLAG, .off = offsetof(struct explain_args, ascii),
     .help = "draw with ASCII characters only",
     .doc = "Draw the diagrams with ASCII characters only, for terminals and files that "
            "cannot show UTF-8 box drawing.",
     .excl = X_LIST_ASCII | X_ASCII_JSON},
    TOOL_OPT_COLOR(struct explain_args),
    TOOL_OPT_HELP,
};

static const struct twx_exit explain_exits[] = {
    TOOL_EXITS_COMMON,
    {X_EXIT_DISAGREE, "with --check: the kernel disagreed with a scenario's expectation"},
    {X_EXIT_CANNOT, "cannot run here: a missing privilege (named) or no tun device"},
};

static int run_explain(int argc, char **argv);

const struct twx_cmd explain_command = {
    .name = "explain",
    .synopsis = "[SCENARIO[:VARIANT]...] [OPTIONS]",
    .summary = "why TIME_WAIT exists, shown on the real kernel, packet by packet",
    .about = "Runs two real Linux TCP stacks against each other in two private network\n"
             "namespaces, over a wire that twkit itself controls (a tun device in each,\n"
             "twkit relaying every packet: it can drop, hold, duplicate or replay any\n"
             "segment), and draws what happened as a ladder diagram: every segment with\n"
             "its flight, each host's TCP state read with sock_diag after every step, and\n"
             "one sentence per step naming the RFC 9293 section or the kernel function.\n"
             "Each scenario runs with TIME_WAIT and without it (the kernel's SOCK_DESTROY\n"
             "removes it), and checks what it expects against the kernel.\n"
             "\n"
             "Scenarios: close, lost-ack, old-duplicate, simultaneous, rst,\n"
             "syn-on-timewait (--list describes them); all by default.  Needs root, or\n"
             "unprivileged user namespaces and a usable /dev/net/tun.\n",
    .opts = explain_opts,
    .n_opts = sizeof(explain_opts) / sizeof(explain_opts[0]),
    .args_size = sizeof(struct explain_args),
    .positional = "SCENARIO[:VARIANT]",
    .examples = "  twkit explain                        every scenario, with and without\n"
                "  twkit explain lost-ack               why the closer waits: reason 1\n"
                "  twkit explain old-duplicate -6       reason 2, over IPv6\n"
                "  twkit explain close:with-time-wait --wait   watch the 60 s pass\n"
                "  twkit explain --check --json > run.json     CI: exit 3 on a surprise\n"
                "  twkit explain rst --pcap rst.pcapng --svg rst.svg\n",
    .exits = explain_exits,
    .n_exits = sizeof(explain_exits) / sizeof(explain_exits[0]),
    .man = "twkit-explain",
    .run = run_explain,
};

/* The scenarios, each variant's title in a column after the widest of its
 * scenario's names, wrapped there at 80 columns (never cut). */
static void list(void)
{
    struct twx_flow w;
    for (int i = 0; x_scenarios[i]; i++) {
        const struct xscen *s = x_scenarios[i];
        printf("%s\n", s->name);
        twx_flow_begin(&w, stdout, 80, 4, 4);
        twx_flow_words(&w, s->summary);
        twx_flow_end(&w);
        int wide = 0;
        for (int v = 0; v < s->n_variants; v++) {
            int n = (int)strlen(s->variants[v].name);
            wide = n > wide ? n : wide;
        }
        size_t col = 4 + strlen(s->name) + 1 + (size_t)wide + 2;
        for (int v = 0; v < s->n_variants; v++) {
            twx_flow_begin(&w, stdout, 80, 4, col);
            twx_flow_putf(&w, NULL, "%s:%-*s ", s->name, wide, s->variants[v].name);
            twx_flow_words(&w, s->variants[v].title);
            twx_flow_end(&w);
        }
    }
}

/* Which variants to run: want[i][v]. */
static int select_runs(int npos, char **pos, bool want[][8])
{
    for (int i = 0; x_scenarios[i]; i++)
        for (int v = 0; v < x_scenarios[i]->n_variants; v++)
            want[i][v] = !npos;
    for (int k = 0; k < npos; k++) {
        char name[64];
        const char *colon = strchr(pos[k], ':');
        snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - pos[k]) : 63, pos[k]);
        int i;
        for (i = 0; x_scenarios[i] && strcmp(x_scenarios[i]->name, name); i++)
            ;
        if (!x_scenarios[i])
            return twx_usage_err("explain", "unknown scenario '%s' (try 'twkit explain --list')",
                                 name);
        const struct xscen *s = x_scenarios[i];
        int v;
        for (v = 0; v < s->n_variants; v++)
            if (!colon || !strcmp(s->variants[v].name, colon + 1))
                want[i][v] = true;
        if (colon) {
            for (v = 0; v < s->n_variants && strcmp(s->variants[v].name, colon + 1); v++)
                ;
            if (v == s->n_variants)
                return twx_usage_err("explain", "scenario %s has no variant '%s' (try 'twkit "
                                     "explain --list')", s->name,
                                     colon + 1);
        }
    }
    return 0;
}

/* Does --wait apply to any run asked for (the close scenario, with TIME_WAIT)? */
static bool wait_applies(bool want[][8])
{
    for (int i = 0; x_scenarios[i]; i++)
        for (int v = 0; v < x_scenarios[i]->n_variants; v++)
            if (want[i][v] && !strcmp(x_scenarios[i]->name, "close") &&
                !strcmp(x_scenarios[i]->variants[v].name, "with-time-wait"))
                return true;
    return false;
}

static int write_out(const char *path, const char *what,
                     int (*render)(FILE *, const struct xrun *const *, int),
                     struct xrun **runs, int n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return -1;
    int rc = render(m, (const struct xrun *const *)runs, n);
    if (fclose(m) != 0)
        rc = -1;
    if (rc == 0 && (rc = twx_write_atomic(path, buf, len, 0644)) < 0) {
        twx_err("cannot write the %s file %s: %s", what, path,
                strerror(-rc));
    }
    free(buf);
    return rc;
}

static void print_json(struct xrun **runs, int n, bool v6)
{
    struct twx_json j;
    twx_json_init(&j, stdout, true);
    twx_json_obj_begin(&j, NULL);
    twx_json_str(&j, "schema", "twkit.explain.v1");
    twx_json_str(&j, "twkit_version", TW_VERSION);
    twx_json_str(&j, "kernel", n ? runs[0]->kernel : "");
    twx_json_str(&j, "family", v6 ? "ipv6" : "ipv4");
    twx_json_arr_begin(&j, "runs");
    for (int i = 0; i < n; i++)
        x_render_json_run(&j, runs[i]);
    twx_json_arr_end(&j);
    twx_json_obj_end(&j);
    twx_json_end(&j);
}

/* Can path be written (its directory exists and is writable, and it is not
 * a directory)?  Checked before the runs, so a typo does not cost them. */
static int writable(const char *path, const char *what)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    else
        snprintf(dir, sizeof(dir), ".");
    struct stat st;
    int e = 0;
    if (!stat(path, &st) && S_ISDIR(st.st_mode))
        e = EISDIR;
    else if (access(dir, W_OK | X_OK) < 0)
        e = errno;
    if (e)
        twx_err("cannot write the %s file %s: %s", what, path,
                strerror(e));
    return e ? TW_EXIT_RUNTIME : 0;
}

static int cannot_run(const char *why)
{
    twx_err("explain cannot run here: %s", why);
    return X_EXIT_CANNOT;
}

static int run_explain(int argc, char **argv)
{
    struct explain_args a;
    memset(&a, 0, sizeof(a));
    tool_common_init(&a.c);
    struct twx_parsed p;
    int rc = twx_opt_parse(&explain_command, argc, argv, &a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    if (a.list) {
        if (p.npos)
            return twx_usage_err("explain", "--list lists every scenario: it takes no "
                                 "scenario ('%s')", argv[p.first_pos]);
        list();
        return TW_EXIT_OK;
    }
    bool want[16][8];
    if ((rc = select_runs(p.npos, argv + p.first_pos, want)))
        return rc;
    if (a.wait && !wait_applies(want))
        return twx_usage_err("explain", "--wait applies to close:with-time-wait only, which "
                             "is not among the scenarios asked for");
    tool_color_init(a.c.json ? 2 : a.c.color, stdout);
    if ((a.svg && (rc = writable(a.svg, "SVG"))) || (a.pcap && (rc = writable(a.pcap, "pcapng"))))
        return rc;

    if (geteuid() != 0) {
        int e = twx_topo_enter_userns();
        if (e < 0) {
            char why[300];
            snprintf(why, sizeof(why), "it needs root (CAP_SYS_ADMIN to make network "
                     "namespaces, CAP_NET_ADMIN for the tun devices, SOCK_DESTROY and "
                     "sysctls), or unprivileged user namespaces, which are not available: %s",
                     strerror(-e));
            return cannot_run(why);
        }
    }
    char err[256];
    if (twx_topo_global_init(err, sizeof(err)) < 0) {
        twx_err("explain: %s", err);
        return TW_EXIT_RUNTIME;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);

    struct xrun **runs = calloc(64, sizeof(*runs));
    if (!runs)
        return TW_EXIT_RUNTIME;
    int n = 0, status = TW_EXIT_OK;
    bool disagree = false;
    struct xview view = {.ascii = a.ascii, .color = tool_color};
    for (int i = 0; x_scenarios[i] && status == TW_EXIT_OK; i++) {
        for (int v = 0; v < x_scenarios[i]->n_variants && status == TW_EXIT_OK; v++) {
            if (!want[i][v] || n == 64)
                continue;
            struct xrun *r = calloc(1, sizeof(*r));
            if (!r) {
                status = TW_EXIT_RUNTIME;
                break;
            }
            runs[n++] = r;
            r->sc = x_scenarios[i];
            r->v = &r->sc->variants[v];
            r->family = a.c.ipv6 ? AF_INET6 : AF_INET;
            r->wait = a.wait;
            r->sigfd = sigfd;
            int why;
            if (x_run_start(r, &why) == 0) {
                r->v->script(r);
                if (!r->counted && !r->failed)
                    x_counters_end(r);
            }
            x_run_end(r);
            x_narrate(r);
            if (r->interrupted) {
                status = 128 + r->interrupted;
                twx_err("explain: interrupted; every namespace and process was removed");
                break;
            }
            if (r->failed && why == X_ENOPRIV) {
                status = cannot_run(r->err);
                break;
            }
            for (int k = 0; k < r->n_exp; k++)
                disagree |= !r->exp[k].ok;
            if (!a.c.json) {
                if (n > 1)
                    fputc('\n', stdout);
                x_render_ladder(stdout, r, &view);
                if (fflush(stdout) != 0 || ferror(stdout)) {
                    twx_err("writing output: %s", strerror(errno ? errno : EIO));
                    status = TW_EXIT_RUNTIME;
                }
            }
            if (r->failed && status == TW_EXIT_OK) {
                twx_err("explain: %s:%s: %s", r->sc->name, r->v->name,
                        r->err);
                status = TW_EXIT_RUNTIME;
            }
        }
    }
    if (status == TW_EXIT_OK || status == TW_EXIT_RUNTIME) {
        if (a.c.json)
            print_json(runs, n, a.c.ipv6);
        if (a.svg && write_out(a.svg, "SVG", x_render_svg, runs, n) < 0)
            status = TW_EXIT_RUNTIME;
        if (a.pcap && write_out(a.pcap, "pcapng", x_render_pcapng, runs, n) < 0)
            status = TW_EXIT_RUNTIME;
    }
    for (int i = 0; i < n; i++) {
        for (int s = 0; s < runs[i]->n_seg; s++) {
            free(runs[i]->seg[s].pkt);
            free(runs[i]->seg[s].dpkt);
        }
        free(runs[i]);
    }
    free(runs);
    if (sigfd >= 0)
        close(sigfd);
    if ((fflush(stdout) != 0 || ferror(stdout)) && status == TW_EXIT_OK) {
        twx_err("writing output: %s", strerror(errno ? errno : EIO));
        status = TW_EXIT_RUNTIME;
    }
    if (status == TW_EXIT_OK && a.check && disagree)
        status = X_EXIT_DISAGREE;
    return status;
}
