/*
 * collect.c — one collection of `twkit export`: for the current namespace,
 * one named one, or every namespace on the host (--netns all), a full
 * report (one dump), the TcpExt/Tcp counters and the engine's forecast,
 * rendered as one metrics page in both formats.
 *
 * It runs in the calling thread — the exporter's main thread — and enters
 * each namespace with setns(2) and back; /proc/net and /proc/sys/net then
 * show that namespace.  Each namespace keeps a slot between collections
 * (found again by its nsfs device and inode): its rate engine, and its
 * last report, which the engine may point into until the next tick.  A
 * namespace that has gone is forgotten at the next collection.
 *
 * With --source live (exp_collect_opts.live) a namespace's slot keeps a
 * live table (twkit/live.h) instead: a collection reads its counts and,
 * every --reconcile seconds, compares it with a walk, and reads the
 * kernel's counters, sysctls and sockstat as a report would (no walk); the
 * page then has the twkit_live_* families and those of the kernel
 * readings, none of a report's.  A table that cannot be had is said once
 * with its reason, and the namespace is collected as without it (a full
 * report from one dump) until it can; twkit_exporter_source_info says which
 * source served each namespace.
 *
 * A namespace that cannot be collected is left off the page and counted
 * (twkit_exporter_scrape_success 0); its error is printed when it first
 * appears, not at every scrape.
 */
#include <errno.h>
#include <linux/capability.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export.h"
#include "tool.h"
#include "twx/clock.h"

struct slot {
    uint64_t dev, inode;
    bool seen;                   /* exists in this collection (keep the slot) */
    bool ok;                     /* collected in this collection (on the page) */
    char label[96];
    struct export_rates *rates;
    struct tw_report *r;         /* the last report (the engine may point into it) */
    struct tw_counters counters;
    bool have_counters;
    struct tw_kernel kernel;     /* --source live: sysctls and sockstat (a report has its own) */
    struct metrics_dest_rate *dr; /* r->n_pressure */
    struct tw_live *live;        /* --source live: the table, NULL if it cannot be had */
    struct metrics_live lv;      /* what the page shows of it (rows malloc'd) */
    bool have_lv;                /* the last collection read the table */
    bool live_failed;            /* the table could not be had: reports from now on */
    uint64_t last_recon_ns;
};

struct exp_collector {
    struct exp_collect_opts o;
    struct slot *slots;
    size_t n_slots, cap_slots;
    uint64_t dumps, errors;
    char last_err[512];          /* said once until it changes */
};

int exp_collector_new(const struct exp_collect_opts *o, struct exp_collector **out)
{
    struct exp_collector *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->o = *o;
    *out = c;
    return 0;
}

static void slot_release(struct slot *s)
{
    tw_live_close(s->live);
    free(s->lv.rows);
    free(s->lv.drift);
    export_rates_free(s->rates);
    tw_report_free(s->r);
    free(s->dr);
}

void exp_collector_free(struct exp_collector *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_slots; i++)
        slot_release(&c->slots[i]);
    free(c->slots);
    free(c);
}

void exp_output_free(struct exp_output *o)
{
    free(o->body[0]);
    free(o->body[1]);
    memset(o, 0, sizeof(*o));
}

static struct slot *slot_get(struct exp_collector *c, uint64_t dev, uint64_t inode)
{
    for (size_t i = 0; i < c->n_slots; i++)
        if (c->slots[i].dev == dev && c->slots[i].inode == inode)
            return &c->slots[i];
    if (c->n_slots == c->cap_slots) {
        size_t cap = c->cap_slots ? 2 * c->cap_slots : 4;
        struct slot *s = realloc(c->slots, cap * sizeof(*s));
        if (!s)
            return NULL;
        c->slots = s;
        c->cap_slots = cap;
    }
    struct slot *s = &c->slots[c->n_slots];
    memset(s, 0, sizeof(*s));
    if (export_rates_new(&s->rates))
        return NULL;
    s->dev = dev;
    s->inode = inode;
    c->n_slots++;
    return s;
}

