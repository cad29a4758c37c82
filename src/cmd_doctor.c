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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <twkit/doctor.h>
#include <twkit/error.h>
#include <twkit/netns.h>

#include "doctor.h"
#include "tool.h"
#include "twx/json.h"

struct doctor_args {
    struct tool_common c;
    bool exit_code, apply, rollback, verbose, quiet, list_rules;
    const char *write, *root;
    double sample;
};

enum {
    X_RB_APPLY = TOOL_X_CMD,
    X_RB_WRITE = TOOL_X_CMD << 1,
    X_RB_JSON = TOOL_X_CMD << 2,
    X_RB_EXIT = TOOL_X_CMD << 3,
    X_SAMPLE = TOOL_X_CMD << 4,
};

static int opt_root(void *field, const char *v, char *err, size_t len)
{
    struct stat st;
    if (v[0] != '/') {
        snprintf(err, len, "'%s' is not an absolute path", v);
        return -1;
    }
    if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, len, "'%s' is not a directory", v);
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
                   "from the host's file system either way (or below *--root*). With "
                   "*--apply*, the values are set in _NS_ only."),
    {.lng = "sample", .type = TWX_NUM, .off = offsetof(struct doctor_args, sample),
     .arg = "S", .help = "counter window in seconds",
     .doc = "The counter window in seconds (fractions allowed). 0 measures no rates: "
            "the rules that need one stay silent.",
     .dflt = "2", .example = "0.5", .min = 0, .max = 60, .excl = X_SAMPLE},
    {.lng = "write-sysctl", .type = TWX_STR, .off = offsetof(struct doctor_args, write),
     .arg = "FILE", .help = "write the justified changes as a sysctl.d file ('-': stdout)",
     .doc = "Write the changes that *warn* and *crit* findings justify as a commented "
            "sysctl.d drop-in to _FILE_ (atomically; *-* for standard output). Each setting "
            "names its finding and the previous value. A dry run: nothing is applied. For "
            "another namespace than the host's (*--netns*, *--fixture*) the file says it is "
            "for that namespace only, and a _FILE_ the host reads at boot is refused: a "
            "file ending in .conf directly in /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d "
            "or /usr/lib/sysctl.d (systemd-sysctl and procps *sysctl --system*), in "
            "/lib/sysctl.d, or /etc/sysctl.conf (*sysctl --system*). A _FILE_ in those "
            "directories that is not read at boot (no .conf suffix, or in a subdirectory) "
            "is written with a warning that says so.",
     .example = "/tmp/90-twkit.conf", .excl = X_RB_WRITE},
    {.lng = "apply", .type = TWX_FLAG, .off = offsetof(struct doctor_args, apply),
     .help = "root: set the justified changes (see the man page)",
     .doc = "As root: set the changes that *warn* and *crit* findings justify (never an "
            "*info* one), having recorded the previous values first, then measure again "
            "and print the findings that are left. In the host's network namespace (that "
            "of PID 1) the values are set live and written to "
            "*/etc/sysctl.d/90-twkit.conf* (atomically) so that they hold after a reboot; "
            "the previous values and drop-in are kept in */var/lib/twkit/doctor-rollback*. "
            "In any other namespace (*--netns*, or run inside one) they are set live in "
            "that namespace only and nothing the host loads at boot is written; the "
            "previous values are kept in */run/twkit/doctor-rollback.netns-*_ID_. If the "
            "kernel rejects a value, the values already set are restored and nothing is "
            "written. Refused while an earlier apply in the same namespace has not been "
            "rolled back. The output ends with the exact *--rollback* command.",
     .excl = X_RB_APPLY},
    {.lng = "rollback", .type = TWX_FLAG, .off = offsetof(struct doctor_args, rollback),
     .help = "root: undo the last --apply exactly",
     .doc = "As root: restore every value recorded by the last *--apply* in this "
            "namespace (give the same *--netns* and *--root*), and in the host's namespace "
            "the previous drop-in byte for byte (or remove it if there was none), then "
            "delete the state. Refused in another network namespace than the one the apply "
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
            "auditing a container's root file system. An absolute path to an existing "
            "directory; a warning says when no sysctl file is found below it.",
     .example = "/", .fn = opt_root},
    TOOL_OPT_SOURCE(struct doctor_args),
    TOOL_OPT_COLOR(struct doctor_args),
    {.lng = "fixture", .type = TWX_STR, .off = offsetof(struct doctor_args, c.fixture),
     .arg = "DIR", .help = "judge a recording in DIR instead of the live kernel",
     .doc = "Judge a recording instead of the live namespace: the socket dump and "
            "kernel files of *twkit stat --record* in _DIR_, the counters at the start "
            "of the window in _DIR_/window/ (*net/snmp*, *net/netstat*, *net/sockstat* "
            "and a file *seconds*; without it there are no rates), and the sysctl files "
            "below _DIR_/root/ (or *--root*). Nothing is slept and no TIME_WAIT is "
            "followed. For reviewing another host's state, and for tests.",
     .example = "tests/fixtures/doctor/golden/ipv6-long",
     .excl = TOOL_X_FIXTURE_NETNS | TOOL_X_FIXTURE_SOURCE | X_RB_APPLY | X_SAMPLE},
    {.lng = "list-rules", .type = TWX_FLAG, .off = offsetof(struct doctor_args, list_rules),
     .help = "list the rules (id and what each checks) and exit",
     .doc = "Print every rule of the engine, one per line: its id and what it checks "
            "(with *--json*, an array of objects with *id* and *title*). Measures nothing.",
     .excl = X_RB_APPLY | X_RB_WRITE | X_RB_EXIT},
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
                "  sudo twkit doctor --netns web1 --apply   live in web1 only\n"
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

