/*
 * test_twx_http.c — unit tests of the strict HTTP/1.x parser (twx/http,
 * linked from libtwx).
 * Each case feeds an exact message and checks the exact outcome: head
 * length, fields, "incomplete" for every prefix, and the error class for
 * each kind of malformed input the parser must refuse.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "twx/http.h"

static int req(const char *s, struct twx_http_msg *m)
{
    return twx_http_parse_request(s, strlen(s), m);
}

static int resp(const char *s, struct twx_http_msg *m)
{
    return twx_http_parse_response(s, strlen(s), m);
}

Test(twx_http, simple_request)
{
    struct twx_http_msg m;
    const char *s = "GET /index.html HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n";
    cr_assert_eq(req(s, &m), (int)strlen(s));
    cr_assert_eq(m.method_len, 3);
    cr_assert_eq(m.minor, 1);
    cr_assert_eq(m.target_len, 11);
    cr_assert_eq(memcmp(s + m.target_off, "/index.html", 11), 0);
    cr_assert_eq(m.content_length, -1);
    cr_assert(m.has_host);
    cr_assert(twx_http_keepalive(&m));
    cr_assert_eq(m.n_headers, 1);
}

Test(twx_http, every_prefix_is_incomplete)
{
    struct twx_http_msg m;
    const char *s = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Connection: close\r\n\r\nhello";
    int n = req(s, &m);
    cr_assert_eq(n, (int)strlen(s) - 5);
    for (int k = 0; k < n; k++)
        cr_assert_eq(twx_http_parse_request(s, (size_t)k, &m), 0, "prefix %d", k);
    cr_assert_eq(twx_http_parse_request(s, (size_t)n, &m), n);
    cr_assert_eq(m.content_length, 5);
    cr_assert(m.conn_close);
    cr_assert(!twx_http_keepalive(&m));
}

Test(twx_http, http10_keepalive_rules)
{
    struct twx_http_msg m;
    cr_assert_gt(req("GET / HTTP/1.0\r\n\r\n", &m), 0); /* no Host needed in 1.0 */
    cr_assert(!twx_http_keepalive(&m));
    cr_assert_gt(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &m), 0);
    cr_assert(twx_http_keepalive(&m));
    cr_assert_gt(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", &m), 0);
    cr_assert(m.conn_close);
}