/* Forget the namespaces this collection did not see; keep the order of the rest. */
static void slots_sweep(struct exp_collector *c)
{
    size_t j = 0;
    for (size_t i = 0; i < c->n_slots; i++) {
        if (c->slots[i].seen)
            c->slots[j++] = c->slots[i];
        else
            slot_release(&c->slots[i]);
    }
    c->n_slots = j;
}

/* Say an error once: again only after a collection without it. */
static void say(struct exp_collector *c, char *errs, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say(struct exp_collector *c, char *errs, size_t len, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t used = strlen(errs);
    snprintf(errs + used, len - used, "%s\n", msg);
    if (!strstr(c->last_err, msg))
        twx_warn("export: %s", msg);
}

/* The calling thread has capability cap in its effective set. */
static bool have_cap(int cap)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d))
        return true; /* cannot tell: do not cry wolf */
    return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* The TcpExt and Tcp counters, for a report and a live table alike. */
static void read_counters(const struct exp_collector *c, struct slot *s)
{
    s->have_counters = tw_counters_read(&s->counters, c->o.fixture) == 0;
}

/* --source live: 1 when s now holds the table's counts and the kernel readings, 0 to collect
 * a report instead, or a negative error (said). */
static int collect_live(struct exp_collector *c, struct slot *s, char *errs, size_t errlen)
{
    char why[512] = "";
    if (s->live_failed)
        return 0; /* said once; a program load per scrape would cost more than the dump */
    if (!s->live) {
        struct tw_live_opts lo = {0};
        if (tw_live_open(&lo, &s->live)) {
            tw_live_why(why, sizeof(why));
            fprintf(stderr, "twkit: warning: export: %s: --source live: %s; collecting with "
                            "sock_diag instead\n", s->label, why);
            s->live_failed = true;
            return 0;
        }
        s->last_recon_ns = twx_now_ns();
    }
    struct tw_live_row *rows = NULL;
    size_t n = 0;
    if (tw_live_read(s->live, &rows, &n)) {
        tw_live_why(why, sizeof(why));
        say(c, errs, errlen, "%s: --source live: %s; collecting with sock_diag instead",
            s->label, why);
        tw_live_close(s->live);
        s->live = NULL;
        return 0;
    }
    free(s->lv.rows);
    s->lv.rows = rows;
    s->lv.n = n;
    uint64_t ns = (uint64_t)(c->o.reconcile * 1e9);
    if (ns && twx_now_ns() - s->last_recon_ns >= ns) {
        struct tw_live_row *d = NULL;
        size_t nd = 0;
        s->last_recon_ns = twx_now_ns();
        if (tw_live_reconcile(s->live, &d, &nd)) {
            tw_live_why(why, sizeof(why));
            say(c, errs, errlen, "%s: --source live: reconciliation: %s", s->label, why);
        } else {
            free(s->lv.drift);
            s->lv.drift = d;
            s->lv.n_drift = nd;
            s->lv.reconciled = true;
        }
    }
    tw_live_stats(s->live, &s->lv.st);
    tw_report_free(s->r);
    s->r = NULL;
    /* what a report reads beside its dump; with no dump here, a failure is the namespace's */
    char err[512] = "";
    int e = tw_kernel_read(&s->kernel, NULL, err, sizeof(err));
    if (e) {
        say(c, errs, errlen, "%s: %s", s->label, err[0] ? err : tw_strerror(e));
        return e;
    }
    read_counters(c, s);
    return 1;
}

