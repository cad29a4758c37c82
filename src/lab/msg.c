/*
 * msg.c — writing and reading the lab's process messages (msg.h,
 * docs/lab-ipc.md).
 *
 * Writers go through twx/json, the one JSON writer, one object per line.
 * The reader is jansson (json_loadb) plus the typed accessors below, which
 * look every field up by name and check its type: a missing field, a
 * negative or fractional count, a duplicate key or trailing bytes are
 * errors with a reason that names the field.  Unknown fields are ignored,
 * so a writer may add fields without breaking a reader; a count that a
 * reader cannot place (an unknown failure class) is an error, so nothing is
 * dropped silently.
 */
#include "lab/msg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "twx/json.h"

/* ---- typed accessors -------------------------------------------------------- */

void lab_jerr_set(struct lab_jerr *e, const char *fmt, ...)
{
    if (e->failed)
        return;
    e->failed = true;
    if (!e->buf || !e->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf, e->len, fmt, ap);
    va_end(ap);
}

static json_t *member(json_t *o, const char *key, struct lab_jerr *e)
{
    if (e->failed)
        return NULL;
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!v)
        lab_jerr_set(e, "field '%s' is missing", key);
    return v;
}

json_t *lab_json_obj(json_t *o, const char *key, struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (v && !json_is_object(v)) {
        lab_jerr_set(e, "field '%s' is not an object", key);
        return NULL;
    }
    return v;
}

json_t *lab_json_arr(json_t *o, const char *key, struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (v && !json_is_array(v)) {
        lab_jerr_set(e, "field '%s' is not an array", key);
        return NULL;
    }
    return v;
}

json_t *lab_json_obj_or_null(json_t *o, const char *key, struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_object(v)) {
        lab_jerr_set(e, "field '%s' is neither an object nor null", key);
        return NULL;
    }
    return v;
}

