/*
 * text.c — escaping of outside strings for human views.  A terminal obeys
 * control sequences in whatever it is sent, so a process name or an HTTP
 * header that reaches a root user's terminal raw can clear the screen,
 * recolour it or fake a line; newlines break a table's rows.  The rule
 * here is simple and reversible: keep what prints as itself, write every
 * other byte as \xNN and a backslash as \\.
 *
 * Also the way numbers are written for people (thousands separators,
 * binary units), so that every view writes 28,210 and 6.9 MiB alike.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twx/text.h"

/* Length of a valid UTF-8 sequence of a printable character at p, or 0. */
static size_t utf8_ok(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong or surrogate */
    if (cp >= 0x80 && cp < 0xa0)
        return 0; /* C1 controls */
    if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069))
        return 0; /* line separators and bidirectional overrides */
    return n;
}

/* Calls out(piece, n, arg) for each output piece of s. */
static void walk(const char *s, void (*out)(const char *, size_t, void *), void *arg)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n;
        if (*p >= 0x20 && *p < 0x7f) {
            if (*p == '\\')
                out("\\\\", 2, arg);
            else
                out((const char *)p, 1, arg);
            p++;
        } else if (*p >= 0x80 && (n = utf8_ok(p))) {
            out((const char *)p, n, arg);
            p += n;
        } else {
            char e[4] = {'\\', 'x', hex[*p >> 4], hex[*p & 15]};
            out(e, 4, arg);
            p++;
        }
    }
}

static void count(const char *piece, size_t n, void *arg)
{
    (void)piece;
    *(size_t *)arg += n;
}

size_t twx_esc_len(const char *s)
{
    size_t n = 1;
    walk(s, count, &n);
    return n;
}

struct sink {
    char *buf;
    size_t len, used;
    bool full;
};

static void put(const char *piece, size_t n, void *arg)
{
    struct sink *k = arg;
    if (k->full)
        return;
    if (k->used + n + 1 > k->len) {
        k->full = true;
        return;
    }
    memcpy(k->buf + k->used, piece, n);
    k->used += n;
}

char *twx_esc(char *buf, size_t len, const char *s)
{
    if (!len)
        return buf;
    struct sink k = {.buf = buf, .len = len};
    walk(s, put, &k);
    if (k.full) {
        while (k.used + 4 > len && k.used > 0)
            k.used--;
        /* do not leave half a UTF-8 sequence or escape */
        while (k.used > 0 && ((unsigned char)buf[k.used] & 0xc0) == 0x80)
            k.used--;
        if (len >= 4) {
            memcpy(buf + k.used, "...", 3);
            k.used += 3;
        }
    }
    buf[k.used < len ? k.used : len - 1] = 0;
    return buf;
}

char *twx_esc_dup(const char *s)
{
    size_t n = twx_esc_len(s);
    char *buf = malloc(n);
    return buf ? twx_esc(buf, n, s) : NULL;
}

/* ---- numbers for people ---------------------------------------------------- */

char *twx_count(char *buf, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

char *twx_bytes(char *buf, uint64_t v)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (v < 1024) {
        snprintf(buf, TWX_NUM_LEN, "%llu B", (unsigned long long)v);
        return buf;
    }
    double x = (double)v / 1024;
    int u = 0;
    /* 1023.96 KiB prints as 1024.0: move up a unit when rounding reaches it */
    while (u < 5 && x >= 1023.95) {
        x /= 1024;
        u++;
    }
    snprintf(buf, TWX_NUM_LEN, "%.1f %s", x, unit[u]);
    return buf;
}

/* ---- layout ----------------------------------------------------------------- */

size_t twx_width(const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p == 0x1b && p[1] == '[') { /* a colour sequence: no columns */
            p += 2;
            while (*p && !(*p >= 0x40 && *p <= 0x7e))
                p++;
            if (*p)
                p++;
            continue;
        }
        if ((*p & 0xc0) != 0x80)
            w++;
        p++;
    }
    return w;
}

void twx_pad(FILE *f, const char *s, size_t width)
{
    fputs(s, f);
    for (size_t w = twx_width(s); w < width; w++)
        fputc(' ', f);
}

void twx_flow_begin(struct twx_flow *w, FILE *f, size_t width, size_t indent, size_t cont)
{
    *w = (struct twx_flow){.f = f, .width = width, .indent = indent, .cont = cont,
                           .col = indent, .fresh = true};
    fprintf(f, "%*s", (int)indent, "");
}

void twx_flow_put(struct twx_flow *w, const char *sep, const char *piece)
{
    size_t pw = twx_width(piece), sw = sep ? twx_width(sep) : 0;
    if (!w->fresh && w->col + sw + pw > w->width) {
        fprintf(w->f, "\n%*s", (int)w->cont, "");
        w->col = w->cont;
        w->fresh = true;
    }
    if (!w->fresh && sep) {
        fputs(sep, w->f);
        w->col += sw;
    }
    fputs(piece, w->f);
    w->col += pw;
    w->fresh = false;
}

void twx_flow_words(struct twx_flow *w, const char *text)
{
    while (*text == ' ')
        text++;
    while (*text) {
        size_t n = strcspn(text, " ");
        char word[128];
        if (n < sizeof(word)) {
            memcpy(word, text, n);
            word[n] = 0;
            twx_flow_put(w, " ", word);
        } else {
            twx_flow_putf(w, " ", "%.*s", (int)n, text); /* a long word, whole */
        }
        text += n;
        while (*text == ' ')
            text++;
    }
}

void twx_flow_putf(struct twx_flow *w, const char *sep, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(buf)) {
        twx_flow_put(w, sep, buf);
        return;
    }
    char *big = NULL; /* longer than buf: never cut it */
    va_start(ap, fmt);
    n = vasprintf(&big, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        twx_flow_put(w, sep, big);
        free(big);
    }
}

void twx_flow_end(struct twx_flow *w)
{
    fputc('\n', w->f);
    w->col = w->indent;
    w->fresh = true;
}
