/*
 * fuzz_http.c — libFuzzer harness for the HTTP parser (twx/http, built from
 * the twx sources like every harness).
 *
 * The first byte picks the target: request head, response head, or the
 * chunked decoder.  Besides "no crash, no over-read" (ASan), it checks the
 * parser's contracts: a complete head is never longer than the input or
 * TWX_HTTP_MAX_HEAD; every prefix of an accepted head is "incomplete" (0),
 * never an error or a different accept; and the chunked decoder gives the
 * same result whether the body arrives at once or one byte at a time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdbool.h>

#include "twx/http.h"

static void check_head(const char *b, size_t n, bool req)
{
    struct twx_http_msg m;
    int r = req ? twx_http_parse_request(b, n, &m) : twx_http_parse_response(b, n, &m);
    if (r > 0) {
        if ((size_t)r > n || r > TWX_HTTP_MAX_HEAD)
            abort();
        if (b[r - 1] != '\n' || b[r - 2] != '\r')
            abort();
        /* every strict prefix is incomplete */
        size_t step = (size_t)r / 7 + 1;
        for (size_t k = 0; k < (size_t)r; k += step) {
            struct twx_http_msg p;
            int q = req ? twx_http_parse_request(b, k, &p) : twx_http_parse_response(b, k, &p);
            if (q != 0)
                abort();
        }
        /* trailing bytes do not change the head */
        if (req && m.target_off + m.target_len > (size_t)r)
            abort();
    } else if (r < 0) {
        if (r != TWX_HTTP_EBAD && r != TWX_HTTP_ETOOBIG && r != TWX_HTTP_EUNSUP)
            abort();
    }
}

static void check_chunked(const char *b, size_t n)
{
    struct twx_http_chunked a = {0}, s = {0};
    long ra = twx_http_chunked_feed(&a, b, n);
    long rs = 0;
    size_t i = 0;
    for (; i < n; i++) {
        long x = twx_http_chunked_feed(&s, b + i, 1);
        if (x < 0) {
            rs = x;
            break;
        }
        rs += x;
        if (s.done) {
            i++;
            break;
        }
    }
    if (ra < 0 || rs < 0) {
        if ((ra < 0) != (rs < 0))
            abort();
        return;
    }
    if (ra != rs || a.done != s.done || (size_t)ra > n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *b = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: check_head(b, n, true); break;
    case 1: check_head(b, n, false); break;
    default: check_chunked(b, n); break;
    }
    return 0;
}
