/*
 * twx/http.h — a strict HTTP/1.x message-head parser and chunked-body
 * decoder (internal tier; not installed).  The lab's backend parses
 * requests with it and its load generator responses; tests and the fuzzer
 * link it from libtwx.  See http.c for what "strict" means here.
 *
 * Return contract of the parsers (as picohttpparser's):
 *   > 0  the head is complete; the value is its length in bytes (the body,
 *        if any, starts there);
 *   0    the head is incomplete: read more and call again with the whole
 *        buffer;
 *   < 0  the message is malformed (TWX_HTTP_EBAD), too large
 *        (TWX_HTTP_ETOOBIG) or uses something the lab refuses
 *        (TWX_HTTP_EUNSUP, e.g. a request body in chunked encoding).
 * The parsers never read past buf[len - 1] and never allocate.
 */
#ifndef TWKIT_TWX_HTTP_H
#define TWKIT_TWX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TWX_HTTP_EBAD (-1)
#define TWX_HTTP_ETOOBIG (-2)
#define TWX_HTTP_EUNSUP (-3)

#define TWX_HTTP_MAX_HEAD 8192   /* longest head accepted */
#define TWX_HTTP_MAX_HEADERS 64  /* most header fields accepted */

struct twx_http_msg {
    int minor;              /* HTTP/1.<minor>: 0 or 1 */
    int status;             /* responses: 100..599 */
    size_t reason_off, reason_len; /* responses: reason-phrase (may be empty);
                                    * bytes from a peer: escape before showing */
    size_t method_len;      /* requests: method token, at buf[0] */
    size_t target_off, target_len; /* requests: request-target */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked (responses only) */
    bool conn_close;        /* Connection: close */
    bool conn_keepalive;    /* Connection: keep-alive */
    bool has_host;          /* a Host header was present */
    unsigned n_headers;
};

/* Parse a request head.  HTTP/1.1 requires exactly one Host header. */
int twx_http_parse_request(const char *buf, size_t len, struct twx_http_msg *m);
/* Parse a response head. */
int twx_http_parse_response(const char *buf, size_t len, struct twx_http_msg *m);

/* Whether the connection stays open after this message (RFC 9112 §9.3). */
bool twx_http_keepalive(const struct twx_http_msg *m);

/*
 * Body framing of a response to a non-HEAD request: TWX_HTTP_BODY_LENGTH
 * (content_length bytes), TWX_HTTP_BODY_CHUNKED, TWX_HTTP_BODY_CLOSE (until EOF),
 * TWX_HTTP_BODY_NONE (1xx, 204, 304).
 */
enum twx_http_body { TWX_HTTP_BODY_NONE, TWX_HTTP_BODY_LENGTH, TWX_HTTP_BODY_CHUNKED, TWX_HTTP_BODY_CLOSE };
enum twx_http_body twx_http_response_body(const struct twx_http_msg *m);

/* Incremental chunked-body decoder (RFC 9112 §7.1); zero-initialise. */
struct twx_http_chunked {
    int state;
    uint64_t left;      /* bytes left in the current chunk */
    unsigned line;      /* bytes of the current extension/trailer line */
    bool done;          /* the last chunk and trailers were consumed */
};

/*
 * Feed len bytes of body; returns the bytes consumed (stops right after
 * the end of the body, setting c->done), or TWX_HTTP_EBAD / _ETOOBIG.
 */
long twx_http_chunked_feed(struct twx_http_chunked *c, const char *buf, size_t len);

#endif /* TWKIT_TWX_HTTP_H */
