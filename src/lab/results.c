/*
 * results.c — the lab's results model (lab.h: struct lab_run), which the
 * renderers read, and loading results saved with `twkit lab --json`
 * (`twkit lab --from FILE`), so that the table, --csv and --plot can be
 * made again from a recording, and golden tests can feed the renderers
 * exact values.
 *
 * A saved file is outside data: every field is read by name and type
 * through the lab's one JSON reader (msg.c), a missing or mistyped field
 * is an error that names the run and the field, and every string is kept
 * whole (the renderers escape them).  Failure classes are kept by name, so
 * a class this build does not know is shown, not dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab/lab.h"
#include "tool.h"

/* ---- the model ---------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        twx_err("out of memory");
        exit(TW_EXIT_RUNTIME);
    }
    return d;
}

int lab_run_init(struct lab_run *r, const struct lab_scenario *sc)
{
    memset(r, 0, sizeof(*r));
    r->sc = sc;
    r->scenario = xstrdup(sc->scenario);
    r->name = xstrdup(sc->name);
    r->n_hosts = sc->nginx ? 3 : 2;
    r->n_kinds = TWX_EC_MAX;
    for (int k = 0; k < TWX_EC_MAX; k++)
        r->kind[k] = xstrdup(twx_errclass_name(k));
    return 0;
}

struct lab_row *lab_run_add_row(struct lab_run *r)
{
    if (r->n_rows == r->cap_rows) {
        size_t nc = r->cap_rows ? r->cap_rows * 2 : 128;
        struct lab_row *p = realloc(r->rows, nc * sizeof(*p));
        if (!p)
            return NULL;
        r->rows = p;
        r->cap_rows = nc;
    }
    struct lab_row *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof(*row));
    row->skew_ms = -1;
    return row;
}

void lab_run_reason(struct lab_run *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(r->reason);
    r->reason = xstrdup(buf);
}

void lab_run_finish_load(struct lab_run *r)
{
    double d = r->load.load_s;
    r->conn_per_s = d > 0 ? (double)r->load.n.connected / d : 0;
    r->req_per_s = d > 0 ? (double)r->load.n.requests / d : 0;
    r->err_total = 0;
    for (int k = 0; k < TWX_EC_MAX; k++) {
        r->err[k] = r->load.n.err[k];
        r->err_total += r->err[k];
    }
}

void lab_run_free(struct lab_run *r)
{
    free(r->scenario);
    free(r->name);
    free(r->reason);
    free(r->load.http_reason);
    for (int k = 0; k < r->n_kinds; k++)
        free(r->kind[k]);
    free(r->cap.why);
    free(r->rows);
    memset(r, 0, sizeof(*r));
}

/* ---- loading saved results (--from) ------------------------------------------ */

static int kind_index(const struct lab_run *r, const char *name)
{
    for (int k = 0; k < r->n_kinds; k++)
        if (!strcmp(r->kind[k], name))
            return k;
    return -1;
}

static void load_kinds(json_t *o, struct lab_run *r, struct lab_jerr *e)
{
    json_t *errs = lab_json_obj(o, "errors", e);
    const char *k;
    json_t *v;
    if (!errs)
        return;
    json_object_foreach(errs, k, v) {
        if (r->n_kinds == LAB_MAX_KINDS) {
            lab_jerr_set(e, "errors: more than %d failure classes", LAB_MAX_KINDS);
            return;
        }
        int i = r->n_kinds;
        if (!lab_json_u64(errs, k, &r->err[i], e))
            return;
        r->kind[i] = xstrdup(k);
        r->n_kinds++;
    }
}

static void load_capacity(json_t *o, struct lab_capacity *c, struct lab_jerr *e)
{
    json_t *x = lab_json_obj(o, "capacity", e);
    if (!x)
        return;
    bool null = false;
    c->known = true;
    if (lab_json_f64_or_null(x, "conn_per_s", &c->per_s, &null, e) && null)
        c->per_s = -1;
    lab_json_bool(x, "at_least", &c->at_least, e);
    lab_json_u64(x, "ports", &c->ports, e);
    lab_json_u64(x, "pools", &c->pools, e);
    lab_json_f64(x, "hold_s", &c->hold_s, e);
    lab_json_u64(x, "burst", &c->burst, e);
    if (lab_json_f64_or_null(x, "offered_conn_per_s", &c->offered, &null, e) && null)
        c->offered = -1;
    lab_json_bool(x, "offered_measured", &c->offered_measured, e);
    lab_json_bool(x, "exceeded", &c->exceeded, e);
    if (lab_json_f64_or_null(x, "ports_run_out_s", &c->run_out_s, &null, e) && null)
        c->run_out_s = -1;
    const char *why = lab_json_str(x, "why", e);
    if (why)
        c->why = xstrdup(why);
}

