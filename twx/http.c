/*
 * http.c — a small, strict HTTP/1.x head parser (RFC 9110/9112) for the
 * lab's backend and load generator, plus a chunked-body decoder.
 *
 * Why hand-written: the lab needs only request and response heads with
 * Content-Length, Connection and chunked framing, and it must refuse
 * anything ambiguous, because a lenient parser in a load tool hides bugs in
 * the peer.  Strict means: CRLF line ends only (a bare LF or CR is an
 * error), no obsolete line folding, no whitespace before the colon, tokens
 * and field values limited to the characters the grammar allows, one
 * Content-Length value (repeats must agree), no Transfer-Encoding together
 * with Content-Length, exactly one Host in HTTP/1.1 requests, HTTP/1.0 and
 * 1.1 only, and a head of at most TWX_HTTP_MAX_HEAD bytes.  Errors are found
 * as early as the bytes allow, so a bad byte fails at once instead of
 * waiting for the end of the head.  The parsers scan the buffer from the
 * start on every call; heads are small and arrive in one read nearly
 * always, so resuming is not worth its state.
 */
#include "twx/http.h"

#include <string.h>

/* tchar (RFC 9110 §5.6.2) */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar plus SP/HTAB: VCHAR, obs-text, SP, HTAB */
static bool is_value_char(unsigned char c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static bool ieq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    if (alen != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)lit[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

struct cur {
    const char *b;
    size_t len, i;
};

enum { NEED_MORE = 0 };

/* Expect the CRLF that ends a line at c->i: 1 ok, 0 need more, -1 bad. */
static int eat_crlf(struct cur *c)
{
    if (c->i >= c->len)
        return 0;
    if (c->b[c->i] != '\r')
        return -1;
    if (c->i + 1 >= c->len)
        return 0;
    if (c->b[c->i + 1] != '\n')
        return -1;
    c->i += 2;
    return 1;
}

/* "HTTP/1.x" at c->i: 1 ok, 0 need more, -1 bad. */
static int eat_version(struct cur *c, int *minor)
{
    static const char v[] = "HTTP/1.";
    for (size_t k = 0; k < 7; k++) {
        if (c->i + k >= c->len)
            return 0;
        if (c->b[c->i + k] != v[k])
            return -1;
    }
    if (c->i + 7 >= c->len)
        return 0;
    char d = c->b[c->i + 7];
    if (d != '0' && d != '1')
        return -1;
    *minor = d - '0';
    c->i += 8;
    return 1;
}

/* Parse the value of Content-Length: 1*DIGIT, at most 15 digits. */
static int parse_cl(const char *v, size_t n, int64_t *out)
{
    if (n == 0 || n > 15)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

/* Connection: comma-separated tokens; note close / keep-alive. */
static int parse_connection(const char *v, size_t n, struct twx_http_msg *m)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && is_tchar((unsigned char)v[i]))
            i++;
        if (i == s) {
            if (i < n)
                return -1; /* a non-token character */
            break;
        }
        if (ieq(v + s, i - s, "close"))
            m->conn_close = true;
        else if (ieq(v + s, i - s, "keep-alive"))
            m->conn_keepalive = true;
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (i < n && v[i] != ',')
            return -1;
    }
    return 0;
}

/* Transfer-Encoding of a response: must end in "chunked". */
static int parse_te(const char *v, size_t n, struct twx_http_msg *m)
{
    /* Only the plain "chunked" coding is supported. */
    if (!ieq(v, n, "chunked"))
        return TWX_HTTP_EUNSUP;
    m->chunked = true;
    return 0;
}

/*
 * Header fields from c->i to the empty line.  Returns head length (> 0),
 * 0 for more, or an error.
 */