/* --list-rules: the engine's own table, so that docs and tests derive from it. */
static int list_rules(bool json)
{
    size_t n = 0;
    const struct tw_doctor_rule *t = tw_doctor_rules(&n);
    if (json) {
        struct twx_json j;
        twx_json_init(&j, stdout, true);
        twx_json_arr_begin(&j, NULL);
        for (size_t i = 0; i < n; i++) {
            twx_json_obj_begin(&j, NULL);
            twx_json_str(&j, "id", t[i].id);
            twx_json_str(&j, "title", t[i].title);
            twx_json_obj_end(&j);
        }
        twx_json_arr_end(&j);
        twx_json_end(&j);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%-24s %s\n", t[i].id, t[i].title);
    }
    return fflush(stdout) ? TW_EXIT_RUNTIME : TW_EXIT_OK;
}

/* s for a shell: as is when plain, else in single quotes. */
static void shell_word(FILE *f, const char *s)
{
    if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:@%+=,-") ==
                  strlen(s)) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* The rollback command for what this run applies: the same --netns and --root. */
static char *undo_command(const struct doctor_args *a)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    fputs("twkit doctor", f);
    if (a->c.netns) {
        fputs(" --netns ", f);
        shell_word(f, a->c.netns);
    }
    if (a->root) {
        fputs(" --root ", f);
        shell_word(f, a->root);
    }
    fputs(" --rollback", f);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Measure and judge, with the errors said once. */
static int measure_and_judge(const struct doctor_args *a, const char *label,
                             struct tw_doctor_sample **s, struct tw_doctor_result **r)
{
    char err[512] = "";
    struct tw_doctor_opts o = {.sample_s = a->sample,
                               .root = a->root,
                               .source = tool_source_kind(a->c.source),
                               .fixture = a->c.fixture};
    int e = tw_doctor_measure(&o, s, err, sizeof(err));
    if (e) {
        if (e == -EACCES || e == -EPERM)
            twx_err("%s (needs more privileges)", err[0] ? err : tw_strerror(e));
        else
            twx_err("%s", err[0] ? err : tw_strerror(e));
        return e;
    }
    snprintf((*s)->label, sizeof((*s)->label), "%s", label);
    if ((e = tw_doctor_run(*s, r))) {
        twx_err("running the rules: %s", tw_strerror(e));
        tw_doctor_sample_free(*s);
        *s = NULL;
    }
    return e;
}

/* --write-sysctl: a dry run; a namespace's values never where the host boots from. */
static int write_sysctl(const struct doctor_args *a, const struct tw_doctor_result *r,
                        const char *label, int scope)
{
    char boot[256] = "";
    bool at_boot = strcmp(a->write, "-") && tw_doctor_boot_explain(a->write, boot, sizeof(boot));
    if (scope != TW_DOCTOR_SCOPE_HOST && at_boot) {
        twx_err("--write-sysctl %s: %s, and these values are for %s only; write them "
                "elsewhere and load them inside the namespace",
                a->write, boot, label);
        return -1;
    }
    char *text = tw_doctor_dropin_text(r, label, (enum tw_doctor_scope)scope);
    int e = 0;
    if (!text) {
        twx_err("--write-sysctl: %s", tw_strerror(-ENOMEM));
        return -1;
    }
    if (!strcmp(a->write, "-"))
        fputs(text, stdout);
    else if ((e = tw_doctor_write_atomic(a->write, text, strlen(text), 0644)))
        twx_err("--write-sysctl %s: %s", a->write, tw_strerror(e));
    else if (!a->quiet && !a->c.json)
        fprintf(stderr, "twkit doctor: wrote %s (%zu change%s)\n", a->write, r->n_changes,
                r->n_changes == 1 ? "" : "s");
    if (!e && !at_boot && boot[0]) /* beside the boot files, but not one of them */
        twx_warn("--write-sysctl %s: %s", a->write, boot);
    free(text);
    return e ? -1 : 0;
}