static void load_hosts(json_t *o, struct lab_run *r, struct lab_jerr *e)
{
    json_t *hosts = lab_json_obj(o, "hosts", e);
    if (!hosts)
        return;
    r->n_hosts = json_object_get(hosts, "proxy") ? 3 : 2;
    for (int h = 0; h < r->n_hosts; h++) {
        json_t *x = lab_json_obj(hosts, lab_host_name(h), e);
        uint64_t v = 0;
        if (lab_json_u64(x, "tw_peak", &v, e))
            r->tw_peak[h] = (uint32_t)(v > UINT32_MAX ? UINT32_MAX : v);
        if (lab_json_u64(x, "tw_end", &v, e))
            r->tw_end[h] = (uint32_t)(v > UINT32_MAX ? UINT32_MAX : v);
        json_t *c = lab_json_obj(x, "counters", e);
        for (int k = 0; c && k < TW_C_MAX; k++) {
            json_t *cv = json_object_get(c, tw_counter_name((enum tw_counter_id)k));
            if (cv && lab_json_u64(c, tw_counter_name((enum tw_counter_id)k), &r->ctr[h][k], e))
                r->have_ctr[h][k] = true;
        }
    }
}

static void load_series(json_t *o, struct lab_run *r, struct lab_jerr *e)
{
    json_t *arr = lab_json_arr(o, "series", e);
    size_t i;
    json_t *s;
    if (!arr)
        return;
    json_array_foreach(arr, i, s) {
        if (e->failed)
            return;
        struct lab_row *row = lab_run_add_row(r);
        if (!row) {
            lab_jerr_set(e, "out of memory");
            return;
        }
        if (!json_is_object(s)) {
            lab_jerr_set(e, "series[%zu] is not an object", i);
            return;
        }
        lab_json_f64(s, "t", &row->t, e);
        lab_json_u64(s, "attempted", &row->attempted, e);
        lab_json_u64(s, "connections", &row->connected, e);
        lab_json_u64(s, "requests", &row->requests, e);
        json_t *ek = lab_json_obj(s, "error_kinds", e);
        const char *k;
        json_t *v;
        if (ek) {
            json_object_foreach(ek, k, v) {
                int idx = kind_index(r, k);
                if (idx < 0) {
                    lab_jerr_set(e, "series[%zu]: failure class '%s' is not in 'errors'", i, k);
                    return;
                }
                lab_json_u64(ek, k, &row->err[idx], e);
            }
        }
        json_t *tw = lab_json_obj(s, "tw", e);
        for (int h = 0; tw && h < r->n_hosts; h++) {
            uint64_t x = 0;
            if (lab_json_u64(tw, lab_host_name(h), &x, e))
                row->tw[h] = (uint32_t)(x > UINT32_MAX ? UINT32_MAX : x);
        }
        double skew = -1;
        bool null = true;
        if (json_object_get(s, "skew_ms") && lab_json_f64_or_null(s, "skew_ms", &skew, &null, e))
            row->skew_ms = null ? -1 : skew;
    }
}

