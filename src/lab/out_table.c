/*
 * out_table.c — the lab's human view: one row per run, then notes per run
 * (failures by class, the first failure, why a run was skipped, and what
 * TIME_WAIT allows it), then the legend.
 *
 * Nothing is cut: every column is as wide as its widest cell, and when the
 * row would pass 80 columns the columns of least weight move, whole, into
 * the run's notes; notes wrap at 80 columns (a word longer than a line is
 * split across lines, never shortened).  Every string that comes from the
 * results (run names, reasons, failure classes, the peer's HTTP reason
 * phrase) is escaped with twx_esc: loaded results are outside data.
 * Widths count characters (UTF-8 code points), not bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"
#include "tool.h"

#define WIDTH 80
#define INDENT 4
#define RUN_MAX 20 /* a longer run name gets a line of its own above its row */

enum { C_RUN, C_CONN, C_LIMIT, C_REQ, C_ERR, C_P99, C_TW, N_COLS };

static const struct {
    const char *hdr;
    bool right;
} COLS[N_COLS] = {
    {"RUN", false},    {"CONN/S", true}, {"LIMIT/S", true},   {"REQ/S", true},
    {"ERRORS", true},  {"P99ms", true},  {"PEAK TW", false},
};

/* Characters (code points) in s. */
static int cols(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static void pad(FILE *f, int n)
{
    for (; n > 0; n--)
        fputc(' ', f);
}

static void put_cell(FILE *f, const char *s, int w, bool right)
{
    int c = cols(s);
    if (right)
        pad(f, w - c);
    fputs(s, f);
    if (!right)
        pad(f, w - c);
}

/* Bytes of the first n code points of s. */
static size_t prefix_bytes(const char *s, int n)
{
    size_t i = 0;
    while (s[i] && n > 0) {
        i++;
        while (((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        n--;
    }
    return i;
}

/*
 * Write text wrapped at WIDTH, the first line from column col (after what
 * is already there, with a space, unless col is 0), the next ones indented
 * by indent.  Words longer than a line are split, not cut.
 */
static void wrap(FILE *f, int col, int indent, const char *text)
{
    const char *p = text;
    bool line_empty = col == 0; /* else a space goes before the first word */
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t wb = strcspn(p, " ");
        char *word = strndup(p, wb);
        if (!word)
            return;
        int w = cols(word);
        p += wb;
        int room = WIDTH - col - (line_empty ? 0 : 1);
        if (w > room && !line_empty) {
            fprintf(f, "\n");
            pad(f, indent);
            col = indent;
            line_empty = true;
            room = WIDTH - col;
        }
        const char *q = word;
        while (cols(q) > room) { /* a word longer than a whole line */
            size_t b = prefix_bytes(q, room);
            if (!line_empty)
                fputc(' ', f);
            fprintf(f, "%.*s\n", (int)b, q);
            q += b;
            pad(f, indent);
            col = indent;
            line_empty = true;
            room = WIDTH - col;
        }
        if (!line_empty) {
            fputc(' ', f);
            col++;
        }
        fputs(q, f);
        col += cols(q);
        line_empty = false;
        free(word);
    }
    fputc('\n', f);
}

/* The cells of run r (escaped, malloc'd). */
static void cells(const struct lab_run *r, char *cell[N_COLS])
{
    char b[128];
    cell[C_RUN] = lab_esc(r->name);
    if (r->status != LAB_RUN_OK) {
        for (int c = 1; c < N_COLS; c++)
            cell[c] = strdup("");
        free(cell[C_CONN]);
        cell[C_CONN] = strdup(r->status == LAB_RUN_SKIPPED ? "skipped" : "failed");
        return;
    }
    snprintf(b, sizeof(b), "%.0f", r->conn_per_s);
    cell[C_CONN] = strdup(b);
    lab_capacity_cell(&r->cap, b, sizeof(b));
    cell[C_LIMIT] = strdup(b);
    snprintf(b, sizeof(b), "%.0f", r->req_per_s);
    cell[C_REQ] = strdup(b);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)r->err_total);
    cell[C_ERR] = strdup(b);
    snprintf(b, sizeof(b), "%.2f", (double)r->load.req_lat.p99 / 1000.0);
    cell[C_P99] = strdup(b);
    if (r->n_hosts > 2)
        snprintf(b, sizeof(b), "%u/%u/%u", r->tw_peak[0], r->tw_peak[1], r->tw_peak[2]);
    else
        snprintf(b, sizeof(b), "%u/%u/-", r->tw_peak[0], r->tw_peak[1]);
    cell[C_TW] = strdup(b);
}

/* Append sep (when s is not empty) and a formatted string to s. */
static void cat(char **s, size_t *len, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cat(char **s, size_t *len, const char *sep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *add = NULL;
    int n = vasprintf(&add, fmt, ap);
    va_end(ap);
    if (n < 0) {
        twx_err("out of memory");
        exit(1);
    }
    size_t sl = *len ? strlen(sep) : 0;
    char *p = realloc(*s, *len + sl + (size_t)n + 1);
    if (!p) {
        twx_err("out of memory");
        exit(1);
    }
    memcpy(p + *len, sep, sl);
    memcpy(p + *len + sl, add, (size_t)n + 1);
    *s = p;
    *len += sl + (size_t)n;
    free(add);
}

static void errors_note(const struct lab_run *r, char **note, size_t *len)
{
    if (!r->err_total)
        return;
    bool done[LAB_MAX_KINDS] = {false};
    char *list = NULL;
    size_t ll = 0;
    for (;;) { /* by count, most first; ties in class order */
        int best = -1;
        for (int k = 0; k < r->n_kinds; k++)
            if (!done[k] && r->err[k] && (best < 0 || r->err[k] > r->err[best]))
                best = k;
        if (best < 0)
            break;
        done[best] = true;
        char *e = lab_esc(r->kind[best]);
        cat(&list, &ll, ", ", "%s %llu", e, (unsigned long long)r->err[best]);
        free(e);
    }
    if (list)
        cat(note, len, " ", "Failed: %s.", list);
    free(list);
    if (r->load.eana.seen)
        cat(note, len, " ", "The first EADDRNOTAVAIL came %.3f s into the load, after %llu "
            "connections.", r->load.eana.t_s, (unsigned long long)r->load.eana.after);
    if (r->load.einuse.seen)
        cat(note, len, " ", "The first EADDRINUSE came %.3f s into the load, after %llu "
            "connections.", r->load.einuse.t_s, (unsigned long long)r->load.einuse.after);
    if (r->load.http_status) {
        char *e = lab_esc(r->load.http_reason);
        cat(note, len, " ", "The first response other than 2xx: %d %s.", r->load.http_status, e);
        free(e);
    }
}

void lab_print_table(FILE *f, struct lab_run *runs, size_t n)
{
    char *(*cell)[N_COLS] = calloc(n ? n : 1, sizeof(*cell));
    if (!cell)
        return;
    int w[N_COLS];
    for (int c = 0; c < N_COLS; c++)
        w[c] = cols(COLS[c].hdr);
    for (size_t i = 0; i < n; i++) {
        cells(&runs[i], cell[i]);
        for (int c = 0; c < N_COLS; c++) {
            if (!cell[i][c]) {
                twx_err("out of memory");
                exit(1);
            }
            int cw = cols(cell[i][c]);
            if (c == C_RUN && cw > RUN_MAX)
                continue;
            if (runs[i].status == LAB_RUN_OK || c <= C_RUN)
                w[c] = cw > w[c] ? cw : w[c];
        }
    }
    /* Drop the columns of least weight until the row fits. */
    int shown = N_COLS;
    for (;;) {
        int total = 0;
        for (int c = 0; c < shown; c++)
            total += w[c] + (c ? 2 : 0);
        if (total <= WIDTH || shown == 1)
            break;
        shown--;
    }
    for (int c = 0; c < shown; c++) {
        if (c)
            fputs("  ", f);
        put_cell(f, COLS[c].hdr, c == shown - 1 && !COLS[c].right ? 0 : w[c], COLS[c].right);
    }
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < shown; c++) {
            bool last = c == shown - 1 || (runs[i].status != LAB_RUN_OK && c == C_CONN);
            if (c)
                fputs("  ", f);
            if (c == C_RUN && cols(cell[i][c]) > w[c]) { /* wrap: the name above its row */
                wrap(f, 0, 0, cell[i][c]);
                pad(f, w[c]);
                continue;
            }
            if (runs[i].status != LAB_RUN_OK && c == C_CONN) {
                fputs(cell[i][c], f);
                break;
            }
            put_cell(f, cell[i][c], last && !COLS[c].right ? 0 : w[c], COLS[c].right);
        }
        fputc('\n', f);
    }
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const struct lab_run *r = &runs[i];
        char *note = NULL;
        size_t len = 0;
        if (r->status != LAB_RUN_OK) {
            char *e = lab_esc(r->reason ? r->reason : "no reason given");
            cat(&note, &len, " ", "%s: %s.", r->status == LAB_RUN_SKIPPED ? "Skipped" : "Failed",
                     e);
            free(e);
        } else {
            for (int c = shown; c < N_COLS; c++)
                cat(&note, &len, " ", "%s %s.", COLS[c].hdr, cell[i][c]);
            errors_note(r, &note, &len);
            if (r->cap.known && r->cap.why) {
                char *e = lab_esc(r->cap.why);
                cat(&note, &len, " ", "%s", e);
                free(e);
            }
        }
        if (note) {
            if (!any)
                fputs("\n", f);
            any = true;
            fputs(cell[i][C_RUN], f);
            fputc(':', f);
            wrap(f, cols(cell[i][C_RUN]) + 1, INDENT, note);
            free(note);
        }
        for (int c = 0; c < N_COLS; c++)
            free(cell[i][c]);
    }
    free(cell);
    fputs("\n", f);
    wrap(f, 0, 0, "CONN/S, REQ/S: connections and requests completed per second of the load "
               "(from its start until it stopped offering work). LIMIT/S: new connections "
               "per second that TIME_WAIT allows (none: no limit). PEAK TW: most TIME_WAIT "
               "sockets seen on the client/server/proxy host, sampled every 100 ms. Below the "
               "table, per run: failures by class, the first EADDRNOTAVAIL or EADDRINUSE, "
               "and what TIME_WAIT allows.");
}
