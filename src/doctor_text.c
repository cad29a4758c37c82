/*
 * doctor_text.c — the human view of `twkit doctor`: a header line, the
 * verdict, then each finding worst first (severity and id, the summary, and
 * for warn/crit or with -v the evidence, why, source and fix), the passed
 * checks with -v, and the justified sysctl changes of a dry run.
 *
 * Everything fits 80 columns and nothing is cut: text wraps at spaces, and a
 * single word longer than a line (a long path, an IPv6 destination) is
 * broken after a '/', ',', ':' or '-' where it can be and continues on the
 * next line.  Every string that may come from outside twkit (paths and
 * values of sysctl files, namespace labels, fixture paths) goes through
 * twx_esc first.
 */
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "twx/text.h"

#define WIDTH 80

/* Escaped copy of s for the terminal (malloc'd; "" on allocation failure). */
static char *esc(const char *s)
{
    size_t n = twx_esc_len(s ? s : "");
    char *b = malloc(n);
    if (!b)
        return strdup("");
    return twx_esc(b, n, s ? s : "");
}

/* A paragraph being written: the column, the indent of continuation lines. */
struct flow {
    FILE *f;
    int col, ind;
    bool fresh; /* nothing written on this line yet (after the indent) */
};

static void flow_newline(struct flow *w)
{
    fprintf(w->f, "\n%*s", w->ind, "");
    w->col = w->ind;
    w->fresh = true;
}

/* One word (no space in it): after a space, or on the next line; a word
 * longer than a whole line is broken, preferably after a separator. */
static void flow_word(struct flow *w, const char *p, size_t n)
{
    if (!n)
        return;
    if (!w->fresh && w->col + 1 + (int)n > WIDTH)
        flow_newline(w);
    if (!w->fresh) {
        fputc(' ', w->f);
        w->col++;
    }
    for (;;) {
        size_t room = (size_t)(WIDTH - w->col);
        if (n <= room)
            break;
        size_t cut = room;
        for (size_t k = room; k > room / 2; k--)
            if (strchr("/,:-", p[k - 1])) {
                cut = k;
                break;
            }
        fwrite(p, 1, cut, w->f);
        p += cut;
        n -= cut;
        flow_newline(w);
    }
    fwrite(p, 1, n, w->f);
    w->col += (int)n;
    w->fresh = false;
}

/* Words of text ('\n' starts a new line at the indent). */
static void flow_text(struct flow *w, const char *t)
{
    while (*t) {
        if (*t == '\n') {
            flow_newline(w);
            t++;
            continue;
        }
        if (*t == ' ') {
            t++;
            continue;
        }
        size_t n = strcspn(t, " \n");
        flow_word(w, t, n);
        t += n;
    }
}

/* "  LABEL     text...": the label padded to ind, the text wrapped at ind.
 * With steps, each '\n' of text starts a new line (a fix: one step per
 * line); otherwise a '\n' is data and is escaped like any control byte. */
static void labelled(FILE *f, const char *label, int ind, const char *text, bool steps)
{
    struct flow w = {f, 0, ind, true};
    w.col = fprintf(f, "  %-*s", ind - 2, label);
    for (const char *p = text;;) {
        size_t n = steps ? strcspn(p, "\n") : strlen(p);
        char *line = strndup(p, n), *t = esc(line ? line : "");
        flow_text(&w, t);
        free(t);
        free(line);
        if (!p[n])
            break;
        flow_newline(&w);
        p += n + 1;
    }
    fputc('\n', f);
}

static void evidence(FILE *f, const struct tw_finding *x)
{
    struct flow w = {f, 0, 12, true};
    w.col = fprintf(f, "  %-10s", "evidence");
    for (size_t i = 0; i < x->n_evidence; i++) {
        char *v = esc(x->evidence[i].value), *kv = malloc(sizeof(x->evidence[i].key) + strlen(v) + 1);
        if (kv) {
            int len = sprintf(kv, "%s=%s", x->evidence[i].key, v);
            if (!w.fresh && w.col + 2 + len > WIDTH)
                flow_newline(&w);
            if (!w.fresh)
                w.col += fprintf(f, "  ");
            if (w.col + len <= WIDTH) {
                w.col += fprintf(f, "%s", kv);
                w.fresh = false;
            } else {
                w.fresh = true; /* longer than a line: its words wrap */
                flow_text(&w, kv);
            }
        }
        free(kv);
        free(v);
    }
    fputc('\n', f);
}