bool lab_json_u64(json_t *o, const char *key, uint64_t *out, struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (!v)
        return false;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        lab_jerr_set(e, "field '%s' is not a count (a whole number >= 0)", key);
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

bool lab_json_f64(json_t *o, const char *key, double *out, struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (!v)
        return false;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        lab_jerr_set(e, "field '%s' is not a number", key);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

bool lab_json_f64_or_null(json_t *o, const char *key, double *out, bool *is_null,
                          struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (!v)
        return false;
    *is_null = json_is_null(v);
    if (*is_null)
        return true;
    return lab_json_f64(o, key, out, e);
}

bool lab_json_bool(json_t *o, const char *key, bool *out, struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (!v)
        return false;
    if (!json_is_boolean(v)) {
        lab_jerr_set(e, "field '%s' is not true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

const char *lab_json_str(json_t *o, const char *key, struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (v && !json_is_string(v)) {
        lab_jerr_set(e, "field '%s' is not a string", key);
        return NULL;
    }
    return v ? json_string_value(v) : NULL;
}

const char *lab_json_str_or_null(json_t *o, const char *key, struct lab_jerr *e)
{
    json_t *v = member(o, key, e);
    if (!v || json_is_null(v))
        return NULL;
    return lab_json_str(o, key, e);
}

bool lab_json_errclasses(json_t *o, const char *key, uint64_t err[TWX_EC_MAX],
                         struct lab_jerr *e)
{
    json_t *obj = lab_json_obj(o, key, e);
    if (!obj)
        return false;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (twx_errclass_find(k) < 0) {
            lab_jerr_set(e, "%s: unknown failure class '%s'", key, k);
            return false;
        }
    }
    for (int c = 0; c < TWX_EC_MAX; c++)
        if (!lab_json_u64(obj, twx_errclass_name(c), &err[c], e)) {
            /* name the object too: "errors: field 'EPIPE' is missing" */
            if (e->buf && e->len) {
                char inner[256];
                snprintf(inner, sizeof(inner), "%s", e->buf);
                snprintf(e->buf, e->len, "%s: %s", key, inner);
            }
            return false;
        }
    return true;
}

/* ---- writers ------------------------------------------------------------------ */

static void begin(struct twx_json *j, FILE *f, const char *type)
{
    twx_json_init(j, f, false);
    twx_json_obj_begin(j, NULL);
    twx_json_str(j, "type", type);
}

static void end(struct twx_json *j)
{
    twx_json_obj_end(j);
    twx_json_end(j);
    fflush(j->f);
}

static void write_counts(struct twx_json *j, const struct lab_counts *c)
{
    twx_json_u64(j, "attempted", c->attempted);
    twx_json_u64(j, "connected", c->connected);
    twx_json_u64(j, "requests", c->requests);
    twx_json_obj_begin(j, "errors");
    for (int k = 0; k < TWX_EC_MAX; k++)
        twx_json_u64(j, twx_errclass_name(k), c->err[k]);
    twx_json_obj_end(j);
}

void lab_msg_ready(FILE *f)
{
    struct twx_json j;
    begin(&j, f, "ready");
    end(&j);
}

void lab_msg_backend(FILE *f, const struct lab_be_counts *c)
{
    struct twx_json j;
    begin(&j, f, "backend");
    twx_json_u64(&j, "accepted", c->accepted);
    twx_json_u64(&j, "requests", c->requests);
    twx_json_u64(&j, "resets", c->resets);
    twx_json_u64(&j, "bad_requests", c->bad_requests);
    twx_json_u64(&j, "peer_closed", c->peer_closed);
    twx_json_u64(&j, "server_closed", c->server_closed);
    end(&j);
}

void lab_msg_snapshot(FILE *f, uint64_t seq)
{
    struct twx_json j;
    begin(&j, f, "snapshot");
    twx_json_u64(&j, "seq", seq);
    end(&j);
}

void lab_msg_counters(FILE *f, uint64_t seq, double t_s, uint64_t mono_ns,
                      const struct lab_counts *c)
{
    struct twx_json j;
    begin(&j, f, "counters");
    twx_json_u64(&j, "seq", seq);
    twx_json_f64(&j, "t_s", t_s, 4);
    twx_json_u64(&j, "mono_ns", mono_ns);
    write_counts(&j, c);
    end(&j);
}

void lab_msg_put_lat(struct twx_json *j, const char *key, const struct lab_lat *l)
{
    twx_json_obj_begin(j, key);
    twx_json_u64(j, "p50", l->p50);
    twx_json_u64(j, "p90", l->p90);
    twx_json_u64(j, "p99", l->p99);
    twx_json_u64(j, "max", l->max);
    twx_json_f64(j, "mean", l->mean, 1);
    twx_json_obj_end(j);
}

void lab_msg_put_first(struct twx_json *j, const char *key, const struct lab_first *f)
{
    if (!f->seen) {
        twx_json_null(j, key);
        return;
    }
    twx_json_obj_begin(j, key);
    twx_json_f64(j, "t_s", f->t_s, 3);
    twx_json_u64(j, "after_connections", f->after);
    twx_json_obj_end(j);
}

void lab_msg_result(FILE *f, const struct lab_load_result *r, bool pretty)
{
    struct twx_json j;
    twx_json_init(&j, f, pretty);
    twx_json_obj_begin(&j, NULL);
    twx_json_str(&j, "type", "result");
    twx_json_f64(&j, "duration_s", r->load_s, 3);
    twx_json_f64(&j, "wall_s", r->wall_s, 3);
    twx_json_u64(&j, "threads", r->threads);
    twx_json_u64(&j, "concurrency", r->concurrency);
    twx_json_f64(&j, "rate", r->rate, 3);
    twx_json_u64(&j, "requests_per_conn", r->requests_per_conn);
    twx_json_str(&j, "close", r->close);
    twx_json_u64(&j, "sources", r->sources);
    twx_json_bool(&j, "pool", r->pool);
    double d = r->load_s > 0 ? r->load_s : 0;
    twx_json_obj_begin(&j, "connections");
    twx_json_u64(&j, "attempted", r->n.attempted);
    twx_json_u64(&j, "ok", r->n.connected);
    twx_json_f64(&j, "per_s", d > 0 ? (double)r->n.connected / d : 0, 1);
    twx_json_obj_end(&j);
    twx_json_obj_begin(&j, "requests");
    twx_json_u64(&j, "ok", r->n.requests);
    twx_json_f64(&j, "per_s", d > 0 ? (double)r->n.requests / d : 0, 1);
    twx_json_obj_end(&j);
    lab_msg_put_lat(&j, "connect_latency_us", &r->conn_lat);
    lab_msg_put_lat(&j, "request_latency_us", &r->req_lat);
    uint64_t total = 0;
    twx_json_obj_begin(&j, "errors");
    for (int k = 0; k < TWX_EC_MAX; k++) {
        twx_json_u64(&j, twx_errclass_name(k), r->n.err[k]);
        total += r->n.err[k];
    }
    twx_json_obj_end(&j);
    twx_json_u64(&j, "errors_total", total);
    lab_msg_put_first(&j, "first_eaddrnotavail", &r->eana);
    lab_msg_put_first(&j, "first_eaddrinuse", &r->einuse);
    if (r->http_status) {
        twx_json_obj_begin(&j, "first_http_error");
        twx_json_u64(&j, "status", (uint64_t)r->http_status);
        twx_json_str(&j, "reason", r->http_reason ? r->http_reason : "");
        twx_json_obj_end(&j);
    } else {
        twx_json_null(&j, "first_http_error");
    }
    twx_json_obj_end(&j);
    twx_json_end(&j);
    fflush(f);
}

/* ---- the reader ---------------------------------------------------------------- */

static void read_counts(json_t *o, struct lab_counts *c, struct lab_jerr *e)
{
    lab_json_u64(o, "attempted", &c->attempted, e);
    lab_json_u64(o, "connected", &c->connected, e);
    lab_json_u64(o, "requests", &c->requests, e);
    lab_json_errclasses(o, "errors", c->err, e);
}

static void read_lat(json_t *o, const char *key, struct lab_lat *l, struct lab_jerr *e)
{
    json_t *x = lab_json_obj(o, key, e);
    lab_json_u64(x, "p50", &l->p50, e);
    lab_json_u64(x, "p90", &l->p90, e);
    lab_json_u64(x, "p99", &l->p99, e);
    lab_json_u64(x, "max", &l->max, e);
    lab_json_f64(x, "mean", &l->mean, e);
}

void lab_json_first(json_t *o, const char *key, struct lab_first *f, struct lab_jerr *e)
{
    json_t *x = lab_json_obj_or_null(o, key, e);
    f->seen = x != NULL;
    if (x) {
        lab_json_f64(x, "t_s", &f->t_s, e);
        lab_json_u64(x, "after_connections", &f->after, e);
    }
}

static void read_result(json_t *o, struct lab_load_result *r, struct lab_jerr *e)
{
    lab_json_f64(o, "duration_s", &r->load_s, e);
    lab_json_f64(o, "wall_s", &r->wall_s, e);
    lab_json_u64(o, "threads", &r->threads, e);
    lab_json_u64(o, "concurrency", &r->concurrency, e);
    lab_json_f64(o, "rate", &r->rate, e);
    lab_json_u64(o, "requests_per_conn", &r->requests_per_conn, e);
    const char *cl = lab_json_str(o, "close", e);
    if (cl)
        snprintf(r->close, sizeof(r->close), "%s", cl);
    lab_json_u64(o, "sources", &r->sources, e);
    lab_json_bool(o, "pool", &r->pool, e);
    json_t *c = lab_json_obj(o, "connections", e);
    lab_json_u64(c, "attempted", &r->n.attempted, e);
    lab_json_u64(c, "ok", &r->n.connected, e);
    json_t *q = lab_json_obj(o, "requests", e);
    lab_json_u64(q, "ok", &r->n.requests, e);
    read_lat(o, "connect_latency_us", &r->conn_lat, e);
    read_lat(o, "request_latency_us", &r->req_lat, e);
    lab_json_errclasses(o, "errors", r->n.err, e);
    lab_json_first(o, "first_eaddrnotavail", &r->eana, e);
    lab_json_first(o, "first_eaddrinuse", &r->einuse, e);
    json_t *h = lab_json_obj_or_null(o, "first_http_error", e);
    if (h) {
        uint64_t st = 0;
        if (lab_json_u64(h, "status", &st, e) && (st < 100 || st > 999))
            lab_jerr_set(e, "first_http_error: status %llu is not an HTTP status",
                         (unsigned long long)st);
        const char *rs = lab_json_str(h, "reason", e);
        if (!e->failed) {
            r->http_status = (int)st;
            r->http_reason = strdup(rs);
            if (!r->http_reason)
                lab_jerr_set(e, "out of memory");
        }
    }
}

static const struct {
    const char *name;
    enum lab_msg_type type;
} TYPES[] = {
    {"ready", LAB_MSG_READY},       {"backend", LAB_MSG_BACKEND},
    {"snapshot", LAB_MSG_SNAPSHOT}, {"counters", LAB_MSG_COUNTERS},
    {"result", LAB_MSG_RESULT},
};

int lab_msg_parse(const char *line, size_t len, struct lab_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, errlen, "not JSON: %s (column %d)", je.text, je.column);
        return -1;
    }
    char why[256] = "";
    struct lab_jerr e = {why, sizeof(why), false};
    const char *type = json_is_object(o) ? lab_json_str(o, "type", &e) : NULL;
    if (!json_is_object(o))
        lab_jerr_set(&e, "not a JSON object");
    size_t k = 0;
    for (; type && k < sizeof(TYPES) / sizeof(TYPES[0]); k++)
        if (!strcmp(type, TYPES[k].name))
            break;
    bool known = type && k < sizeof(TYPES) / sizeof(TYPES[0]);
    if (type && !known)
        lab_jerr_set(&e, "unknown message type '%s'", type);
    if (!e.failed) {
        m->type = TYPES[k].type;
        switch (m->type) {
        case LAB_MSG_READY:
            break;
        case LAB_MSG_BACKEND:
            lab_json_u64(o, "accepted", &m->be.accepted, &e);
            lab_json_u64(o, "requests", &m->be.requests, &e);
            lab_json_u64(o, "resets", &m->be.resets, &e);
            lab_json_u64(o, "bad_requests", &m->be.bad_requests, &e);
            lab_json_u64(o, "peer_closed", &m->be.peer_closed, &e);
            lab_json_u64(o, "server_closed", &m->be.server_closed, &e);
            break;
        case LAB_MSG_SNAPSHOT:
            lab_json_u64(o, "seq", &m->seq, &e);
            break;
        case LAB_MSG_COUNTERS:
            lab_json_u64(o, "seq", &m->seq, &e);
            lab_json_f64(o, "t_s", &m->t_s, &e);
            lab_json_u64(o, "mono_ns", &m->mono_ns, &e);
            read_counts(o, &m->counts, &e);
            break;
        case LAB_MSG_RESULT:
            read_result(o, &m->res, &e);
            break;
        }
    }
    if (e.failed) /* name the message: "counters: field 'seq' is missing" */
        snprintf(err, errlen, "%s%s%s", known ? TYPES[k].name : "", known ? ": " : "", why);
    json_decref(o); /* type pointed into o */
    if (e.failed) {
        lab_msg_release(m);
        return -1;
    }
    return 0;
}

void lab_msg_release(struct lab_msg *m)
{
    free(m->res.http_reason);
    m->res.http_reason = NULL;
}

/* ---- NDJSON framing ------------------------------------------------------------- */

int lab_lines_read(int fd, struct lab_lines *lb, int (*fn)(char *line, size_t len, void *arg),
                   void *arg, char *err, size_t errlen)
{
    ssize_t r = read(fd, lb->b + lb->len, sizeof(lb->b) - lb->len - 1);
    if (r < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 1;
        snprintf(err, errlen, "read: %s", strerror(errno));
        return -1;
    }
    if (r == 0) {
        if (lb->len) {
            snprintf(err, errlen, "the stream ended inside a line (%zu bytes without a newline)",
                     lb->len);
            return -1;
        }
        return 0;
    }
    lb->len += (size_t)r;
    size_t start = 0;
    int rc = 1;
    for (size_t i = 0; i < lb->len && rc == 1; i++) {
        if (lb->b[i] != '\n')
            continue;
        lb->b[i] = 0;
        int f = fn(lb->b + start, i - start, arg);
        if (f)
            rc = f;
        start = i + 1;
    }
    memmove(lb->b, lb->b + start, lb->len - start);
    lb->len -= start;
    if (rc == 1 && lb->len == sizeof(lb->b) - 1) {
        snprintf(err, errlen, "a line longer than %d bytes", LAB_LINE_MAX - 1);
        return -1;
    }
    return rc;
}
