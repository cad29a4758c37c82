/*
 * msg.h — the messages the lab's processes exchange (docs/lab-ipc.md):
 * NDJSON, one JSON object per line, each with a "type".  Every message is
 * written through twx/json and read by lab_msg_parse, the one reader, built
 * on jansson: fields are found by name, so reordering or adding fields
 * loses nothing, and a message that lacks a field or has one of the wrong
 * type is an error, never a silent zero.
 *
 *   backend -> lab    ready, backend
 *   lab -> load       snapshot
 *   load -> lab       counters (answer to a snapshot, or every --series MS),
 *                     result (the last line; also `twkit lab load --json`)
 *
 * The typed accessors (lab_json_*) are the same reader's, shared with the
 * loader of saved lab results (results.c).
 */
#ifndef TWKIT_LAB_MSG_H
#define TWKIT_LAB_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "twx/errclass.h"
#include "twx/json.h"

/* What a load generator has counted since its load began (cumulative). */
struct lab_counts {
    uint64_t attempted;           /* connect() calls (or pool checkouts that connected) */
    uint64_t connected;           /* connections established */
    uint64_t requests;            /* 2xx responses received whole */
    uint64_t err[TWX_EC_MAX];     /* failures by class */
};

/* A latency distribution, microseconds. */
struct lab_lat {
    uint64_t p50, p90, p99, max;
    double mean;
};

/* The first failure of one class: when, and after how many connections. */
struct lab_first {
    bool seen;
    double t_s;                   /* seconds since the load began */
    uint64_t after;               /* connections established before it */
};

/* The load generator's result (message "result"). */
struct lab_load_result {
    double load_s;                /* the load's duration: rates are per second of it */
    double wall_s;                /* start to the end of the last connection */
    uint64_t threads, concurrency, requests_per_conn, sources;
    double rate;                  /* offered requests/s, 0: closed loop */
    char close[8];                /* "client", "server", "rst" */
    bool pool;
    struct lab_counts n;
    struct lab_lat conn_lat, req_lat;
    struct lab_first eana, einuse;
    int http_status;              /* first non-2xx status, 0: none */
    char *http_reason;            /* its reason-phrase, peer's bytes (owned, may be NULL) */
};

/* The backend's counters (message "backend"). */
struct lab_be_counts {
    uint64_t accepted, requests, resets, bad_requests, peer_closed, server_closed;
};

enum lab_msg_type {
    LAB_MSG_READY = 1,
    LAB_MSG_BACKEND,
    LAB_MSG_SNAPSHOT,
    LAB_MSG_COUNTERS,
    LAB_MSG_RESULT,
};

struct lab_msg {
    enum lab_msg_type type;
    uint64_t seq;                 /* snapshot, counters */
    double t_s;                   /* counters: seconds since the load began */
    uint64_t mono_ns;             /* counters: CLOCK_MONOTONIC when they were read */
    struct lab_counts counts;     /* counters */
    struct lab_be_counts be;      /* backend */
    struct lab_load_result res;   /* result */
};

/*
 * Parse one line (without its newline).  Returns 0, or -1 with the reason
 * in err ("counters: field 'seq' is missing").  Free with lab_msg_release.
 */
int lab_msg_parse(const char *line, size_t len, struct lab_msg *m, char *err, size_t errlen);
void lab_msg_release(struct lab_msg *m);

/* Writers: one line each, flushed. */
void lab_msg_ready(FILE *f);
void lab_msg_backend(FILE *f, const struct lab_be_counts *c);
void lab_msg_snapshot(FILE *f, uint64_t seq);
void lab_msg_counters(FILE *f, uint64_t seq, double t_s, uint64_t mono_ns,
                      const struct lab_counts *c);
/* The result; pretty = false writes one line (NDJSON). */
void lab_msg_result(FILE *f, const struct lab_load_result *r, bool pretty);
/* Parts that the lab's own JSON (out_json.c) writes the same way. */
void lab_msg_put_lat(struct twx_json *j, const char *key, const struct lab_lat *l);
void lab_msg_put_first(struct twx_json *j, const char *key, const struct lab_first *f);

/* ---- NDJSON framing ---------------------------------------------------------- */

#define LAB_LINE_MAX 65536

struct lab_lines {
    char b[LAB_LINE_MAX];
    size_t len;
};

/*
 * Read what fd has (one read) and call fn for each complete line, without
 * its newline and NUL-terminated; fn returns 0 to go on or a negative
 * value to stop.  Returns 1 (more may come), 0 at end of file, fn's
 * negative value, or -1 with a reason in err (a read error, a last line
 * without its newline, a line longer than LAB_LINE_MAX - 1: nothing is
 * dropped silently).
 */
int lab_lines_read(int fd, struct lab_lines *lb, int (*fn)(char *line, size_t len, void *arg),
                   void *arg, char *err, size_t errlen);

/* ---- the typed reader, shared with results.c ----------------------------- */

/* Where a read failed: the first error wins, later ones are ignored. */
struct lab_jerr {
    char *buf;
    size_t len;
    bool failed;
};

void lab_jerr_set(struct lab_jerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A member that must be an object / array (NULL after an error). */
json_t *lab_json_obj(json_t *o, const char *key, struct lab_jerr *e);
json_t *lab_json_arr(json_t *o, const char *key, struct lab_jerr *e);
/* A member that must be an object or null: NULL for null (no error). */
json_t *lab_json_obj_or_null(json_t *o, const char *key, struct lab_jerr *e);
/* Scalars; return false after an error (and *out is untouched). */
bool lab_json_u64(json_t *o, const char *key, uint64_t *out, struct lab_jerr *e);
bool lab_json_f64(json_t *o, const char *key, double *out, struct lab_jerr *e);
/* A number or null (*is_null set). */
bool lab_json_f64_or_null(json_t *o, const char *key, double *out, bool *is_null,
                          struct lab_jerr *e);
bool lab_json_bool(json_t *o, const char *key, bool *out, struct lab_jerr *e);
/* A string (borrowed from o), or NULL after an error; or_null: null -> NULL, no error. */
const char *lab_json_str(json_t *o, const char *key, struct lab_jerr *e);
const char *lab_json_str_or_null(json_t *o, const char *key, struct lab_jerr *e);
/* A first-failure object ({t_s, after_connections}) or null. */
void lab_json_first(json_t *o, const char *key, struct lab_first *f, struct lab_jerr *e);
/* An object of counts by failure class: every key must be a known class. */
bool lab_json_errclasses(json_t *o, const char *key, uint64_t err[TWX_EC_MAX],
                         struct lab_jerr *e);

#endif /* TWKIT_LAB_MSG_H */
