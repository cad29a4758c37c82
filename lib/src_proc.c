/*
 * src_proc.c — the /proc/net/tcp and /proc/net/tcp6 socket source.
 *
 * Used when netlink sock_diag is unavailable (a kernel without inet_diag,
 * a seccomp profile that forbids it), on request, and for fixtures.  The
 * files are read in large chunks and parsed in place, one line at a time;
 * nothing is kept.  The parser is strict about the fields twkit uses
 * (addresses, ports, state, timer, uid, inode) and reports the file and
 * line of anything it cannot read, because a silently wrong count is worse
 * than an error.
 *
 * Format (net/ipv4/tcp_ipv4.c get_tcp4_sock / get_timewait4_sock): addresses
 * are the in-memory 32-bit words printed with %08X, ports %04X, the state
 * %02X, "tr:tm->when" with tm->when in USER_HZ ticks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define PROC_CHUNK (256u << 10)
#define PROC_MAX_LINE 512

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parse exactly n hex digits at *p; advance. */
static bool hex_n(const char **p, const char *end, unsigned n, uint32_t *out)
{
    uint32_t v = 0;
    if ((size_t)(end - *p) < n)
        return false;
    for (unsigned i = 0; i < n; i++) {
        int h = hexval((unsigned char)(*p)[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint32_t)h;
    }
    *p += n;
    *out = v;
    return true;
}

/* Parse 1..16 hex digits (a field such as tm->when) up to a non-hex char. */
static bool hex_var(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;
    while (*p < end && hexval((unsigned char)**p) >= 0) {
        if (++n > 16)
            return false;
        v = v << 4 | (uint64_t)hexval((unsigned char)**p);
        (*p)++;
    }
    *out = v;
    return n > 0;
}

static bool dec_var(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        if (++n > 20)
            return false;
        v = v * 10 + (uint64_t)(**p - '0');
        (*p)++;
    }
    *out = v;
    return n > 0;
}

static bool spaces(const char **p, const char *end)
{
    const char *s = *p;
    while (*p < end && **p == ' ')
        (*p)++;
    return *p > s;
}

static bool expect(const char **p, const char *end, char c)
{
    if (*p < end && **p == c) {
        (*p)++;
        return true;
    }
    return false;
}

static bool addr_port(const char **p, const char *end, int family, struct tw_addr *a,
                      uint16_t *port)
{
    unsigned words = family == AF_INET ? 1 : 4;
    memset(a, 0, sizeof(*a));
    a->family = (uint8_t)family;
    for (unsigned i = 0; i < words; i++) {
        uint32_t w;
        if (!hex_n(p, end, 8, &w))
            return false;
        a->u.w[i] = w; /* the kernel printed the in-memory word: store it back as is */
    }
    uint32_t pt;
    if (!expect(p, end, ':') || !hex_n(p, end, 4, &pt))
        return false;
    *port = (uint16_t)pt;
    return true;
}

int tw_parse_proc_line(const char *line, size_t len, int family, long user_hz,
                       struct tw_sock *out)
{
    const char *p = line, *end = line + len;
    uint64_t v;
    uint32_t st, tr;
    if (family != AF_INET && family != AF_INET6)
        return TW_EMALFORMED;
    memset(out, 0, sizeof(*out));
    spaces(&p, end);
    if (!dec_var(&p, end, &v) || !expect(&p, end, ':') || !spaces(&p, end))
        return TW_EMALFORMED;
    if (!addr_port(&p, end, family, &out->laddr, &out->lport) || !spaces(&p, end))
        return TW_EMALFORMED;
    if (!addr_port(&p, end, family, &out->raddr, &out->rport) || !spaces(&p, end))
        return TW_EMALFORMED;
    if (!hex_n(&p, end, 2, &st) || !spaces(&p, end))
        return TW_EMALFORMED;
    /* tx_queue:rx_queue */
    if (!hex_var(&p, end, &v) || !expect(&p, end, ':') || !hex_var(&p, end, &v) ||
        !spaces(&p, end))
        return TW_EMALFORMED;
    /* tr:tm->when */
    uint64_t when;
    if (!hex_n(&p, end, 2, &tr) || !expect(&p, end, ':') || !hex_var(&p, end, &when) ||
        !spaces(&p, end))
        return TW_EMALFORMED;
    /* retrnsmt, uid, timeout, inode */
    uint64_t uid, inode;
    if (!hex_var(&p, end, &v) || !spaces(&p, end) || !dec_var(&p, end, &uid) ||
        !spaces(&p, end) || !dec_var(&p, end, &v) || !spaces(&p, end) ||
        !dec_var(&p, end, &inode))
        return TW_EMALFORMED;
    if (p < end && *p != ' ' && *p != '\n')
        return TW_EMALFORMED;
    if (st < 1 || st >= TW_STATE_MAX)
        return TW_EUNKSTATE;
    if (tr > 4 || uid > UINT32_MAX)
        return TW_EMALFORMED;
    out->state = (uint8_t)st;
    out->timer = (uint8_t)tr;
    out->uid = (uint32_t)uid;
    out->inode = inode;
    if (user_hz <= 0)
        user_hz = 100;
    uint64_t ms = when > UINT64_MAX / 1000 ? UINT64_MAX : when * 1000 / (uint64_t)user_hz;
    out->expires_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
    return 0;
}