Test(twx_http, refuses_malformed_requests)
{
    struct twx_http_msg m;
    static const char *bad[] = {
        "GET / HTTP/1.1\nHost: a\r\n\r\n",            /* bare LF */
        "GET / HTTP/1.1\r\nHost: a\n\r\n",            /* bare LF in a field */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",         /* space before colon */
        "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", /* obs-fold */
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",         /* two spaces */
        "GET / HTTP/2.0\r\nHost: a\r\n\r\n",          /* version */
        "GET / HTTP/1.1\r\n\r\n",                      /* no Host in 1.1 */
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Hosts */
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",     /* control char */
        "G(T / HTTP/1.1\r\n",                          /* not a token */
        "GET /\x7f HTTP/1.1\r\n",
        "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",     /* leading empty line */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(req(bad[i], &m), TWX_HTTP_EBAD, "case %zu", i);
    /* equal repeated Content-Length is allowed (RFC 9110 §8.6) */
    cr_assert_gt(req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", &m), 0);
    cr_assert_eq(m.content_length, 2);
}

Test(twx_http, errors_found_before_the_end)
{
    struct twx_http_msg m;
    cr_assert_eq(twx_http_parse_request("GET / HTTP/1.1\r\nHo st", 21, &m), TWX_HTTP_EBAD);
    cr_assert_eq(twx_http_parse_response("HTTP/1.1 2x", 11, &m), TWX_HTTP_EBAD);
    cr_assert_eq(twx_http_parse_response("HTTP/1.2", 8, &m), TWX_HTTP_EBAD);
}

Test(twx_http, chunked_request_unsupported)
{
    struct twx_http_msg m;
    cr_assert_eq(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &m),
                 TWX_HTTP_EUNSUP);
}

Test(twx_http, head_too_big)
{
    struct twx_http_msg m;
    static char big[TWX_HTTP_MAX_HEAD + 100];
    memcpy(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
    memset(big + 28, 'a', sizeof(big) - 28);
    cr_assert_eq(twx_http_parse_request(big, sizeof(big), &m), TWX_HTTP_ETOOBIG);
    cr_assert_eq(twx_http_parse_request(big, 4000, &m), 0);
    static char many[4096];
    size_t o = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < TWX_HTTP_MAX_HEADERS; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "X%d: y\r\n", i);
    o += (size_t)snprintf(many + o, sizeof(many) - o, "\r\n");
    cr_assert_eq(twx_http_parse_request(many, o, &m), TWX_HTTP_ETOOBIG);
}

Test(twx_http, responses)
{
    struct twx_http_msg m;
    const char *s = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 13\r\n\r\nHello, world\n";
    cr_assert_eq(resp(s, &m), (int)strlen(s) - 13);
    cr_assert_eq(m.status, 200);
    cr_assert_eq(m.reason_len, 2);
    cr_assert_eq(memcmp(s + m.reason_off, "OK", 2), 0);
    cr_assert_eq(m.content_length, 13);
    cr_assert_eq(twx_http_response_body(&m), TWX_HTTP_BODY_LENGTH);
    cr_assert(twx_http_keepalive(&m));

    cr_assert_gt(resp("HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n", &m), 0);
    cr_assert_eq(m.reason_len, 0, "an empty reason-phrase");
    cr_assert_eq(m.reason_off, 13);
    cr_assert_eq(twx_http_response_body(&m), TWX_HTTP_BODY_CHUNKED);
    cr_assert_gt(resp("HTTP/1.0 200 OK\r\n\r\n", &m), 0);
    cr_assert_eq(twx_http_response_body(&m), TWX_HTTP_BODY_CLOSE);
    cr_assert(!twx_http_keepalive(&m));
    cr_assert_gt(resp("HTTP/1.1 204 No Content\r\n\r\n", &m), 0);
    cr_assert_eq(twx_http_response_body(&m), TWX_HTTP_BODY_NONE);

    cr_assert_eq(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &m), TWX_HTTP_EUNSUP);
    cr_assert_eq(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", &m),
                 TWX_HTTP_EBAD);
    cr_assert_eq(resp("HTTP/1.1 099 OK\r\n\r\n", &m), TWX_HTTP_EBAD);
    cr_assert_eq(resp("HTTP/1.1 200OK\r\n\r\n", &m), TWX_HTTP_EBAD);
}

Test(twx_http, chunked_whole_and_bytewise)
{
    const char *b = "5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    size_t n = strlen(b);
    struct twx_http_chunked c = {0};
    cr_assert_eq(twx_http_chunked_feed(&c, b, n), (long)n - 4);
    cr_assert(c.done);
    struct twx_http_chunked d = {0};
    long tot = 0;
    for (size_t i = 0; i < n && !d.done; i++) {
        long r = twx_http_chunked_feed(&d, b + i, 1);
        cr_assert_geq(r, 0);
        tot += r;
    }
    cr_assert(d.done);
    cr_assert_eq(tot, (long)n - 4);
}

Test(twx_http, chunked_errors)
{
    struct twx_http_chunked c = {0};
    cr_assert_eq(twx_http_chunked_feed(&c, "x\r\n", 3), TWX_HTTP_EBAD);
    struct twx_http_chunked d = {0};
    cr_assert_eq(twx_http_chunked_feed(&d, "2\r\nabX", 6), TWX_HTTP_EBAD); /* no CRLF after data */
    struct twx_http_chunked e = {0};
    cr_assert_eq(twx_http_chunked_feed(&e, "2\nab", 4), TWX_HTTP_EBAD);    /* bare LF */
    struct twx_http_chunked f = {0};
    cr_assert_eq(twx_http_chunked_feed(&f, "fffffffffffffff\r\n", 17), TWX_HTTP_ETOOBIG);
}