static int parse_fields(struct cur *c, struct twx_http_msg *m, bool request)
{
    bool have_cl = false, have_te = false;
    for (;;) {
        if (c->i >= c->len)
            return NEED_MORE;
        if (c->b[c->i] == '\r') {
            int r = eat_crlf(c);
            if (r <= 0)
                return r < 0 ? TWX_HTTP_EBAD : NEED_MORE;
            if (have_cl && have_te)
                return TWX_HTTP_EBAD;
            if (request && m->minor == 1 && !m->has_host)
                return TWX_HTTP_EBAD;
            return (int)c->i;
        }
        if (++m->n_headers > TWX_HTTP_MAX_HEADERS)
            return TWX_HTTP_ETOOBIG;
        /* field-name: token, then ':' at once (no obs-fold, no space) */
        size_t ns = c->i;
        while (c->i < c->len && is_tchar((unsigned char)c->b[c->i]))
            c->i++;
        if (c->i >= c->len)
            return NEED_MORE;
        if (c->i == ns || c->b[c->i] != ':')
            return TWX_HTTP_EBAD;
        size_t nl = c->i - ns;
        const char *name = c->b + ns;
        c->i++;
        while (c->i < c->len && (c->b[c->i] == ' ' || c->b[c->i] == '\t'))
            c->i++;
        size_t vs = c->i;
        while (c->i < c->len && is_value_char((unsigned char)c->b[c->i]))
            c->i++;
        size_t ve = c->i;
        int r = eat_crlf(c);
        if (r < 0)
            return TWX_HTTP_EBAD;
        if (r == 0)
            return NEED_MORE;
        while (ve > vs && (c->b[ve - 1] == ' ' || c->b[ve - 1] == '\t'))
            ve--;
        const char *val = c->b + vs;
        size_t vl = ve - vs;
        if (ieq(name, nl, "content-length")) {
            int64_t x;
            if (parse_cl(val, vl, &x) < 0)
                return TWX_HTTP_EBAD;
            if (have_cl && x != m->content_length)
                return TWX_HTTP_EBAD;
            have_cl = true;
            m->content_length = x;
        } else if (ieq(name, nl, "transfer-encoding")) {
            if (request)
                return TWX_HTTP_EUNSUP; /* no chunked request bodies here */
            if (have_te)
                return TWX_HTTP_EUNSUP;
            have_te = true;
            int e = parse_te(val, vl, m);
            if (e < 0)
                return e;
        } else if (ieq(name, nl, "connection")) {
            if (parse_connection(val, vl, m) < 0)
                return TWX_HTTP_EBAD;
        } else if (ieq(name, nl, "host")) {
            if (m->has_host)
                return TWX_HTTP_EBAD;
            m->has_host = true;
        }
    }
}

static void msg_init(struct twx_http_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->content_length = -1;
}

static int finish(int r, size_t len)
{
    if (r == NEED_MORE && len >= TWX_HTTP_MAX_HEAD)
        return TWX_HTTP_ETOOBIG;
    if (r > TWX_HTTP_MAX_HEAD)
        return TWX_HTTP_ETOOBIG;
    return r;
}

static int parse_request(const char *buf, size_t len, struct twx_http_msg *m)
{
    struct cur c = {buf, len > TWX_HTTP_MAX_HEAD ? TWX_HTTP_MAX_HEAD : len, 0};
    /* method SP */
    while (c.i < c.len && is_tchar((unsigned char)buf[c.i]))
        c.i++;
    if (c.i >= c.len)
        return NEED_MORE;
    if (c.i == 0 || buf[c.i] != ' ' || c.i > 16)
        return TWX_HTTP_EBAD;
    m->method_len = c.i++;
    /* request-target SP: visible ASCII only */
    m->target_off = c.i;
    while (c.i < c.len && (unsigned char)buf[c.i] > 0x20 && (unsigned char)buf[c.i] < 0x7f)
        c.i++;
    if (c.i >= c.len)
        return NEED_MORE;
    if (c.i == m->target_off || buf[c.i] != ' ')
        return TWX_HTTP_EBAD;
    m->target_len = c.i - m->target_off;
    c.i++;
    int r = eat_version(&c, &m->minor);
    if (r <= 0)
        return r < 0 ? TWX_HTTP_EBAD : NEED_MORE;
    r = eat_crlf(&c);
    if (r <= 0)
        return r < 0 ? TWX_HTTP_EBAD : NEED_MORE;
    return parse_fields(&c, m, true);
}

int twx_http_parse_request(const char *buf, size_t len, struct twx_http_msg *m)
{
    msg_init(m);
    return finish(parse_request(buf, len, m), len);
}

static int parse_response(const char *buf, size_t len, struct twx_http_msg *m)
{
    struct cur c = {buf, len > TWX_HTTP_MAX_HEAD ? TWX_HTTP_MAX_HEAD : len, 0};
    int r = eat_version(&c, &m->minor);
    if (r <= 0)
        return r < 0 ? TWX_HTTP_EBAD : NEED_MORE;
    /* SP 3DIGIT SP */
    for (int k = 0; k < 5; k++) {
        if (c.i >= c.len)
            return NEED_MORE;
        char ch = buf[c.i++];
        if (k == 0 || k == 4) {
            if (ch != ' ')
                return TWX_HTTP_EBAD;
        } else {
            if (ch < '0' || ch > '9')
                return TWX_HTTP_EBAD;
            m->status = m->status * 10 + (ch - '0');
        }
    }
    if (m->status < 100)
        return TWX_HTTP_EBAD;
    /* reason-phrase: HTAB / SP / VCHAR / obs-text */
    m->reason_off = c.i;
    while (c.i < c.len && is_value_char((unsigned char)buf[c.i]))
        c.i++;
    m->reason_len = c.i - m->reason_off;
    r = eat_crlf(&c);
    if (r <= 0)
        return r < 0 ? TWX_HTTP_EBAD : NEED_MORE;
    return parse_fields(&c, m, false);
}