/* Stream one file through the parser.  listen_only: stop at the first
 * non-LISTEN row (the kernel lists the listening table first). */
static int proc_file(struct tw_source *src, const char *path, int family,
                     const struct tw_query *q, bool listen_only, tw_sock_cb cb, void *arg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = -errno;
        snprintf(src->errmsg, sizeof(src->errmsg), "%s: %s", path, strerror(errno));
        return e;
    }
    char *buf = malloc(PROC_CHUNK + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    long hz = sysconf(_SC_CLK_TCK);
    size_t have = 0;
    unsigned long lineno = 0;
    int ret = 0;
    bool eof = false, header = true;
    while (!eof && !ret) {
        ssize_t n = read(fd, buf + have, PROC_CHUNK - have);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            snprintf(src->errmsg, sizeof(src->errmsg), "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0) {
            eof = true;
            if (have && buf[have - 1] != '\n')
                buf[have++] = '\n'; /* last line without newline */
        }
        have += (size_t)n;
        size_t off = 0;
        for (;;) {
            char *nl = memchr(buf + off, '\n', have - off);
            if (!nl)
                break;
            size_t len = (size_t)(nl - (buf + off));
            const char *line = buf + off;
            off += len + 1;
            lineno++;
            if (header) {
                header = false;
                if (len < 4 || memcmp(line, "  sl", 4)) {
                    snprintf(src->errmsg, sizeof(src->errmsg),
                             "%s line 1: not a /proc/net/tcp header", path);
                    ret = TW_EMALFORMED;
                    break;
                }
                continue;
            }
            if (len == 0)
                continue;
            struct tw_sock s;
            int e = tw_parse_proc_line(line, len, family, hz, &s);
            if (e) {
                snprintf(src->errmsg, sizeof(src->errmsg), "%s line %lu: %s", path, lineno,
                         e == TW_EUNKSTATE ? "unknown TCP state" : "malformed socket line");
                ret = e;
                break;
            }
            if (listen_only && s.state != TW_LISTEN) {
                eof = true;
                break;
            }
            if (!tw_query_match(q, &s))
                continue;
            int r = cb(&s, arg);
            if (r) {
                ret = r;
                break;
            }
        }
        if (ret || eof)
            break;
        memmove(buf, buf + off, have - off);
        have -= off;
        if (have >= PROC_CHUNK) {
            snprintf(src->errmsg, sizeof(src->errmsg), "%s line %lu: line too long", path,
                     lineno + 1);
            ret = TW_EMALFORMED;
        }
    }
    if (!ret && header) {
        snprintf(src->errmsg, sizeof(src->errmsg), "%s: empty file", path);
        ret = TW_ETRUNCATED;
    }
    free(buf);
    close(fd);
    return ret;
}

int tw__proc_dump(struct tw_source *src, const char *root, const struct tw_query *q,
                  tw_sock_cb cb, void *arg)
{
    char path[4096];
    bool listen_only = src->kind == TW_SOURCE_PROC && q->states == TW_STATE_BIT(TW_LISTEN);
    int e = 0;
    if (q->want_v4)
        e = proc_file(src, twx_path(path, sizeof(path), root, "net/tcp"), AF_INET, q,
                      listen_only, cb, arg);
    if (!e && q->want_v6) {
        e = proc_file(src, twx_path(path, sizeof(path), root, "net/tcp6"), AF_INET6, q,
                      listen_only, cb, arg);
        /* a kernel without IPv6 (or an IPv4-only fixture) has no tcp6 */
        if (e == -ENOENT) {
            src->errmsg[0] = '\0';
            e = 0;
        }
    }
    return e;
}