static void finding(FILE *f, const struct tw_finding *x, bool full, bool color)
{
    char sev[8];
    const char *name = tw_severity_name(x->severity);
    size_t i;
    for (i = 0; name[i] && i + 1 < sizeof(sev); i++)
        sev[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    sev[i] = '\0';
    const char *on = "", *off = "";
    if (color) {
        on = x->severity == TW_SEV_CRIT   ? "\033[1;31m"
             : x->severity == TW_SEV_WARN ? "\033[1;33m"
                                          : "\033[1m";
        off = "\033[0m";
    }
    fprintf(f, "%s%-5s%s %s\n", on, sev, off, x->id);
    labelled(f, "", 6, x->summary ? x->summary : "", false);
    if (!full)
        return;
    evidence(f, x);
    labelled(f, "why", 12, x->explain, false);
    labelled(f, "source", 12, x->source, false);
    labelled(f, "fix", 12, x->fix ? x->fix : "", true);
}

/* A paragraph from outside text: "PREFIX text", continuation lines at ind. */
static void para(FILE *f, const char *prefix, int ind, const char *text)
{
    char *e = esc(text);
    struct flow w = {f, 0, ind, !*prefix};
    w.col = fprintf(f, "%s", prefix);
    flow_text(&w, e);
    fputc('\n', f);
    free(e);
}

/* "  key = value (WORD current; finding)", wrapped at 6. */
static void change_line(FILE *f, const struct tw_sysctl_change *c, const char *word)
{
    char *line = NULL;
    if (asprintf(&line, "%s = %s (%s %s; %s)", c->key, c->value, word, c->current,
                 c->finding) < 0)
        line = NULL;
    char *e = esc(line);
    struct flow w = {f, 2, 6, true};
    fputs("  ", f);
    flow_text(&w, e);
    fputc('\n', f);
    free(e);
    free(line);
}

/* What --apply did, above the findings measured after it. */
static void applied_block(FILE *f, const struct doctor_applied *ap)
{
    char *t = NULL;
    int n;
    if (ap->scope == TW_DOCTOR_SCOPE_HOST)
        n = asprintf(&t, "Applied %zu change%s to this namespace and wrote %s, so that %s after "
                         "a reboot:",
                     ap->n, ap->n == 1 ? "" : "s", ap->dropin ? ap->dropin : "?",
                     ap->n == 1 ? "it holds" : "they hold");
    else
        n = asprintf(&t, "Applied %zu change%s live to this namespace only; nothing written to "
                         "the host's boot configuration (they last as long as the namespace):",
                     ap->n, ap->n == 1 ? "" : "s");
    para(f, "", 2, n < 0 ? "" : t);
    if (n >= 0)
        free(t);
    for (size_t i = 0; i < ap->n; i++)
        change_line(f, &ap->changes[i], "was");
    para(f, "Undo:", 2, ap->undo);
    fputs(ap->remeasured ? "Measured again after the change:\n"
                         : "Measuring again failed; the findings are from before the change:\n",
          f);
}

/* Is some destination's range full (connect() to it fails now)? */
static bool ports_full(const struct tw_report *rep)
{
    if (!rep)
        return false;
    for (size_t i = 0; i < rep->n_pressure; i++)
        if (rep->pressure[i].pct >= 100.0)
            return true;
    return rep->effective_range && rep->host_ports_in_use >= rep->effective_range;
}

void doctor_render_text(FILE *f, const struct tw_doctor_sample *s,
                        const struct tw_doctor_result *r, const struct doctor_view *v)
{
    size_t n_rules = 0, counts[4] = {0};
    tw_doctor_rules(&n_rules);
    for (size_t i = 0; i < r->n; i++)
        counts[r->f[i].severity]++;
    char rest[160], *label = esc(s->label[0] ? s->label : "current namespace");
    if (s->seconds > 0)
        snprintf(rest, sizeof(rest), ", %zu checks, sampled %.1f s, %.1f connects/s", n_rules,
                 s->seconds, tw_doctor_connect_rate(s));
    else
        snprintf(rest, sizeof(rest), ", %zu checks, no counter window", n_rules);
    struct flow w = {f, 0, 2, true};
    w.col = fprintf(f, "twkit doctor:");
    w.fresh = false;
    flow_text(&w, label);
    free(label);
    if (w.col + (int)strlen(rest) > WIDTH) { /* the numbers stay together */
        flow_newline(&w);
        w.col += fprintf(f, "%s", rest + 2);
    } else {
        w.col += fprintf(f, "%s", rest);
    }
    fputc('\n', f);
    if (s->seconds > 0 && ports_full(s->report)) {
        /* the rate above is the kernel's: it cannot see these failures */
        struct flow n = {f, 0, 2, true};
        flow_text(&n, "(connects/s counts SYNs sent, TcpActiveOpens: a connect() refused "
                      "for want of a local port fails with EADDRNOTAVAIL before any SYN (a "
                      "bind() with EADDRINUSE) and is counted nowhere in the kernel; the "
                      "application sees it.)");
        fputc('\n', f);
    }
    if (v->applied)
        applied_block(f, v->applied);
    if (r->worst <= TW_SEV_INFO)
        fprintf(f, "All clear: no warning.%s\n",
                counts[TW_SEV_INFO] ? " Notes:" : " TIME_WAIT settings fit this load.");
    else
        fprintf(f, "%zu critical, %zu warning(s), %zu note(s).\n", counts[TW_SEV_CRIT],
                counts[TW_SEV_WARN], counts[TW_SEV_INFO]);
    for (size_t i = 0; i < r->n; i++) {
        fputc('\n', f);
        finding(f, &r->f[i], r->f[i].severity >= TW_SEV_WARN || v->verbose, v->color);
    }
    if (v->verbose && r->n_passed) {
        fputs("\nPassed:", f);
        struct flow p = {f, 7, 8, false};
        for (size_t i = 0; i < r->n_passed; i++)
            flow_word(&p, r->passed[i], strlen(r->passed[i]));
        fputc('\n', f);
    }
    if (r->n_changes && v->list_changes) {
        fprintf(f, "\nJustified sysctl changes (dry run; --write-sysctl FILE or --apply):\n");
        for (size_t i = 0; i < r->n_changes; i++)
            change_line(f, &r->changes[i], "now");
    }
}