/* Collect the namespace the thread is in now into s. */
static int collect_here(struct exp_collector *c, struct slot *s, char *errs, size_t errlen)
{
    s->have_lv = false;
    if (c->o.live && !c->o.fixture) {
        int e = collect_live(c, s, errs, errlen);
        if (e < 0)
            return e;
        if (e) {
            s->have_lv = true;
            return 0;
        }
    }
    struct tw_source *src = NULL;
    enum tw_source_kind kind = c->o.fixture ? TW_SOURCE_FIXTURE : c->o.kind;
    int e = tw_source_open(kind, c->o.fixture, &src);
    if (e) {
        char why[256] = "";
        if (kind == TW_SOURCE_BPF && tw_source_bpf_why(why, sizeof(why)) == 0)
            why[0] = '\0';
        say(c, errs, errlen, "%s: cannot open the socket source: %s", s->label,
            why[0] ? why : tw_strerror(e));
        return e;
    }
    char err[512] = "";
    struct tw_report_opts ro = {.top_n = 1};
    tw_query_init(&ro.query);
    struct tw_report *r = NULL;
    e = tw_report_collect(src, &ro, c->o.fixture, &r, err, sizeof(err));
    tw_source_close(src);
    if (e) {
        say(c, errs, errlen, "%s: %s", s->label, err[0] ? err : tw_strerror(e));
        return e;
    }
    read_counters(c, s);
    struct metrics_dest_rate *dr = calloc(r->n_pressure ? r->n_pressure : 1, sizeof(*dr));
    if (!dr) {
        tw_report_free(r);
        return -ENOMEM;
    }
    e = export_rates_tick(s->rates, twx_now_ms(), r, s->have_counters ? &s->counters : NULL, dr);
    if (e)
        say(c, errs, errlen, "%s: forecast: %s", s->label, tw_strerror(e));
    tw_report_free(s->r); /* the engine's tick is done with the previous one */
    free(s->dr);
    s->r = r;
    s->dr = dr;
    return 0;
}

static int collect_all(struct exp_collector *c, char *errs, size_t errlen, int *failed)
{
    const char *spec = c->o.netns;
    if (!spec || c->o.fixture) {
        struct slot *s = slot_get(c, 0, 0);
        if (!s)
            return -ENOMEM;
        if (c->o.fixture)
            snprintf(s->label, sizeof(s->label), "fixture %s", c->o.fixture);
        else
            tool_netns_label(s->label, sizeof(s->label), NULL);
        s->seen = true;
        if (collect_here(c, s, errs, errlen) == 0)
            s->ok = true;
        else
            (*failed)++;
        return 0;
    }
    struct tw_netns orig;
    int e = tw_netns_current(&orig);
    if (e) {
        say(c, errs, errlen, "cannot open the current network namespace: %s", tw_strerror(e));
        (*failed)++;
        return 0;
    }
    struct tw_netns *targets = NULL;
    size_t nt = 0;
    if (!strcmp(spec, "all")) {
        /* tw_netns_list skips the processes it may not look into: say so */
        if (!have_cap(CAP_SYS_PTRACE)) {
            say(c, errs, errlen, "the namespaces of other users' processes are hidden: "
                                 "finding them needs CAP_SYS_PTRACE");
            (*failed)++;
        }
        if ((e = tw_netns_list(&targets, &nt))) {
            say(c, errs, errlen, "listing network namespaces: %s", tw_strerror(e));
            (*failed)++;
        }
    } else if ((targets = calloc(1, sizeof(*targets)))) {
        if ((e = tw_netns_open(spec, &targets[0]))) {
            say(c, errs, errlen, "network namespace '%s': %s", spec,
                e == -EACCES || e == -EPERM ? "permission denied (needs CAP_SYS_PTRACE "
                                              "for another user's process)"
                                            : tw_strerror(e));
            (*failed)++;
            free(targets);
            targets = NULL;
        } else {
            nt = 1;
        }
    }
    for (size_t i = 0; i < nt; i++) {
        struct slot *s = slot_get(c, targets[i].dev, targets[i].inode);
        if (!s) {
            e = -ENOMEM;
            break;
        }
        snprintf(s->label, sizeof(s->label), "%s", targets[i].label);
        s->seen = true;
        if ((e = tw_netns_enter(&targets[i]))) {
            say(c, errs, errlen, "entering network namespace %s: %s", targets[i].label,
                e == -EPERM || e == -EACCES ? "needs CAP_SYS_ADMIN" : tw_strerror(e));
            (*failed)++;
            e = 0;
            continue;
        }
        if (collect_here(c, s, errs, errlen) == 0)
            s->ok = true;
        else
            (*failed)++;
        if ((e = tw_netns_enter(&orig))) {
            say(c, errs, errlen, "cannot return to the original network namespace: %s",
                tw_strerror(e));
            (*failed)++;
            break; /* collecting on from a foreign namespace would mislabel */
        }
    }
    tw_netns_list_free(targets, nt);
    tw_netns_release(&orig);
    return e == -ENOMEM ? e : 0;
}

