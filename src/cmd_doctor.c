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

#include "json.h"
#include "opt.h"
#include "tool.h"

enum {
    O_EXIT_CODE = 256,
    O_SAMPLE,
    O_WRITE,
    O_APPLY,
    O_ROLLBACK,
    O_ROOT,
    O_SOURCE,
};

static const struct opt_spec specs[] = {
    {"json", 'j', NULL, "JSON output (schema: docs/doctor-json.md)"},
    {"exit-code", O_EXIT_CODE, NULL, "exit 0/1/2 for worst finding ok-info/warn/crit"},
    {"netns", 'N', "NS", "audit namespace NAME (ip netns), PID or nsfs path"},
    {"sample", O_SAMPLE, "S", "counter window in seconds (default 2, 0-60)"},
    {"write-sysctl", O_WRITE, "FILE", "write the justified changes as a sysctl.d file"},
    {"apply", O_APPLY, NULL, "root: set them and write " TW_DOCTOR_DROPIN},
    {"rollback", O_ROLLBACK, NULL, "root: undo the last --apply exactly"},
    {"quiet", 'q', NULL, "print nothing (with --exit-code)"},
    {"verbose", 'v', NULL, "explain info findings too, list passed checks"},
    {"root", O_ROOT, "DIR", "read/write /etc, /run, /usr, /var/lib below DIR"},
    {"source", O_SOURCE, "KIND", "socket source: netlink, proc or auto (default)"},
    {"help", 'h', NULL, "this help"},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static void help(void)
{
    printf("Usage: twkit doctor [OPTIONS]\n"
           "\n"
           "Audit the TIME_WAIT-related kernel settings against the load this host\n"
           "actually has.  doctor samples the TCP counters for a short window, looks\n"
           "at the sockets (as twkit stat does) and at the sysctl files, and prints\n"
           "findings worst first: the evidence, the correct explanation with its\n"
           "source, and the exact fix.  It changes nothing unless --apply is given.\n"
           "\n"
           "Options:\n");
    opt_help(stdout, specs, NSPECS);
    printf("\n"
           "Examples:\n"
           "  twkit doctor                        audit this host (2 s sample)\n"
           "  twkit doctor --sample 10 -v         longer window, every detail\n"
           "  twkit doctor --netns web1 --json | jq '.findings[].id'\n"
           "  twkit doctor --exit-code -q >/dev/null || alert   (monitoring)\n"
           "  twkit doctor --write-sysctl /tmp/90-twkit.conf   review first\n"
           "  sudo twkit doctor --apply           set the values, write the drop-in\n"
           "  sudo twkit doctor --rollback        restore what --apply changed\n"
           "\n"
           "Exit status: 0 ok; 1 runtime error; 2 usage error.  With --exit-code:\n"
           "0 no finding above info, 1 worst is warn, 2 worst is crit, 3 runtime\n"
           "error (usage errors still exit 2).  See twkit-doctor(1).\n");
}

struct doctor_args {
    bool json, exit_code, apply, rollback, verbose, quiet;
    const char *netns, *write, *root;
    double sample;
    enum tw_source_kind kind;
};

static int parse_sample(const char *s, double *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0 || v > 60)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct doctor_args *a)
{
    struct option longs[NSPECS + 1];
    char shorts[NSPECS * 3 + 2];
    opt_build(specs, NSPECS, longs, shorts);
    memset(a, 0, sizeof(*a));
    a->sample = TW_DOCTOR_DEFAULT_SAMPLE;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        switch (ch) {
        case 'j': a->json = true; break;
        case 'q': a->quiet = true; break;
        case 'v': a->verbose = true; break;
        case O_EXIT_CODE: a->exit_code = true; break;
        case O_APPLY: a->apply = true; break;
        case O_ROLLBACK: a->rollback = true; break;
        case 'N': a->netns = optarg; break;
        case O_WRITE:
            if (!*optarg)
                return tool_usage_err("doctor", "--write-sysctl needs a file name");
            a->write = optarg;
            break;
        case O_ROOT:
            if (optarg[0] != '/')
                return tool_usage_err("doctor", "--root: '%s' is not an absolute path", optarg);
            a->root = optarg;
            break;
        case O_SAMPLE:
            if (parse_sample(optarg, &a->sample))
                return tool_usage_err("doctor", "--sample: '%s' is not a number of seconds "
                                      "from 0 to 60", optarg);
            break;
        case O_SOURCE:
            if (!strcmp(optarg, "netlink"))
                a->kind = TW_SOURCE_NETLINK;
            else if (!strcmp(optarg, "proc"))
                a->kind = TW_SOURCE_PROC;
            else if (!strcmp(optarg, "auto"))
                a->kind = TW_SOURCE_AUTO;
            else
                return tool_usage_err("doctor", "--source: '%s' is not netlink, proc or auto",
                                      optarg);
            break;
        case 'h':
            help();
            exit(TW_EXIT_OK);
        case '?':
        default:
            if (optopt && optopt < 256 && strchr(shorts, optopt))
                return tool_usage_err("doctor", "option -%c needs a value", optopt);
            if (optopt)
                return tool_usage_err("doctor", "unknown option -%c", optopt);
            return tool_usage_err("doctor", "unknown option or missing value: '%s'",
                                  argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tool_usage_err("doctor", "unexpected argument '%s'", argv[optind]);
    if (a->rollback && (a->apply || a->write || a->json || a->exit_code))
        return tool_usage_err("doctor", "--rollback goes alone (with --netns/--root)");
    if (a->quiet && !a->exit_code)
        return tool_usage_err("doctor", "--quiet only makes sense with --exit-code");
    return 0;
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

static void json_evidence(struct json *j, const struct tw_evidence *e)
{
    if (!e->numeric) {
        json_str(j, e->key, e->value);
        return;
    }
    char *end;
    if (strchr(e->value, '.')) {
        double v = strtod(e->value, &end);
        if (*end)
            json_str(j, e->key, e->value);
        else
            json_f64(j, e->key, v, 1);
        return;
    }
    errno = 0;
    long long v = strtoll(e->value, &end, 10);
    if (errno || *end)
        json_str(j, e->key, e->value);
    else
        json_i64(j, e->key, v);
}

static int exit_for(enum tw_severity w)
{
    return w == TW_SEV_CRIT ? 2 : w == TW_SEV_WARN ? 1 : 0;
}

static void render_json(const struct doctor_args *a, const struct tw_doctor_sample *s,
                        const struct tw_doctor_result *r, bool applied)
{
    struct json j;
    const struct tw_kernel *k = &s->k;
    json_init(&j, stdout, true);
    json_obj_begin(&j, NULL);
    json_str(&j, "schema", "twkit.doctor.v1");
    json_str(&j, "twkit_version", TW_VERSION);
    json_i64(&j, "time", (int64_t)time(NULL));
    json_str(&j, "namespace", s->label[0] ? s->label : "current");
    json_f64(&j, "sample_seconds", s->seconds, 3);
    json_str(&j, "worst", tw_severity_name(r->worst));
    json_i64(&j, "exit_code", exit_for(r->worst));

    json_obj_begin(&j, "kernel");
    json_str(&j, "release", k->release);
    json_i64(&j, "ip_local_port_range_lo", k->port_lo);
    json_i64(&j, "ip_local_port_range_hi", k->port_hi);
    json_i64(&j, "reserved_in_range", k->n_reserved);
    json_i64(&j, "tcp_tw_reuse", k->tw_reuse);
    json_i64(&j, "tcp_tw_reuse_delay", k->tw_reuse_delay_ms);
    json_i64(&j, "tcp_timestamps", k->timestamps);
    json_i64(&j, "tcp_max_tw_buckets", k->max_tw_buckets);
    json_i64(&j, "tcp_fin_timeout", k->fin_timeout);
    json_i64(&j, "tcp_rfc1337", k->rfc1337);
    json_i64(&j, "sockstat_tw", s->tw1);
    json_obj_end(&j);

    json_obj_begin(&j, "rates");
    json_f64(&j, "active_opens_per_s", tw_doctor_connect_rate(s), 1);
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
    json_obj_begin(&j, "deltas");
    for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++)
        json_u64(&j, deltas[i].key, tw_doctor_delta(s, deltas[i].id));
    json_obj_end(&j);
    json_obj_end(&j);

    json_arr_begin(&j, "findings");
    for (size_t i = 0; i < r->n; i++) {
        const struct tw_finding *f = &r->f[i];
        json_obj_begin(&j, NULL);
        json_str(&j, "id", f->id);
        json_str(&j, "severity", tw_severity_name(f->severity));
        json_str(&j, "summary", f->summary);
        json_obj_begin(&j, "evidence");
        for (size_t e = 0; e < f->n_evidence; e++)
            json_evidence(&j, &f->evidence[e]);
        json_obj_end(&j);
        json_str(&j, "explanation", f->explain);
        json_str(&j, "source", f->source);
        json_str(&j, "fix", f->fix);
        if (f->has_change) {
            json_obj_begin(&j, "sysctl");
            json_str(&j, "key", f->change.key);
            json_str(&j, "value", f->change.value);
            json_str(&j, "current", f->change.current);
            json_obj_end(&j);
        } else {
            json_null(&j, "sysctl");
        }
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_arr_begin(&j, "passed");
    for (size_t i = 0; i < r->n_passed; i++)
        json_str(&j, NULL, r->passed[i]);
    json_arr_end(&j);
    json_arr_begin(&j, "sysctl_changes");
    for (size_t i = 0; i < r->n_changes; i++) {
        json_obj_begin(&j, NULL);
        json_str(&j, "key", r->changes[i].key);
        json_str(&j, "value", r->changes[i].value);
        json_str(&j, "current", r->changes[i].current);
        json_str(&j, "finding", r->changes[i].finding);
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_bool(&j, "applied", applied);
    json_obj_end(&j);
    json_end(&j);
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

int cmd_doctor(int argc, char **argv)
{
    struct doctor_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    const int runtime = a.exit_code ? 3 : TW_EXIT_RUNTIME;
    char label[96] = "", err[512] = "";
    tool_color_init(a.json || a.quiet ? "never" : "auto", stdout);

    if (a.netns && enter_netns(a.netns, label, sizeof(label)))
        return runtime;
    if (!a.netns) /* "host" or "current", as twkit stat says */
        tool_netns_label(label, sizeof(label), NULL);
    struct tw_doctor_apply_opts ao = {.root = a.root, .label = label};
    if (a.rollback) {
        int e = tw_doctor_rollback(&ao, err, sizeof(err));
        if (e) {
            tool_err("rollback: %s", err[0] ? err : tw_strerror(e));
            return runtime;
        }
        printf("twkit doctor: rolled back: previous values restored, %s%s restored or "
               "removed\n",
               a.root ? a.root : "", TW_DOCTOR_DROPIN);
        return TW_EXIT_OK;
    }

    struct tw_doctor_opts o = {.sample_s = a.sample, .root = a.root, .source = a.kind};
    struct tw_doctor_sample *s = NULL;
    struct tw_doctor_result *r = NULL;
    int e = tw_doctor_measure(&o, &s, err, sizeof(err));
    if (e) {
        if (e == -EACCES || e == -EPERM)
            tool_err("%s (needs more privileges)", err[0] ? err : tw_strerror(e));
        else
            tool_err("%s", err[0] ? err : tw_strerror(e));
        return runtime;
    }
    snprintf(s->label, sizeof(s->label), "%s", label);
    if ((e = tw_doctor_run(s, &r))) {
        tool_err("running the rules: %s", tw_strerror(e));
        tw_doctor_sample_free(s);
        return runtime;
    }
    for (size_t i = 0; i < s->conf.n_problems; i++)
        if (!s->conf.p[i].line)
            tool_warn("%s: %s", s->conf.p[i].file, s->conf.p[i].msg);

    rc = TW_EXIT_OK;
    if (a.write) {
        char *text = tw_doctor_dropin_text(r, label);
        if (!text) {
            rc = runtime;
        } else if (!strcmp(a.write, "-")) {
            fputs(text, stdout);
        } else if ((e = tw_doctor_write_atomic(a.write, text, strlen(text), 0644))) {
            tool_err("--write-sysctl %s: %s", a.write, tw_strerror(e));
            rc = runtime;
        } else if (!a.quiet && !a.json) {
            fprintf(stderr, "twkit doctor: wrote %s (%zu change%s)\n", a.write, r->n_changes,
                    r->n_changes == 1 ? "" : "s");
        }
        free(text);
    }
    bool applied = false;
    if (!rc && a.apply) {
        if (!r->n_changes) {
            if (!a.quiet && !a.json)
                fprintf(stderr, "twkit doctor: --apply: no change is justified; nothing "
                                "written\n");
        } else if ((e = tw_doctor_apply(&ao, r, err, sizeof(err)))) {
            tool_err("--apply: %s", err[0] ? err : tw_strerror(e));
            rc = runtime;
        } else {
            applied = true;
            if (!a.quiet && !a.json)
                fprintf(stderr, "twkit doctor: applied %zu setting%s, wrote %s%s; undo with "
                                "`twkit doctor --rollback`\n",
                        r->n_changes, r->n_changes == 1 ? "" : "s", a.root ? a.root : "",
                        TW_DOCTOR_DROPIN);
        }
    }
    if (!a.quiet && !(a.write && !strcmp(a.write, "-"))) {
        if (a.json)
            render_json(&a, s, r, applied);
        else
            render_text(&a, s, r);
    }
    if (!rc && a.exit_code)
        rc = exit_for(r->worst);
    tw_doctor_result_free(r);
    tw_doctor_sample_free(s);
    if (fflush(stdout) != 0) {
        tool_err("writing output: %s", strerror(errno));
        return runtime;
    }
    return rc;
}