int twx_http_parse_response(const char *buf, size_t len, struct twx_http_msg *m)
{
    msg_init(m);
    return finish(parse_response(buf, len, m), len);
}

bool twx_http_keepalive(const struct twx_http_msg *m)
{
    if (m->conn_close)
        return false;
    return m->minor == 1 || m->conn_keepalive;
}

enum twx_http_body twx_http_response_body(const struct twx_http_msg *m)
{
    if (m->status < 200 || m->status == 204 || m->status == 304)
        return TWX_HTTP_BODY_NONE;
    if (m->chunked)
        return TWX_HTTP_BODY_CHUNKED;
    if (m->content_length >= 0)
        return TWX_HTTP_BODY_LENGTH;
    return TWX_HTTP_BODY_CLOSE;
}

/* ---- chunked decoder ------------------------------------------------------ */

enum {
    CH_SIZE0,     /* first hex digit of a chunk size */
    CH_SIZE,      /* more hex digits */
    CH_EXT,       /* chunk extension up to CR */
    CH_SIZE_LF,   /* LF after the size line */
    CH_DATA,      /* chunk data */
    CH_DATA_CR,   /* CR after data */
    CH_DATA_LF,   /* LF after data */
    CH_TRAILER0,  /* start of a trailer line or the final CRLF */
    CH_TRAILER,   /* inside a trailer line */
    CH_TRAILER_LF,
    CH_END_LF,    /* LF of the final CRLF */
};

#define TWX_HTTP_CHUNK_MAX ((uint64_t)1 << 40)
#define TWX_HTTP_CHUNK_LINE_MAX 1024u

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

long twx_http_chunked_feed(struct twx_http_chunked *c, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && !c->done) {
        char ch = buf[i];
        switch (c->state) {
        case CH_SIZE0:
        case CH_SIZE: {
            int h = hexval(ch);
            if (h >= 0) {
                if (c->left >= TWX_HTTP_CHUNK_MAX)
                    return TWX_HTTP_ETOOBIG;
                c->left = c->left * 16 + (uint64_t)h;
                c->state = CH_SIZE;
                i++;
                break;
            }
            if (c->state == CH_SIZE0)
                return TWX_HTTP_EBAD;
            if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = CH_EXT;
                c->line = 0;
                i++;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
                i++;
            } else {
                return TWX_HTTP_EBAD;
            }
            break;
        }
        case CH_EXT:
            if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else if (!is_value_char((unsigned char)ch)) {
                return TWX_HTTP_EBAD;
            } else if (++c->line > TWX_HTTP_CHUNK_LINE_MAX) {
                return TWX_HTTP_ETOOBIG;
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return TWX_HTTP_EBAD;
            i++;
            c->state = c->left ? CH_DATA : CH_TRAILER0;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->left)
                n = (size_t)c->left;
            i += n;
            c->left -= n;
            if (!c->left)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (ch != '\r')
                return TWX_HTTP_EBAD;
            i++;
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return TWX_HTTP_EBAD;
            i++;
            c->state = CH_SIZE0;
            break;
        case CH_TRAILER0:
            if (ch == '\r') {
                c->state = CH_END_LF;
            } else if (is_tchar((unsigned char)ch)) {
                c->state = CH_TRAILER;
                c->line = 1;
            } else {
                return TWX_HTTP_EBAD;
            }
            i++;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_TRAILER_LF;
            } else if (!is_value_char((unsigned char)ch) && ch != ':') {
                return TWX_HTTP_EBAD;
            } else if (++c->line > TWX_HTTP_CHUNK_LINE_MAX) {
                return TWX_HTTP_ETOOBIG;
            }
            i++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n')
                return TWX_HTTP_EBAD;
            i++;
            c->state = CH_TRAILER0;
            break;
        case CH_END_LF:
            if (ch != '\n')
                return TWX_HTTP_EBAD;
            i++;
            c->done = true;
            break;
        default:
            return TWX_HTTP_EBAD;
        }
    }
    return (long)i;
}
