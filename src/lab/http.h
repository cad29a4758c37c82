/*
 * http.h — the lab's strict HTTP/1.x message-head parser and chunked-body
 * decoder, shared by the backend (requests) and the load generator
 * (responses).  See http.c for what "strict" means here.
 *
 * Return contract of the parsers (as picohttpparser's):
 *   > 0  the head is complete; the value is its length in bytes (the body,
 *        if any, starts there);
 *   0    the head is incomplete: read more and call again with the whole
 *        buffer;
 *   < 0  the message is malformed (LAB_HTTP_EBAD), too large
 *        (LAB_HTTP_ETOOBIG) or uses something the lab refuses
 *        (LAB_HTTP_EUNSUP, e.g. a request body in chunked encoding).
 * The parsers never read past buf[len - 1] and never allocate.
 */
#ifndef TWKIT_LAB_HTTP_H
#define TWKIT_LAB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAB_HTTP_EBAD (-1)
#define LAB_HTTP_ETOOBIG (-2)
#define LAB_HTTP_EUNSUP (-3)

#define LAB_HTTP_MAX_HEAD 8192   /* longest head accepted */
#define LAB_HTTP_MAX_HEADERS 64  /* most header fields accepted */

struct lab_http_msg {
    int minor;              /* HTTP/1.<minor>: 0 or 1 */
    int status;             /* responses: 100..599 */
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
int lab_http_parse_request(const char *buf, size_t len, struct lab_http_msg *m);
/* Parse a response head. */
int lab_http_parse_response(const char *buf, size_t len, struct lab_http_msg *m);

/* Whether the connection stays open after this message (RFC 9112 §9.3). */
bool lab_http_keepalive(const struct lab_http_msg *m);

/*
 * Body framing of a response to a non-HEAD request: LAB_BODY_LENGTH
 * (content_length bytes), LAB_BODY_CHUNKED, LAB_BODY_CLOSE (until EOF),
 * LAB_BODY_NONE (1xx, 204, 304).
 */
enum lab_body { LAB_BODY_NONE, LAB_BODY_LENGTH, LAB_BODY_CHUNKED, LAB_BODY_CLOSE };
enum lab_body lab_http_response_body(const struct lab_http_msg *m);

/* Incremental chunked-body decoder (RFC 9112 §7.1); zero-initialise. */
struct lab_chunked {
    int state;
    uint64_t left;      /* bytes left in the current chunk */
    unsigned line;      /* bytes of the current extension/trailer line */
    bool done;          /* the last chunk and trailers were consumed */
};

/*
 * Feed len bytes of body; returns the bytes consumed (stops right after
 * the end of the body, setting c->done), or LAB_HTTP_EBAD / _ETOOBIG.
 */
long lab_chunked_feed(struct lab_chunked *c, const char *buf, size_t len);

#endif /* TWKIT_LAB_HTTP_H */