static int run_doctor(int argc, char **argv)
{
    struct doctor_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    if (a.list_rules)
        return list_rules(a.c.json);
    const int runtime = a.exit_code ? 3 : TW_EXIT_RUNTIME;
    char label[96] = "", err[512] = "", dropin[4200];
    tool_color_init(a.c.json || a.quiet ? 2 : a.c.color, stdout);

    if (a.c.netns && enter_netns(a.c.netns, label, sizeof(label)))
        return runtime;
    if (a.c.fixture)
        snprintf(label, sizeof(label), "fixture %s", a.c.fixture);
    else if (!a.c.netns) /* "host" or "current", as twkit stat says */
        tool_netns_label(label, sizeof(label), NULL);
    /* A recording is never the host: its values are not for the host's boot. */
    int scope = a.c.fixture ? TW_DOCTOR_SCOPE_NETNS : tw_doctor_scope_resolve(TW_DOCTOR_SCOPE_AUTO);
    struct tw_doctor_apply_opts ao = {.root = a.root, .label = label};
    if (a.rollback) {
        int e = tw_doctor_rollback(&ao, err, sizeof(err));
        if (e) {
            twx_err("rollback: %s", err[0] ? err : tw_strerror(e));
            return runtime;
        }
        if (scope == TW_DOCTOR_SCOPE_HOST)
            printf("twkit doctor: rolled back: previous values restored, %s%s restored or "
                   "removed\n",
                   a.root ? a.root : "", TW_DOCTOR_DROPIN);
        else
            printf("twkit doctor: rolled back: previous values of this namespace restored\n");
        return TW_EXIT_OK;
    }

    struct tw_doctor_sample *s = NULL;
    struct tw_doctor_result *r = NULL;
    if (measure_and_judge(&a, label, &s, &r))
        return runtime;
    for (size_t i = 0; i < s->conf.n_problems; i++)
        if (!s->conf.p[i].line)
            twx_warn("%s: %s", s->conf.p[i].file, s->conf.p[i].msg);
    if (s->conf_read && !s->conf.n_files && !s->conf.n_problems && !a.quiet)
        twx_warn("no sysctl file below %s: the configuration checks had nothing to read",
                 a.root ? a.root : "/");

    rc = TW_EXIT_OK;
    if (a.write && write_sysctl(&a, r, label, scope))
        rc = runtime;

    /* --apply: set the values, then measure again and show what is left */
    struct tw_sysctl_change *done = NULL;
    char *undo = NULL;
    struct doctor_applied ap = {.scope = (enum tw_doctor_scope)scope};
    bool applied = false;
    if (!rc && a.apply && !r->n_changes) {
        if (!a.quiet && !a.c.json)
            fprintf(stderr, "twkit doctor: --apply: no warning justifies a change; nothing "
                            "applied or written\n");
    } else if (!rc && a.apply) {
        int e = tw_doctor_apply(&ao, r, err, sizeof(err));
        if (e) {
            twx_err("--apply: %s", err[0] ? err : tw_strerror(e));
            rc = runtime;
        } else if (!(done = malloc(r->n_changes * sizeof(*done))) || !(undo = undo_command(&a))) {
            twx_err("--apply: %s (the changes were applied; %s)", tw_strerror(-ENOMEM),
                    "twkit doctor --rollback undoes them");
            rc = runtime;
        } else {
            applied = true;
            memcpy(done, r->changes, r->n_changes * sizeof(*done));
            ap.n = r->n_changes;
            ap.changes = done;
            ap.undo = undo;
            snprintf(dropin, sizeof(dropin), "%s%s", a.root && strcmp(a.root, "/") ? a.root : "",
                     TW_DOCTOR_DROPIN);
            ap.dropin = scope == TW_DOCTOR_SCOPE_HOST ? dropin : NULL;
            struct tw_doctor_sample *s2 = NULL;
            struct tw_doctor_result *r2 = NULL;
            if (measure_and_judge(&a, label, &s2, &r2) == 0) {
                tw_doctor_result_free(r);
                tw_doctor_sample_free(s);
                s = s2, r = r2;
                ap.remeasured = true;
            } else {
                rc = runtime;
            }
        }
    }
    if (!a.quiet && !(a.write && !strcmp(a.write, "-"))) {
        struct doctor_view v = {.verbose = a.verbose,
                                .color = tool_color,
                                .list_changes = !a.apply,
                                .applied = applied ? &ap : NULL};
        if (a.c.json)
            doctor_render_json(stdout, s, r, &v);
        else
            doctor_render_text(stdout, s, r, &v);
    }
    if (!rc && a.exit_code)
        rc = doctor_exit_for(r->worst);
    free(done);
    free(undo);
    tw_doctor_result_free(r);
    tw_doctor_sample_free(s);
    if (fflush(stdout) != 0) {
        twx_err("writing output: %s", strerror(errno));
        return runtime;
    }
    return rc;
}
