/*
 * test_lab_msg.c — the lab's process messages (src/lab/msg.c,
 * docs/lab-ipc.md): every writer's line reads back to the same values;
 * reordered and added fields lose nothing; a missing field, a field of the
 * wrong type, a negative or fractional count, an unknown failure class, a
 * duplicate key, an unknown type and bytes that are not JSON are each an
 * error that names the problem, never a silent zero; and the NDJSON framing
 * delivers every line and refuses a line that does not fit.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/msg.h"

/* Write with fn into a string (one line, newline removed). */
#define WRITE(buf, call)                                                       \
    do {                                                                       \
        size_t len_;                                                           \
        FILE *f = open_memstream(&(buf), &len_);                               \
        cr_assert_not_null(f);                                                 \
        call;                                                                  \
        fclose(f);                                                             \
        cr_assert_gt(len_, 1);                                                 \
        cr_assert_eq((buf)[len_ - 1], '\n', "one line, ended");                \
        cr_assert_null(memchr((buf), '\n', len_ - 1), "only one line");        \
        (buf)[len_ - 1] = 0;                                                   \
    } while (0)

static int parse(const char *s, struct lab_msg *m, char *err, size_t len)
{
    return lab_msg_parse(s, strlen(s), m, err, len);
}

static void must_fail(const char *line, const char *why)
{
    struct lab_msg m;
    char err[256] = "";
    cr_assert_eq(parse(line, &m, err, sizeof(err)), -1, "accepted: %s", line);
    cr_assert(strstr(err, why), "'%s': the reason '%s' does not say '%s'", line, err, why);
}

