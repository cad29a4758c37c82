/*
 * metrics.c — the writer of the two Prometheus exposition formats and the
 * walk over the metric definition table (metrics_emit.c holds the rows).
 *
 * Text format 0.0.4 (what `promtool check metrics` and node_exporter's
 * textfile collector read) and OpenMetrics 1.0.0 (what Prometheus asks for
 * first) differ in a few places only, all of them here: a counter family is
 * named with "_total" in 0.0.4 and without it in OpenMetrics (its samples
 * carry "_total" in both); an info family is a gauge named "…_info" in
 * 0.0.4; OpenMetrics has "# UNIT" lines, escapes '"' in HELP, and ends with
 * "# EOF".  A family's header is written before its first sample, so a
 * family with nothing to say (no engine, no namespace) leaves no trace.
 *
 * Label values come from outside (namespace names) and must be valid UTF-8
 * for Prometheus to take the page at all: bytes that are not are written
 * as U+FFFD.  The label words twkit chooses itself (metrics_state) are
 * node_exporter's, so that a query written for node_tcp_connection_states
 * reads twkit's series the same way.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"

struct metrics_writer {
    FILE *f;
    enum metric_format fmt;
    const struct metric_def *cur; /* family whose header is out */
    size_t samples;
};

const char *metrics_sample_name(const struct metric_def *d, char *buf, size_t len)
{
    const char *suffix = d->type == METRIC_COUNTER ? "_total" : d->type == METRIC_INFO ? "_info" : "";
    snprintf(buf, len, "%s%s", d->name, suffix);
    return buf;
}

const char *metrics_views(const struct metric_def *d)
{
    unsigned v = d->views & (METRIC_VIEW_STAT | METRIC_VIEW_EXPORT);
    return v == (METRIC_VIEW_STAT | METRIC_VIEW_EXPORT) ? "stat, export"
           : v == METRIC_VIEW_STAT                      ? "stat"
           : v == METRIC_VIEW_EXPORT                    ? "export"
                                                        : "";
}

const char *metrics_state(int state)
{
    static const char *const names[TW_STATE_MAX] = {
        [TW_ESTABLISHED] = "established", [TW_SYN_SENT] = "syn_sent",
        [TW_SYN_RECV] = "syn_recv",       [TW_FIN_WAIT1] = "fin_wait1",
        [TW_FIN_WAIT2] = "fin_wait2",     [TW_TIME_WAIT] = "time_wait",
        [TW_CLOSE] = "close",             [TW_CLOSE_WAIT] = "close_wait",
        [TW_LAST_ACK] = "last_ack",       [TW_LISTEN] = "listen",
        [TW_CLOSING] = "closing",         [TW_NEW_SYN_RECV] = "new_syn_recv",
    };
    return state > 0 && state < TW_STATE_MAX && names[state] ? names[state] : "unknown";
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Escape a label value or HELP text; quote: escape '"' too. */
static void esc(FILE *f, const char *s, bool quote)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p == '\\') {
            fputs("\\\\", f);
            p++;
        } else if (*p == '\n') {
            fputs("\\n", f);
            p++;
        } else if (*p == '"' && quote) {
            fputs("\\\"", f);
            p++;
        } else {
            size_t n = utf8_len(p);
            if (n == 0) {
                fputs("\xef\xbf\xbd", f); /* U+FFFD */
                p++;
            } else {
                fwrite(p, 1, n, f);
                p += n;
            }
        }
    }
}

static void header(struct metrics_writer *w, const struct metric_def *d)
{
    char sample[128];
    if (w->cur == d)
        return;
    w->cur = d;
    if (w->fmt == METRIC_TEXT) {
        metrics_sample_name(d, sample, sizeof(sample));
        fprintf(w->f, "# HELP %s ", sample);
        esc(w->f, d->help, false);
        fprintf(w->f, "\n# TYPE %s %s\n", sample, d->type == METRIC_COUNTER ? "counter" : "gauge");
        return;
    }
    static const char *const om_type[] = {"gauge", "counter", "info"};
    fprintf(w->f, "# TYPE %s %s\n", d->name, om_type[d->type]);
    if (d->unit)
        fprintf(w->f, "# UNIT %s %s\n", d->name, d->unit);
    fprintf(w->f, "# HELP %s ", d->name);
    esc(w->f, d->help, true);
    fputc('\n', w->f);
}