static void load_run(json_t *o, struct lab_run *r, struct lab_jerr *e)
{
    const char *sc = lab_json_str(o, "scenario", e);
    const char *name = lab_json_str(o, "name", e);
    const char *status = lab_json_str(o, "status", e);
    const char *reason = lab_json_str_or_null(o, "reason", e);
    if (e->failed)
        return;
    r->scenario = xstrdup(sc);
    r->name = xstrdup(name);
    r->reason = reason ? xstrdup(reason) : NULL;
    if (!strcmp(status, "ok"))
        r->status = LAB_RUN_OK;
    else if (!strcmp(status, "skipped"))
        r->status = LAB_RUN_SKIPPED;
    else if (!strcmp(status, "error"))
        r->status = LAB_RUN_ERROR;
    else
        lab_jerr_set(e, "status '%s' is not ok, skipped or error", status);
    r->n_hosts = 2;
    if (r->status != LAB_RUN_OK || e->failed)
        return;
    lab_json_f64(o, "duration_s", &r->load.load_s, e);
    lab_json_f64(o, "wall_s", &r->load.wall_s, e);
    json_t *c = lab_json_obj(o, "connections", e);
    lab_json_u64(c, "attempted", &r->load.n.attempted, e);
    lab_json_u64(c, "ok", &r->load.n.connected, e);
    lab_json_f64(c, "per_s", &r->conn_per_s, e);
    json_t *q = lab_json_obj(o, "requests", e);
    lab_json_u64(q, "ok", &r->load.n.requests, e);
    lab_json_f64(q, "per_s", &r->req_per_s, e);
    json_t *lat = lab_json_obj(o, "request_latency_us", e);
    lab_json_u64(lat, "p99", &r->load.req_lat.p99, e);
    load_kinds(o, r, e);
    lab_json_u64(o, "errors_total", &r->err_total, e);
    lab_json_first(o, "first_eaddrnotavail", &r->load.eana, e);
    lab_json_first(o, "first_eaddrinuse", &r->load.einuse, e);
    json_t *h = lab_json_obj_or_null(o, "first_http_error", e);
    if (h) {
        uint64_t st = 0;
        lab_json_u64(h, "status", &st, e);
        const char *rs = lab_json_str(h, "reason", e);
        r->load.http_status = (int)(st > 999 ? 999 : st);
        r->load.http_reason = rs ? xstrdup(rs) : NULL;
    }
    load_hosts(o, r, e);
    load_capacity(o, &r->cap, e);
    load_series(o, r, e);
}

int lab_results_load(const char *path, struct lab_run **runs, size_t *n)
{
    json_error_t je;
    FILE *in = stdin;
    if (strcmp(path, "-")) {
        /* Opened here, not by jansson: its message cuts long paths and
         * says nothing useful for a directory. */
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        int e = fd < 0 ? errno : fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
        if (!e && !(in = fdopen(fd, "r")))
            e = errno;
        if (e) {
            if (fd >= 0)
                close(fd);
            twx_err("lab: --from %s: cannot read it: %s", path, strerror(e));
            return -1;
        }
    }
    errno = 0;
    json_t *root = json_loadf(in, JSON_REJECT_DUPLICATES, &je);
    int rerr = ferror(in) ? (errno ? errno : EIO) : 0;
    if (in != stdin)
        fclose(in);
    if (!root) {
        if (rerr)
            twx_err("lab: --from %s: cannot read it: %s", path, strerror(rerr));
        else
            twx_err("lab: --from %s: %s (line %d, column %d)", path, je.text, je.line,
                    je.column);
        return -1;
    }
    char why[2048] = "";
    struct lab_jerr e = {why, sizeof(why), false};
    uint64_t version = 0;
    if (!json_is_object(root))
        lab_jerr_set(&e, "not a JSON object");
    else if (lab_json_u64(root, "version", &version, &e) && version != 2)
        lab_jerr_set(&e, "version %llu: this twkit reads version 2 (docs/lab-json.md)",
                     (unsigned long long)version);
    json_t *arr = lab_json_arr(root, "runs", &e);
    size_t count = arr ? json_array_size(arr) : 0;
    struct lab_run *res = calloc(count ? count : 1, sizeof(*res));
    if (!res) {
        json_decref(root);
        twx_err("out of memory");
        return -1;
    }
    size_t i = 0;
    for (; !e.failed && i < count; i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o)) {
            lab_jerr_set(&e, "runs[%zu] is not an object", i);
            break;
        }
        load_run(o, &res[i], &e);
        if (e.failed) {
            char head[32];
            int hl = snprintf(head, sizeof(head), "runs[%zu]: ", i);
            size_t wl = strlen(why);
            if ((size_t)hl + wl >= sizeof(why))
                wl = sizeof(why) - (size_t)hl - 1;
            memmove(why + hl, why, wl);
            memcpy(why, head, (size_t)hl);
            why[(size_t)hl + wl] = 0;
        }
    }
    json_decref(root);
    if (e.failed) {
        twx_err("lab: --from %s: %s", path, why);
        for (size_t k = 0; k < count; k++)
            lab_run_free(&res[k]);
        free(res);
        return -1;
    }
    *runs = res;
    *n = count;
    return 0;
}
