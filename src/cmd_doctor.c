/*
 * cmd_doctor.c — `twkit doctor`: audit the TIME_WAIT-related kernel
 * settings of a namespace against the load it actually carries.
 *
 * The judging is in libtwkit (twkit/doctor.h): this file parses options,
 * enters the namespace, runs the measurement and the rules, renders the
 * findings (80-column text or JSON), and on request writes the justified
 * changes as a sysctl.d drop-in, applies them, or rolls an apply back.
 * Without --apply nothing on the host changes.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <twkit/doctor.h>
#include <twkit/error.h>
#include <twkit/netns.h>

#include "twx/json.h"
#include "tool.h"

struct doctor_args {
    struct tool_common c;
    bool exit_code, apply, rollback, verbose, quiet;
    const char *write, *root;
    double sample;
};

enum {
    X_RB_APPLY = TOOL_X_CMD,
    X_RB_WRITE = TOOL_X_CMD << 1,
    X_RB_JSON = TOOL_X_CMD << 2,
    X_RB_EXIT = TOOL_X_CMD << 3,
};

static int opt_root(void *field, const char *v, char *err, size_t len)
{
    if (v[0] != '/') {
        snprintf(err, len, "'%s' is not an absolute path", v);
        return -1;
    }
    *(const char **)field = v;
    return 0;
}

static const struct twx_opt doctor_opts[] = {
    {.lng = "json", .shrt = 'j', .type = TWX_FLAG, .off = offsetof(struct doctor_args, c.json),
     .help = "JSON output (schema: docs/doctor-json.md)",
     .doc = "JSON output; schema *twkit.doctor.v1*, documented in docs/doctor-json.md.",
     .excl = TOOL_X_OUTPUT | X_RB_JSON},
    {.lng = "exit-code", .type = TWX_FLAG, .off = offsetof(struct doctor_args, exit_code),
     .help = "exit 0/1/2 for worst finding ok-info/warn/crit",
     .doc = "Exit by the worst finding: 0 for none above *info*, 1 for *warn*, 2 for "
            "*crit*; 3 for a runtime error (usage errors stay 2). For scripts and "
            "monitoring.",
     .excl = X_RB_EXIT},
    TOOL_OPT_NETNS(struct doctor_args,
                   "Audit the namespace _NS_: a name as *ip netns* knows it, the PID of a "
                   "process inside it, or a path to an nsfs file. Sysctl files are read "
                   "from the host's file system either way."),
    {.lng = "sample", .type = TWX_NUM, .off = offsetof(struct doctor_args, sample),
     .arg = "S", .help = "counter window in seconds",
     .doc = "The counter window in seconds (fractions allowed). 0 measures no rates: "
            "the rules that need one stay silent.",
     .dflt = "2", .example = "0.5", .min = 0, .max = 60},
    {.lng = "write-sysctl", .type = TWX_STR, .off = offsetof(struct doctor_args, write),
     .arg = "FILE", .help = "write the justified changes as a sysctl.d file ('-': stdout)",
     .doc = "Write the changes the findings justify as a commented sysctl.d drop-in to "
            "_FILE_ (atomically; *-* for standard output). Each setting names its finding "
            "and the previous value. A dry run: nothing is applied.",
     .example = "/tmp/90-twkit.conf", .excl = X_RB_WRITE},
    {.lng = "apply", .type = TWX_FLAG, .off = offsetof(struct doctor_args, apply),
     .help = "root: set them and write " TW_DOCTOR_DROPIN,
     .doc = "As root: record the previous values and the previous "
            "*/etc/sysctl.d/90-twkit.conf* in */var/lib/twkit/doctor-rollback*, set the "
            "values through /proc/sys, then write */etc/sysctl.d/90-twkit.conf* "
            "atomically. If the kernel rejects a value, the values already set are "
            "restored and nothing is written. Refused while an earlier apply has not been "
            "rolled back. When no change is justified, nothing is written."TW_DOCTOR_DROPIN " so that "
            "they hold after a reboot, keeping what is needed for *--rollback*. Needs root.",
     .excl = X_RB_APPLY},
    {.lng = "rollback", .type = TWX_FLAG, .off = offsetof(struct doctor_args, rollback),
     .help = "root: undo the last --apply exactly",
     .doc = "As root: restore every value recorded by the last *--apply* and the "
            "previous drop-in byte for byte (or remove it if there was none), then delete "
            "the state. Refused in another network namespace than the one the apply "
            "changed.",
     .excl = X_RB_APPLY | X_RB_WRITE | X_RB_JSON | X_RB_EXIT},
    {.lng = "quiet", .shrt = 'q', .type = TWX_FLAG, .off = offsetof(struct doctor_args, quiet),
     .help = "print nothing (with --exit-code)",
     .doc = "Print nothing (only with *--exit-code*)."},
    {.lng = "verbose", .shrt = 'v', .type = TWX_FLAG,
     .off = offsetof(struct doctor_args, verbose),
     .help = "explain info findings too, list passed checks",
     .doc = "Print *info* findings in full and list the checks that passed."},
    {.lng = "root", .type = TWX_FN, .off = offsetof(struct doctor_args, root), .arg = "DIR",
     .help = "read/write /etc, /run, /usr, /var/lib below DIR",
     .doc = "Read the sysctl files from, and write the drop-in and the rollback state "
            "below, _DIR_ instead of /. /proc is still the live one. For tests and for "
            "auditing a container's root file system. An absolute path.",
     .example = "/", .fn = opt_root},
    TOOL_OPT_SOURCE(struct doctor_args),
    TOOL_OPT_HELP,
};