static void begin(struct metrics_writer *w, const struct metric_def *d, const struct metrics_ns *ns,
                  const struct metrics_label *l, size_t nl)
{
    char sample[128];
    header(w, d);
    fputs(metrics_sample_name(d, sample, sizeof(sample)), w->f);
    if (!ns && !nl) {
        fputc(' ', w->f);
        return;
    }
    fputc('{', w->f);
    bool first = true;
    if (ns) {
        fputs("netns=\"", w->f);
        esc(w->f, ns->label, true);
        fputc('"', w->f);
        first = false;
    }
    for (size_t i = 0; i < nl; i++) {
        fprintf(w->f, "%s%s=\"", first ? "" : ",", l[i].k);
        esc(w->f, l[i].v, true);
        fputc('"', w->f);
        first = false;
    }
    fputs("} ", w->f);
}

void mw_u64(struct metrics_writer *w, const struct metric_def *d, const struct metrics_ns *ns,
            const struct metrics_label *l, size_t nl, uint64_t v)
{
    begin(w, d, ns, l, nl);
    fprintf(w->f, "%llu\n", (unsigned long long)v);
    w->samples++;
}

void mw_f64(struct metrics_writer *w, const struct metric_def *d, const struct metrics_ns *ns,
            const struct metrics_label *l, size_t nl, double v)
{
    begin(w, d, ns, l, nl);
    if (isnan(v))
        fputs("NaN\n", w->f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf\n" : "-Inf\n", w->f);
    else
        fprintf(w->f, "%.15g\n", v);
    w->samples++;
}

size_t metrics_render(FILE *f, enum metric_format fmt, const struct metrics_page *p)
{
    struct metrics_writer w = {.f = f, .fmt = fmt};
    for (size_t i = 0; i < metric_ndefs; i++) {
        const struct metric_def *d = &metric_defs[i];
        if (d->views & p->view)
            d->emit(&w, d, p);
    }
    if (fmt == METRIC_OPENMETRICS)
        fputs("# EOF\n", f);
    return w.samples;
}

void metrics_list(FILE *f, unsigned view)
{
    static const char *const types[] = {"gauge", "counter", "info"};
    char sample[128];
    for (size_t i = 0; i < metric_ndefs; i++) {
        const struct metric_def *d = &metric_defs[i];
        if (!(d->views & view))
            continue;
        fprintf(f, "%s\t%s\t%s\t%s%s\n", metrics_sample_name(d, sample, sizeof(sample)),
                types[d->type], d->labels, d->help,
                d->engine ? " (needs the rate engine)" : "");
    }
}

/* ---- Accept negotiation ------------------------------------------------------------ */

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parse one media range [s, end): type/subtype, the version parameter, q. */
static void media_range(const char *s, const char *end, double *q_om, double *q_text)
{
    char type[64] = "", version[32] = "";
    double q = 1.0;
    s = skip_ws(s);
    size_t n = strcspn(s, ";");
    if (s + n > end)
        n = (size_t)(end - s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= sizeof(type))
        return;
    memcpy(type, s, n);
    s += n;
    while (s < end && *s == ';') {
        s = skip_ws(s + 1);
        size_t k = strcspn(s, "=;,");
        if (s + k > end)
            k = (size_t)(end - s);
        const char *v = s + k;
        size_t vn = 0;
        if (v < end && *v == '=') {
            v = skip_ws(v + 1);
            vn = strcspn(v, ";,");
            if (v + vn > end)
                vn = (size_t)(end - v);
            while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
                vn--;
        }
        if (k == 1 && (*s == 'q' || *s == 'Q')) {
            char b[16];
            if (vn && vn < sizeof(b)) {
                memcpy(b, v, vn);
                b[vn] = '\0';
                char *e;
                double x = strtod(b, &e);
                q = (*e || x != x || x < 0 || x > 1) ? 0 : x;
            }
        } else if (k == 7 && !strncasecmp(s, "version", 7) && vn < sizeof(version)) {
            memcpy(version, v, vn);
            version[vn] = '\0';
        }
        s = skip_ws(v + vn);
    }
    if (!strcasecmp(type, "application/openmetrics-text")) {
        if ((!version[0] || !strcmp(version, "1.0.0") || !strcmp(version, "0.0.1")) && q > *q_om)
            *q_om = q;
    } else if (!strcasecmp(type, "text/plain")) {
        if ((!version[0] || !strcmp(version, "0.0.4")) && q > *q_text)
            *q_text = q;
    } else if (!strcmp(type, "*/*") || !strcasecmp(type, "text/*")) {
        if (q > *q_text)
            *q_text = q;
    }
}

enum metric_format metrics_negotiate(const char *accept)
{
    double q_om = 0, q_text = 0;
    if (!accept)
        return METRIC_TEXT;
    const char *s = accept;
    while (*s) {
        const char *end = s + strcspn(s, ",");
        media_range(s, end, &q_om, &q_text);
        s = *end ? end + 1 : end;
    }
    return q_om > 0 && q_om >= q_text ? METRIC_OPENMETRICS : METRIC_TEXT;
}
