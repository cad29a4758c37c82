/*
 * opt.c — the option parser, --help printer and man page generator that
 * every twkit command shares, all three driven by the command's table
 * (twx/opt.h), so that what is parsed, what --help says and what the man
 * page documents cannot drift apart.
 *
 * The parser is written here rather than on getopt_long because the rules
 * the commands need are the ones getopt leaves out: typed, range-checked
 * decimal values, options that exclude each other, repeated options as an
 * error, no abbreviations, and one wording for every usage error.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "twx/msg.h"
#include "twx/opt.h"

/* ---- decimal parsers ------------------------------------------------------ */

int twx_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int twx_parse_num(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return -1;
    const char *p = s;
    size_t ints = 0, fracs = 0;
    while (*p >= '0' && *p <= '9')
        p++, ints++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, fracs++;
        if (!fracs)
            return -1;
    }
    if (*p || !ints)
        return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno || !end || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---- names and suffixes ------------------------------------------------------- */

const char *twx_opt_name(const struct twx_opt *o, char *buf, size_t len)
{
    snprintf(buf, len, "--%s", o->lng);
    return buf;
}

static bool takes_value(const struct twx_opt *o)
{
    return o->type != TWX_FLAG && o->type != TWX_HELP;
}

/* "a, b or c" */
static void choice_list(char *buf, size_t len, const char *const *c, const char *sep_last)
{
    size_t n = 0, used = 0;
    while (c[n])
        n++;
    buf[0] = 0;
    for (size_t i = 0; i < n && used < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? sep_last : ", ";
        int w = snprintf(buf + used, len - used, "%s%s", sep, c[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void fmt_bound(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.15g", v);
}

/* The part of the help line the table derives: range, choices, default. */
static void help_suffix(const struct twx_opt *o, char *buf, size_t len)
{
    char a[32], b[32], list[256];
    size_t used = 0;
    buf[0] = 0;
#define PUT(...)                                                                   \
    do {                                                                           \
        int w_ = snprintf(buf + used, used < len ? len - used : 0, __VA_ARGS__);   \
        if (w_ > 0)                                                                \
            used += (size_t)w_;                                                    \
    } while (0)
    if (o->type == TWX_UINT || o->type == TWX_NUM) {
        fmt_bound(a, sizeof(a), o->min);
        fmt_bound(b, sizeof(b), o->max);
        PUT("%s-%s", a, b);
    } else if (o->type == TWX_CHOICE) {
        choice_list(list, sizeof(list), o->choices, " or ");
        PUT("%s", list);
    }
    if (o->dflt)
        PUT("%sdefault %s", used ? "; " : "", o->dflt);
    if (o->flags & TWX_REPEAT)
        PUT("%srepeatable", used ? "; " : "");
#undef PUT
}

/* ---- --help ------------------------------------------------------------------------ */

#define HELP_COL 28
#define WIDTH 80

/* Write text from column col, wrapping at WIDTH with continuation at ind. */
static void wrap_at(FILE *f, int col, int ind, const char *text)
{
    const char *p = text;
    bool first = true;
    while (*p) {
        size_t w = strcspn(p, " ");
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

void twx_opt_help(FILE *f, const struct twx_cmd *c)
{
    fprintf(f, "Usage: twkit %s %s\n", c->name, c->synopsis ? c->synopsis : "[OPTIONS]");
    if (c->subs)
        for (const struct twx_cmd *const *s = c->subs; *s; s++)
            fprintf(f, "       twkit %s %s\n", (*s)->name, (*s)->synopsis);
    if (c->about)
        fprintf(f, "\n%s", c->about);
    if (c->subs) {
        fprintf(f, "\nCommands:\n");
        for (const struct twx_cmd *const *s = c->subs; *s; s++) {
            int col = fprintf(f, "  %-*s", HELP_COL - 2, (*s)->name);
            wrap_at(f, col, HELP_COL, (*s)->summary);
        }
    }
    fprintf(f, "\nOptions:\n");
    for (size_t i = 0; i < c->n_opts; i++) {
        const struct twx_opt *o = &c->opts[i];
        char left[96], suffix[320], text[640];
        snprintf(left, sizeof(left), "%c%c%c --%s%s%s", o->shrt ? '-' : ' ',
                 o->shrt ? o->shrt : ' ', o->shrt ? ',' : ' ', o->lng,
                 takes_value(o) ? " " : "", takes_value(o) ? o->arg : "");
        help_suffix(o, suffix, sizeof(suffix));
        snprintf(text, sizeof(text), "%s%s%s%s", o->help, suffix[0] ? " (" : "", suffix,
                 suffix[0] ? ")" : "");
        int col = fprintf(f, "  %s", left);
        if (col > HELP_COL - 2) {
            fprintf(f, "\n%*s", HELP_COL, "");
            col = HELP_COL;
        } else {
            col += fprintf(f, "%*s", HELP_COL - col, "");
        }
        wrap_at(f, col, HELP_COL, text);
    }
    if (c->examples)
        fprintf(f, "\nExamples:\n%s", c->examples);
    if (c->n_exits) {
        fprintf(f, "\nExit status:\n");
        for (size_t i = 0; i < c->n_exits; i++) {
            int col = fprintf(f, "  %-4d", c->exits[i].code);
            wrap_at(f, col, 8, c->exits[i].meaning);
        }
    }
    fprintf(f, "\nSee %s(1).\n", c->man ? c->man : "twkit");
}

/* ---- the man page's OPTIONS entries ----------------------------------------------------- */

/* scdoc: escape the characters that are markup when they stand in text. */
static void man_text(FILE *f, const char *s)
{
    fputs(s, f);
}

void twx_opt_man(FILE *f, const struct twx_cmd *c)
{
    for (size_t i = 0; i < c->n_opts; i++) {
        const struct twx_opt *o = &c->opts[i];
        if (i)
            fputc('\n', f);
        if (o->shrt)
            fprintf(f, "*-%c*, ", o->shrt);
        fprintf(f, "*--%s*", o->lng);
        if (takes_value(o))
            fprintf(f, " _%s_", o->arg);
        fputs("\n\t", f);
        man_text(f, o->doc ? o->doc : o->help);
        char a[32], b[32], list[256];
        switch (o->type) {
        case TWX_UINT:
        case TWX_NUM:
            fmt_bound(a, sizeof(a), o->min);
            fmt_bound(b, sizeof(b), o->max);
            fprintf(f, " From %s to %s%s.", a, b,
                    o->type == TWX_UINT ? " (a whole decimal number)" : " (decimal)");
            break;
        case TWX_CHOICE: {
            char quoted[512];
            size_t used = 0, n = 0;
            while (o->choices[n])
                n++;
            quoted[0] = 0;
            for (size_t k = 0; k < n && used < sizeof(quoted); k++) {
                int w = snprintf(quoted + used, sizeof(quoted) - used, "%s*%s*",
                                 k == 0 ? "" : k + 1 == n ? " or " : ", ", o->choices[k]);
                if (w > 0)
                    used += (size_t)w;
            }
            (void)list;
            fprintf(f, " One of %s.", quoted);
            break;
        }
        default:
            break;
        }
        if (o->dflt)
            fprintf(f, " Default: %s.", o->dflt);
        bool first = true;
        for (size_t k = 0; k < c->n_opts; k++) {
            if (k == i || !(c->opts[k].excl & o->excl))
                continue;
            fprintf(f, "%s*--%s*", first ? " Excludes " : ", ", c->opts[k].lng);
            first = false;
        }
        if (!first)
            fputc('.', f);
        if (o->flags & TWX_REPEAT)
            fputs(" May be given more than once.", f);
        fputc('\n', f);
    }
}

/* ---- parsing ------------------------------------------------------------------------------ */

static const struct twx_opt *find_long(const struct twx_cmd *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_opts; i++)
        if (strlen(c->opts[i].lng) == len && !memcmp(c->opts[i].lng, name, len))
            return &c->opts[i];
    return NULL;
}

static const struct twx_opt *find_short(const struct twx_cmd *c, char ch)
{
    for (size_t i = 0; i < c->n_opts; i++)
        if (c->opts[i].shrt && c->opts[i].shrt == ch)
            return &c->opts[i];
    return NULL;
}

/* Store one option; returns TWX_OPT_CONTINUE, 0 (help shown) or 2. */
static int apply(const struct twx_cmd *c, const struct twx_opt *o, const char *val, void *args,
                 struct twx_parsed *p)
{
    size_t idx = (size_t)(o - c->opts);
    uint64_t bit = (uint64_t)1 << idx;
    char name[80];
    twx_opt_name(o, name, sizeof(name));
    if ((p->given & bit) && !(o->flags & TWX_REPEAT))
        return twx_usage_err(c->name, "%s given twice", name);
    for (size_t k = 0; k < c->n_opts; k++) {
        if (k != idx && (p->given & ((uint64_t)1 << k)) && (c->opts[k].excl & o->excl)) {
            char other[80];
            return twx_usage_err(c->name, "%s and %s exclude each other",
                                 twx_opt_name(&c->opts[k], other, sizeof(other)), name);
        }
    }
    p->given |= bit;
    void *field = (char *)args + o->off;
    char why[256] = "", suffix[320];
    switch (o->type) {
    case TWX_HELP:
        twx_opt_help(stdout, c);
        return 0;
    case TWX_FLAG:
        *(bool *)field = true;
        return TWX_OPT_CONTINUE;
    case TWX_UINT: {
        uint64_t v;
        if (twx_parse_uint(val, (uint64_t)o->min, (uint64_t)o->max, &v) == 0) {
            *(uint64_t *)field = v;
            return TWX_OPT_CONTINUE;
        }
        char a[32], b[32];
        fmt_bound(a, sizeof(a), o->min);
        fmt_bound(b, sizeof(b), o->max);
        return twx_usage_err(c->name, "%s: '%s' is not a whole number from %s to %s", name, val,
                             a, b);
    }
    case TWX_NUM: {
        double v;
        if (twx_parse_num(val, o->min, o->max, &v) == 0) {
            *(double *)field = v;
            return TWX_OPT_CONTINUE;
        }
        char a[32], b[32];
        fmt_bound(a, sizeof(a), o->min);
        fmt_bound(b, sizeof(b), o->max);
        return twx_usage_err(c->name, "%s: '%s' is not a decimal number from %s to %s", name,
                             val, a, b);
    }
    case TWX_STR:
        if (!*val)
            return twx_usage_err(c->name, "%s: the value is empty", name);
        *(const char **)field = val;
        return TWX_OPT_CONTINUE;
    case TWX_CHOICE:
        for (int k = 0; o->choices[k]; k++) {
            if (!strcmp(o->choices[k], val)) {
                *(int *)field = k;
                return TWX_OPT_CONTINUE;
            }
        }
        choice_list(suffix, sizeof(suffix), o->choices, " or ");
        return twx_usage_err(c->name, "%s: '%s' is not %s", name, val, suffix);
    case TWX_FN:
        if (o->fn(field, val, why, sizeof(why)) == 0)
            return TWX_OPT_CONTINUE;
        return twx_usage_err(c->name, "%s: %s", name, why[0] ? why : "bad value");
    }
    return twx_usage_err(c->name, "%s: internal error: bad option type", name);
}

int twx_opt_parse(const struct twx_cmd *c, int argc, char **argv, void *args,
                  struct twx_parsed *p)
{
    memset(p, 0, sizeof(*p));
    if (c->n_opts > 64)
        return twx_usage_err(c->name, "internal error: more than 64 options");
    char **pos = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*pos));
    if (!pos) {
        twx_err("out of memory");
        return 1;
    }
    int npos = 0, rc = TWX_OPT_CONTINUE;
    bool only_pos = false;
    for (int i = 1; i < argc && rc == TWX_OPT_CONTINUE; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) {
            if (!c->positional) {
                rc = twx_usage_err(c->name, "unexpected argument '%s'", a);
                break;
            }
            pos[npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const struct twx_opt *o = find_long(c, name, len);
            if (!o) {
                rc = twx_usage_err(c->name, "unknown option '--%.*s'", (int)len, name);
                break;
            }
            const char *val = NULL;
            if (takes_value(o)) {
                if (eq)
                    val = eq + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else {
                    rc = twx_usage_err(c->name, "--%s needs a value (%s)", o->lng, o->arg);
                    break;
                }
            } else if (eq) {
                rc = twx_usage_err(c->name, "--%s takes no value", o->lng);
                break;
            }
            rc = apply(c, o, val, args, p);
            continue;
        }
        for (const char *s = a + 1; *s && rc == TWX_OPT_CONTINUE; s++) {
            const struct twx_opt *o = find_short(c, *s);
            if (!o) {
                if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
                    rc = twx_usage_err(c->name, "unknown option '-%c'", *s);
                else
                    rc = twx_usage_err(c->name, "unknown option '%s'", a);
                break;
            }
            if (!takes_value(o)) {
                rc = apply(c, o, NULL, args, p);
                continue;
            }
            const char *val = s[1] ? s + 1 : NULL;
            if (!val) {
                if (i + 1 < argc) {
                    val = argv[++i];
                } else {
                    rc = twx_usage_err(c->name, "-%c needs a value (%s)", o->shrt, o->arg);
                    break;
                }
            }
            rc = apply(c, o, val, args, p);
            break;
        }
    }
    if (rc == TWX_OPT_CONTINUE) {
        for (int k = 0; k < npos; k++)
            argv[argc - npos + k] = pos[k];
        p->first_pos = argc - npos;
        p->npos = npos;
        const char *chk = getenv("TWKIT_OPT_CHECK");
        if (chk && !strcmp(chk, "1")) {
            fprintf(stderr, "twkit: options ok\n");
            rc = 0;
        }
    }
    free(pos);
    return rc;
}

bool twx_opt_given(const struct twx_cmd *c, const struct twx_parsed *p, const char *lng)
{
    const struct twx_opt *o = find_long(c, lng, strlen(lng));
    return o && (p->given & ((uint64_t)1 << (size_t)(o - c->opts)));
}