Test(lab_msg, counters_round_trip)
{
    struct lab_counts c = {.attempted = 1234567, .connected = 1234000, .requests = 1233999};
    for (int k = 0; k < TWX_EC_MAX; k++)
        c.err[k] = 1000u * (unsigned)k + 7;
    char *line = NULL;
    WRITE(line, lab_msg_counters(f, 42, 1.25, 987654321012ull, &c));
    struct lab_msg m;
    char err[256];
    cr_assert_eq(parse(line, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.type, LAB_MSG_COUNTERS);
    cr_assert_eq(m.seq, 42);
    cr_assert_float_eq(m.t_s, 1.25, 1e-9);
    cr_assert_eq(m.mono_ns, 987654321012ull);
    cr_assert_eq(memcmp(&m.counts, &c, sizeof(c)), 0);
    free(line);
}

Test(lab_msg, result_round_trip_with_a_peer_reason)
{
    struct lab_load_result r = {
        .load_s = 3.0, .wall_s = 3.012, .threads = 2, .concurrency = 256, .rate = 4000,
        .requests_per_conn = 1, .sources = 0, .pool = false,
        .n = {.attempted = 11999, .connected = 3000, .requests = 2999},
        .conn_lat = {10, 20, 30, 40, 12.5}, .req_lat = {100, 200, 300, 400, 150.5},
        .eana = {true, 0.25, 999}, .einuse = {false, 0, 0},
        .http_status = 503, .http_reason = "Busy \x1b[2J \"now\"",
    };
    snprintf(r.close, sizeof(r.close), "client");
    r.n.err[TWX_EC_ADDRNOTAVAIL] = 8998;
    r.n.err[TWX_EC_HTTP] = 1;
    char *line = NULL;
    WRITE(line, lab_msg_result(f, &r, false));
    struct lab_msg m;
    char err[256];
    cr_assert_eq(parse(line, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.type, LAB_MSG_RESULT);
    cr_assert_float_eq(m.res.load_s, 3.0, 1e-9);
    cr_assert_float_eq(m.res.wall_s, 3.012, 1e-9);
    cr_assert_eq(m.res.n.attempted, 11999);
    cr_assert_eq(m.res.n.connected, 3000);
    cr_assert_eq(m.res.n.requests, 2999);
    cr_assert_eq(m.res.n.err[TWX_EC_ADDRNOTAVAIL], 8998);
    cr_assert_eq(m.res.req_lat.p99, 300);
    cr_assert(m.res.eana.seen);
    cr_assert_eq(m.res.eana.after, 999);
    cr_assert(!m.res.einuse.seen);
    cr_assert_str_eq(m.res.close, "client");
    cr_assert_eq(m.res.http_status, 503);
    cr_assert_str_eq(m.res.http_reason, "Busy \x1b[2J \"now\"", "the peer's bytes, whole");
    lab_msg_release(&m);
    free(line);
}

Test(lab_msg, ready_backend_snapshot)
{
    char *line = NULL;
    struct lab_msg m;
    char err[256];
    WRITE(line, lab_msg_ready(f));
    cr_assert_eq(parse(line, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.type, LAB_MSG_READY);
    free(line);
    struct lab_be_counts be = {1, 2, 3, 4, 5, 6};
    WRITE(line, lab_msg_backend(f, &be));
    cr_assert_eq(parse(line, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.type, LAB_MSG_BACKEND);
    cr_assert_eq(memcmp(&m.be, &be, sizeof(be)), 0);
    free(line);
    WRITE(line, lab_msg_snapshot(f, 7));
    cr_assert_eq(parse(line, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.type, LAB_MSG_SNAPSHOT);
    cr_assert_eq(m.seq, 7);
    free(line);
}

Test(lab_msg, reordered_and_added_fields_lose_nothing)
{
    const char *line = "{\"server_closed\":6,\"new_field\":[1,{\"x\":2}],\"peer_closed\":5,"
                       "\"bad_requests\":4,\"resets\":3,\"requests\":2,\"accepted\":1,"
                       "\"type\":\"backend\",\"also_new\":\"yes\"}";
    struct lab_msg m;
    char err[256];
    cr_assert_eq(parse(line, &m, err, sizeof(err)), 0, "%s", err);
    struct lab_be_counts want = {1, 2, 3, 4, 5, 6};
    cr_assert_eq(memcmp(&m.be, &want, sizeof(want)), 0);
}

Test(lab_msg, malformed_is_an_error_not_a_zero)
{
    must_fail("{\"type\":\"backend\",\"accepted\":1,\"requests\":2,\"resets\":3,"
              "\"bad_requests\":4,\"peer_closed\":5}",
              "'server_closed' is missing");
    must_fail("{\"type\":\"snapshot\",\"seq\":\"7\"}", "'seq' is not a count");
    must_fail("{\"type\":\"snapshot\",\"seq\":-1}", "'seq' is not a count");
    must_fail("{\"type\":\"snapshot\",\"seq\":1.5}", "'seq' is not a count");
    must_fail("{\"type\":\"snapshot\",\"seq\":1,\"seq\":2}", "duplicate");
    must_fail("{\"type\":\"hello\"}", "unknown message type 'hello'");
    must_fail("{\"seq\":1}", "'type' is missing");
    must_fail("[\"snapshot\"]", "not a JSON object");
    must_fail("T 100 5 5 5 0 0 0", "not JSON");
    must_fail("{\"type\":\"snapshot\",\"seq\":1} trailing", "not JSON");
    must_fail("", "not JSON");
    must_fail("{\"type\":\"snapshot\",\"seq\":99999999999999999999999}", "not JSON");
}

Test(lab_msg, failure_classes_are_checked_by_name)
{
    struct lab_counts c = {0};
    char *line = NULL;
    WRITE(line, lab_msg_counters(f, 1, 0.1, 5, &c));
    /* an unknown class: refused, not dropped */
    char *bad = NULL;
    cr_assert_geq(asprintf(&bad, "%.*s,\"ENEWKIND\":3}}", (int)strlen(line) - 2, line), 0);
    must_fail(bad, "unknown failure class 'ENEWKIND'");
    free(bad);
    /* a missing class */
    char *gone = strdup(line), *p = strstr(gone, "\"EPIPE\":0,");
    cr_assert_not_null(p);
    memmove(p, p + strlen("\"EPIPE\":0,"), strlen(p + strlen("\"EPIPE\":0,")) + 1);
    must_fail(gone, "errors: field 'EPIPE' is missing");
    free(gone);
    free(line);
}

struct seen {
    int n;
    char lines[8][64];
};

static int collect(char *line, size_t len, void *arg)
{
    struct seen *s = arg;
    cr_assert_eq(strlen(line), len);
    snprintf(s->lines[s->n++], 64, "%s", line);
    return 0;
}

Test(lab_msg, framing_delivers_every_line_and_refuses_overlong_ones)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    struct lab_lines *lb = calloc(1, sizeof(*lb));
    struct seen s = {0};
    char err[128];
    cr_assert_eq(write(p[1], "one\ntw", 6), 6);
    cr_assert_eq(lab_lines_read(p[0], lb, collect, &s, err, sizeof(err)), 1);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(write(p[1], "o\nthree\n", 8), 8);
    cr_assert_eq(lab_lines_read(p[0], lb, collect, &s, err, sizeof(err)), 1);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.lines[1], "two");
    cr_assert_str_eq(s.lines[2], "three");
    cr_assert_eq(write(p[1], "half", 4), 4);
    close(p[1]);
    cr_assert_eq(lab_lines_read(p[0], lb, collect, &s, err, sizeof(err)), 1);
    cr_assert_eq(lab_lines_read(p[0], lb, collect, &s, err, sizeof(err)), -1,
                 "a last line without its newline is an error");
    cr_assert(strstr(err, "inside a line"), "%s", err);
    close(p[0]);

    /* a line longer than the buffer */
    cr_assert_eq(pipe(p), 0);
    memset(lb, 0, sizeof(*lb));
    static char big[LAB_LINE_MAX + 16];
    memset(big, 'x', sizeof(big));
    int rc = 1;
    size_t off = 0;
    while (rc == 1 && off < sizeof(big)) {
        ssize_t w = write(p[1], big + off, 4096 < sizeof(big) - off ? 4096 : sizeof(big) - off);
        cr_assert_gt(w, 0);
        off += (size_t)w;
        rc = lab_lines_read(p[0], lb, collect, &s, err, sizeof(err));
    }
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err, "longer than"), "%s", err);
    close(p[0]);
    close(p[1]);
    free(lb);
}