static const struct twx_exit doctor_exits[] = {
    TOOL_EXITS_COMMON,
    {1, "with --exit-code: the worst finding is warn"},
    {2, "with --exit-code: the worst finding is crit"},
    {3, "with --exit-code: runtime error"},
};

static int run_doctor(int argc, char **argv);

const struct twx_cmd doctor_command = {
    .name = "doctor",
    .synopsis = "[OPTIONS]",
    .summary = "audit TIME_WAIT-related kernel settings against the load",
    .about = "Audit the TIME_WAIT-related kernel settings against the load this host\n"
             "actually has.  doctor samples the TCP counters for a short window, looks\n"
             "at the sockets (as twkit stat does) and at the sysctl files, and prints\n"
             "findings worst first: the evidence, the correct explanation with its\n"
             "source, and the exact fix.  It changes nothing unless --apply is given.\n",
    .opts = doctor_opts,
    .n_opts = sizeof(doctor_opts) / sizeof(doctor_opts[0]),
    .args_size = sizeof(struct doctor_args),
    .examples = "  twkit doctor                        audit this host (2 s sample)\n"
                "  twkit doctor --sample 10 -v         longer window, every detail\n"
                "  twkit doctor --netns web1 --json | jq '.findings[].id'\n"
                "  twkit doctor --exit-code -q >/dev/null || alert   (monitoring)\n"
                "  twkit doctor --write-sysctl /tmp/90-twkit.conf   review first\n"
                "  sudo twkit doctor --apply           set the values, write the drop-in\n"
                "  sudo twkit doctor --rollback        restore what --apply changed\n",
    .exits = doctor_exits,
    .n_exits = sizeof(doctor_exits) / sizeof(doctor_exits[0]),
    .man = "twkit-doctor",
    .run = run_doctor,
};