static int render(const struct metrics_page *pg, enum metric_format fmt, char **body, size_t *len,
                  size_t *samples)
{
    FILE *f = open_memstream(body, len);
    if (!f)
        return -ENOMEM;
    *samples = metrics_render(f, fmt, pg);
    if (fclose(f) != 0) {
        free(*body);
        *body = NULL;
        return -ENOMEM;
    }
    return 0;
}

int exp_collect(struct exp_collector *c, unsigned mask, struct exp_output *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t t0 = twx_now_ns();
    char errs[2048] = "";
    int failed = 0;
    for (size_t i = 0; i < c->n_slots; i++)
        c->slots[i].seen = c->slots[i].ok = false;
    int e = collect_all(c, errs, sizeof(errs), &failed);
    if (e)
        return e;
    slots_sweep(c);
    snprintf(c->last_err, sizeof(c->last_err), "%s", errs);

    c->dumps++;
    if (failed)
        c->errors++;
    if (c->o.trace && (e = exp_trace_drain(c->o.trace))) {
        twx_warn("export: --trace: reading the BPF tables: %s", strerror(-e));
        return e == -ENOMEM ? e : -EIO;
    }
    struct metrics_ns *ns = calloc(c->n_slots ? c->n_slots : 1, sizeof(*ns));
    struct exp_trace_view *tv = calloc(c->n_slots ? c->n_slots : 1, sizeof(*tv));
    if (!ns || !tv) {
        free(ns);
        free(tv);
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->n_slots && !e; i++) {
        const struct slot *s = &c->slots[i];
        if (!s->ok)
            continue;
        ns[n] = (struct metrics_ns){.label = s->label,
                                    .r = s->r,
                                    .counters = s->have_counters ? &s->counters : NULL,
                                    .rates = s->dr,
                                    .live = s->have_lv ? &s->lv : NULL,
                                    .kernel = s->have_lv ? &s->kernel : NULL,
                                    .source = s->have_lv ? "live"
                                                         : tw_source_kind_name(s->r->source)};
        if (c->o.trace) {
            uint32_t ino = s->dev || s->inode ? (uint32_t)s->inode : c->o.trace_netns;
            if (!(e = exp_trace_view(c->o.trace, ino, &tv[n])))
                ns[n].trace = &tv[n].m;
        }
        n++;
    }
    out->seconds = twx_secs(t0, twx_now_ns());
    out->ok = failed == 0;
    out->namespaces = n;
    struct metrics_self self = {.scrape_seconds = out->seconds,
                                .timestamp = (double)twx_wall_ns() / 1e9,
                                .success = out->ok,
                                .dumps = c->dumps,
                                .errors = c->errors};
    struct metrics_page pg = {.view = METRIC_VIEW_EXPORT, .ns = ns, .n_ns = n,
                              .top = c->o.top, .self = &self};
    for (int fmt = 0; fmt < 2 && !e; fmt++)
        if (mask & (1u << fmt))
            e = render(&pg, (enum metric_format)fmt, &out->body[fmt], &out->len[fmt],
                       &out->samples);
    for (size_t i = 0; i < n; i++)
        exp_trace_view_free(&tv[i]);
    free(tv);
    free(ns);
    if (e)
        exp_output_free(out);
    return e;
}