static int parse_args(int argc, char **argv, struct doctor_args *a)
{
    memset(a, 0, sizeof(*a));
    tool_common_init(&a->c);
    a->sample = TW_DOCTOR_DEFAULT_SAMPLE;
    struct twx_parsed p;
    int rc = twx_opt_parse(&doctor_command, argc, argv, a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    if (a->quiet && !a->exit_code)
        return twx_usage_err("doctor", "--quiet only makes sense with --exit-code");
    return TWX_OPT_CONTINUE;
}

/* ---- text output ------------------------------------------------------------ */

#define WIDTH 80

/* Print text wrapped at WIDTH; first line after a label of width ind, then indented. */
static void wrap(FILE *f, const char *label, int ind, const char *text)
{
    int col = fprintf(f, "%*s%-*s", 2, "", ind - 2, label);
    const char *p = text;
    bool first = true;
    while (*p) {
        if (*p == '\n') {
            fprintf(f, "\n%*s", ind, "");
            col = ind;
            first = true;
            p++;
            continue;
        }
        size_t w = strcspn(p, " \n");
        if (!first && col + 1 + (int)w > WIDTH) {
            fprintf(f, "\n%*s", ind, "");
            col = ind;
            first = true;
        }
        if (!first) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)w, p);
        col += (int)w;
        first = false;
        p += w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

static void print_finding(FILE *f, const struct tw_finding *x, bool full)
{
    char sev[8];
    const char *name = tw_severity_name(x->severity);
    for (size_t i = 0; i <= strlen(name); i++)
        sev[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    const char *on = "", *off = "";
    if (tool_color) {
        on = x->severity == TW_SEV_CRIT ? "\033[1;31m" : x->severity == TW_SEV_WARN ? "\033[1;33m"
                                                                                   : "\033[1m";
        off = "\033[0m";
    }
    fprintf(f, "%s%-5s%s %s\n", on, sev, off, x->id);
    wrap(f, "", 6, x->summary);
    if (!full)
        return;
    /* evidence: key=value pairs, wrapped between pairs only */
    int col = fprintf(f, "  %-10s", "evidence");
    for (size_t i = 0; i < x->n_evidence; i++) {
        int w = (int)(strlen(x->evidence[i].key) + 1 + strlen(x->evidence[i].value));
        if (i && col + 2 + w > WIDTH) {
            fprintf(f, "\n%12s", "");
            col = 12;
        } else if (i) {
            fputs("  ", f);
            col += 2;
        }
        fprintf(f, "%s=%s", x->evidence[i].key, x->evidence[i].value);
        col += w;
    }
    fputc('\n', f);
    wrap(f, "why", 12, x->explain);
    wrap(f, "source", 12, x->source);
    wrap(f, "fix", 12, x->fix);
}

static void render_text(const struct doctor_args *a, const struct tw_doctor_sample *s,
                        const struct tw_doctor_result *r)
{
    size_t n_rules = 0, counts[4] = {0};
    tw_doctor_rules(&n_rules);
    for (size_t i = 0; i < r->n; i++)
        counts[r->f[i].severity]++;
    printf("twkit doctor: %s, %zu checks, sampled %.1f s, %.1f connects/s\n",
           s->label[0] ? s->label : "current namespace", n_rules, s->seconds,
           tw_doctor_connect_rate(s));
    if (r->worst <= TW_SEV_INFO)
        printf("All clear: no warning.%s\n",
               counts[TW_SEV_INFO] ? " Notes:" : " TIME_WAIT settings fit this load.");
    else
        printf("%zu critical, %zu warning(s), %zu note(s).\n", counts[TW_SEV_CRIT],
               counts[TW_SEV_WARN], counts[TW_SEV_INFO]);
    for (size_t i = 0; i < r->n; i++) {
        bool full = r->f[i].severity >= TW_SEV_WARN || a->verbose;
        putchar('\n');
        print_finding(stdout, &r->f[i], full);
    }
    if (a->verbose && r->n_passed) {
        printf("\nPassed:");
        int col = 7;
        for (size_t i = 0; i < r->n_passed; i++) {
            int w = (int)strlen(r->passed[i]) + 1;
            if (col + w > WIDTH) {
                printf("\n       ");
                col = 7;
            }
            printf(" %s", r->passed[i]);
            col += w;
        }
        putchar('\n');
    }
    if (r->n_changes && !a->apply) {
        printf("\nJustified sysctl changes (dry run; --write-sysctl FILE or --apply):\n");
        for (size_t i = 0; i < r->n_changes; i++) {
            const struct tw_sysctl_change *c = &r->changes[i];
            int w = printf("  %s = %s", c->key, c->value);
            if (w + (int)strlen(c->current) + (int)strlen(c->finding) + 10 > WIDTH)
                printf("\n   ");
            printf("   (now %s; %s)\n", c->current, c->finding);
        }
    }
}

/* ---- JSON output ------------------------------------------------------------- */

static void json_evidence(struct twx_json *j, const struct tw_evidence *e)
{
    if (!e->numeric) {
        twx_json_str(j, e->key, e->value);
        return;
    }
    char *end;
    if (strchr(e->value, '.')) {
        double v = strtod(e->value, &end);
        if (*end)
            twx_json_str(j, e->key, e->value);
        else
            twx_json_f64(j, e->key, v, 1);
        return;
    }
    errno = 0;
    long long v = strtoll(e->value, &end, 10);
    if (errno || *end)
        twx_json_str(j, e->key, e->value);
    else
        twx_json_i64(j, e->key, v);
}

static int exit_for(enum tw_severity w)
{
    return w == TW_SEV_CRIT ? 2 : w == TW_SEV_WARN ? 1 : 0;
}

static void render_json(const struct doctor_args *a, const struct tw_doctor_sample *s,
                        const struct tw_doctor_result *r, bool applied)
{
    struct twx_json j;
    const struct tw_kernel *k = &s->k;
    twx_json_init(&j, stdout, true);
    twx_json_obj_begin(&j, NULL);
    twx_json_str(&j, "schema", "twkit.doctor.v1");
    twx_json_str(&j, "twkit_version", TW_VERSION);
    twx_json_i64(&j, "time", (int64_t)time(NULL));
    twx_json_str(&j, "namespace", s->label[0] ? s->label : "current");
    twx_json_f64(&j, "sample_seconds", s->seconds, 3);
    twx_json_str(&j, "worst", tw_severity_name(r->worst));
    twx_json_i64(&j, "exit_code", exit_for(r->worst));

    twx_json_obj_begin(&j, "kernel");
    twx_json_str(&j, "release", k->release);
    twx_json_i64(&j, "ip_local_port_range_lo", k->port_lo);
    twx_json_i64(&j, "ip_local_port_range_hi", k->port_hi);
    twx_json_i64(&j, "reserved_in_range", k->n_reserved);
    twx_json_i64(&j, "tcp_tw_reuse", k->tw_reuse);
    twx_json_i64(&j, "tcp_tw_reuse_delay", k->tw_reuse_delay_ms);
    twx_json_i64(&j, "tcp_timestamps", k->timestamps);
    twx_json_i64(&j, "tcp_max_tw_buckets", k->max_tw_buckets);
    twx_json_i64(&j, "tcp_fin_timeout", k->fin_timeout);
    twx_json_i64(&j, "tcp_rfc1337", k->rfc1337);
    twx_json_i64(&j, "sockstat_tw", s->tw1);
    twx_json_obj_end(&j);

    twx_json_obj_begin(&j, "rates");
    twx_json_f64(&j, "active_opens_per_s", tw_doctor_connect_rate(s), 1);
    static const struct {
        const char *key;
        enum tw_counter_id id;
    } deltas[] = {
        {"active_opens", TW_C_ACTIVE_OPENS},     {"passive_opens", TW_C_PASSIVE_OPENS},
        {"attempt_fails", TW_C_ATTEMPT_FAILS},   {"estab_resets", TW_C_ESTAB_RESETS},
        {"out_rsts", TW_C_OUT_RSTS},             {"tw", TW_C_TW},
        {"tw_recycled", TW_C_TW_RECYCLED},       {"tw_overflow", TW_C_TW_OVERFLOW},
        {"abort_on_data", TW_C_ABORT_ON_DATA},
    };
    twx_json_obj_begin(&j, "deltas");
    for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++)
        twx_json_u64(&j, deltas[i].key, tw_doctor_delta(s, deltas[i].id));
    twx_json_obj_end(&j);
    twx_json_obj_end(&j);

    twx_json_arr_begin(&j, "findings");
    for (size_t i = 0; i < r->n; i++) {
        const struct tw_finding *f = &r->f[i];
        twx_json_obj_begin(&j, NULL);
        twx_json_str(&j, "id", f->id);
        twx_json_str(&j, "severity", tw_severity_name(f->severity));
        twx_json_str(&j, "summary", f->summary);
        twx_json_obj_begin(&j, "evidence");
        for (size_t e = 0; e < f->n_evidence; e++)
            json_evidence(&j, &f->evidence[e]);
        twx_json_obj_end(&j);
        twx_json_str(&j, "explanation", f->explain);
        twx_json_str(&j, "source", f->source);
        twx_json_str(&j, "fix", f->fix);
        if (f->has_change) {
            twx_json_obj_begin(&j, "sysctl");
            twx_json_str(&j, "key", f->change.key);
            twx_json_str(&j, "value", f->change.value);
            twx_json_str(&j, "current", f->change.current);
            twx_json_obj_end(&j);
        } else {
            twx_json_null(&j, "sysctl");
        }
        twx_json_obj_end(&j);
    }
    twx_json_arr_end(&j);
    twx_json_arr_begin(&j, "passed");
    for (size_t i = 0; i < r->n_passed; i++)
        twx_json_str(&j, NULL, r->passed[i]);
    twx_json_arr_end(&j);
    twx_json_arr_begin(&j, "sysctl_changes");
    for (size_t i = 0; i < r->n_changes; i++) {
        twx_json_obj_begin(&j, NULL);
        twx_json_str(&j, "key", r->changes[i].key);
        twx_json_str(&j, "value", r->changes[i].value);
        twx_json_str(&j, "current", r->changes[i].current);
        twx_json_str(&j, "finding", r->changes[i].finding);
        twx_json_obj_end(&j);
    }
    twx_json_arr_end(&j);
    twx_json_bool(&j, "applied", applied);
    twx_json_obj_end(&j);
    twx_json_end(&j);
    (void)a;
}

/* ---- the command --------------------------------------------------------------- */

static int enter_netns(const char *spec, char *label, size_t len)
{
    struct tw_netns ns;
    int e = tw_netns_open(spec, &ns);
    if (e) {
        tool_netns_err(spec, e, false);
        return -1;
    }
    e = tw_netns_enter(&ns);
    if (e) {
        tool_netns_err(spec, e, true);
        tw_netns_release(&ns);
        return -1;
    }
    if (snprintf(label, len, "netns %s", ns.label) >= (int)len)
        label[len - 1] = '\0';
    tw_netns_release(&ns);
    return 0;
}

static int run_doctor(int argc, char **argv)
{
    struct doctor_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    const int runtime = a.exit_code ? 3 : TW_EXIT_RUNTIME;
    char label[96] = "", err[512] = "";
    tool_color_init(a.c.json || a.quiet ? 2 : 0, stdout);

    if (a.c.netns && enter_netns(a.c.netns, label, sizeof(label)))
        return runtime;
    if (!a.c.netns) /* "host" or "current", as twkit stat says */
        tool_netns_label(label, sizeof(label), NULL);
    struct tw_doctor_apply_opts ao = {.root = a.root, .label = label};
    if (a.rollback) {
        int e = tw_doctor_rollback(&ao, err, sizeof(err));
        if (e) {
            twx_err("rollback: %s", err[0] ? err : tw_strerror(e));
            return runtime;
        }
        printf("twkit doctor: rolled back: previous values restored, %s%s restored or "
               "removed\n",
               a.root ? a.root : "", TW_DOCTOR_DROPIN);
        return TW_EXIT_OK;
    }

    struct tw_doctor_opts o = {.sample_s = a.sample, .root = a.root, .source = tool_source_kind(a.c.source)};
    struct tw_doctor_sample *s = NULL;
    struct tw_doctor_result *r = NULL;
    int e = tw_doctor_measure(&o, &s, err, sizeof(err));
    if (e) {
        if (e == -EACCES || e == -EPERM)
            twx_err("%s (needs more privileges)", err[0] ? err : tw_strerror(e));
        else
            twx_err("%s", err[0] ? err : tw_strerror(e));
        return runtime;
    }
    snprintf(s->label, sizeof(s->label), "%s", label);
    if ((e = tw_doctor_run(s, &r))) {
        twx_err("running the rules: %s", tw_strerror(e));
        tw_doctor_sample_free(s);
        return runtime;
    }
    for (size_t i = 0; i < s->conf.n_problems; i++)
        if (!s->conf.p[i].line)
            twx_warn("%s: %s", s->conf.p[i].file, s->conf.p[i].msg);

    rc = TW_EXIT_OK;
    if (a.write) {
        char *text = tw_doctor_dropin_text(r, label);
        if (!text) {
            rc = runtime;
        } else if (!strcmp(a.write, "-")) {
            fputs(text, stdout);
        } else if ((e = tw_doctor_write_atomic(a.write, text, strlen(text), 0644))) {
            twx_err("--write-sysctl %s: %s", a.write, tw_strerror(e));
            rc = runtime;
        } else if (!a.quiet && !a.c.json) {
            fprintf(stderr, "twkit doctor: wrote %s (%zu change%s)\n", a.write, r->n_changes,
                    r->n_changes == 1 ? "" : "s");
        }
        free(text);
    }
    bool applied = false;
    if (!rc && a.apply) {
        if (!r->n_changes) {
            if (!a.quiet && !a.c.json)
                fprintf(stderr, "twkit doctor: --apply: no change is justified; nothing "
                                "written\n");
        } else if ((e = tw_doctor_apply(&ao, r, err, sizeof(err)))) {
            twx_err("--apply: %s", err[0] ? err : tw_strerror(e));
            rc = runtime;
        } else {
            applied = true;
            if (!a.quiet && !a.c.json)
                fprintf(stderr, "twkit doctor: applied %zu setting%s, wrote %s%s; undo with "
                                "`twkit doctor --rollback`\n",
                        r->n_changes, r->n_changes == 1 ? "" : "s", a.root ? a.root : "",
                        TW_DOCTOR_DROPIN);
        }
    }
    if (!a.quiet && !(a.write && !strcmp(a.write, "-"))) {
        if (a.c.json)
            render_json(&a, s, r, applied);
        else
            render_text(&a, s, r);
    }
    if (!rc && a.exit_code)
        rc = exit_for(r->worst);
    tw_doctor_result_free(r);
    tw_doctor_sample_free(s);
    if (fflush(stdout) != 0) {
        twx_err("writing output: %s", strerror(errno));
        return runtime;
    }
    return rc;
}
