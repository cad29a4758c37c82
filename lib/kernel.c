/*
 * kernel.c — sysctls, sockstat, TCP counters and slab sizes of a namespace.
 *
 * These are the numbers twkit puts next to the socket dump: the port range
 * that bounds ephemeral ports, the reuse settings that decide which
 * TIME_WAIT sockets connect() may take over, the tcp_max_tw_buckets limit,
 * the kernel's own TIME_WAIT count (sockstat) to cross-check the dump, and
 * the slab object size that gives the memory cost of a TIME_WAIT socket
 * (measured, not the folklore "1 KB").  Everything is read from a proc root
 * so that fixtures can stand in for /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "internal.h"

/* Dotted sysctl name -> "<root>/sys/net/ipv4/..." */
static int sysctl_path(char *buf, size_t len, const char *root, const char *name)
{
    char rel[256];
    size_t n = strlen(name);
    if (!n || n + 5 >= sizeof(rel) || strstr(name, "..") || name[0] == '/' || name[0] == '.')
        return TW_EBADOPT;
    snprintf(rel, sizeof(rel), "sys/%s", name);
    for (char *p = rel + 4; *p; p++)
        if (*p == '.')
            *p = '/';
    twx_path(buf, len, root, rel);
    return 0;
}

int tw_sysctl_read(const char *root, const char *name, char *buf, size_t len)
{
    char path[4096];
    int e = sysctl_path(path, sizeof(path), root, name);
    if (e)
        return e;
    int n = twx_read_small(path, buf, len);
    if (n < 0)
        return n;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return n;
}

int tw_sysctl_write(const char *root, const char *name, const char *value)
{
    char path[4096];
    int e = sysctl_path(path, sizeof(path), root, name);
    if (e)
        return e;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(value);
    ssize_t w = write(fd, value, n);
    e = w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
    if (close(fd) < 0 && !e)
        e = -errno;
    return e;
}

/* Read a sysctl holding one integer; *out untouched (-1 stays) when absent. */
static int sysctl_long(const char *root, const char *name, long *out, char *err, size_t errlen)
{
    char buf[64];
    int n = tw_sysctl_read(root, name, buf, sizeof(buf));
    if (n == -ENOENT)
        return 0;
    if (n < 0) {
        if (err)
            snprintf(err, errlen, "%s: %s", name, tw_strerror(n));
        return n;
    }
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || end == buf || *end) {
        if (err)
            snprintf(err, errlen, "%s: not a number: '%s'", name, buf);
        return TW_EMALFORMED;
    }
    *out = v;
    return 0;
}

int tw_parse_port_list(const char *s, struct tw_kernel *k)
{
    memset(k->reserved, 0, sizeof(k->reserved));
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    while (*p && *p != '\n') {
        char *end;
        errno = 0;
        long lo = strtol(p, &end, 10), hi;
        if (errno || end == p || lo < 0 || lo > 65535)
            return TW_EMALFORMED;
        p = end;
        hi = lo;
        if (*p == '-') {
            p++;
            hi = strtol(p, &end, 10);
            if (errno || end == p || hi < lo || hi > 65535)
                return TW_EMALFORMED;
            p = end;
        }
        for (long i = lo; i <= hi; i++)
            k->reserved[i >> 3] |= (uint8_t)(1u << (i & 7));
        if (*p == ',')
            p++;
        else if (*p && *p != '\n')
            return TW_EMALFORMED;
    }
    return 0;
}

int tw_parse_sockstat(const char *buf, size_t len, struct tw_kernel *k)
{
    const char *end = buf + len;
    const char *line = buf;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
        if (n > 5 && !memcmp(line, "TCP: ", 5)) {
            char tmp[256];
            if (n >= sizeof(tmp))
                return TW_EMALFORMED;
            memcpy(tmp, line + 5, n - 5);
            tmp[n - 5] = '\0';
            long *dst[5] = {&k->sock_inuse, &k->sock_orphan, &k->sock_tw, &k->sock_alloc,
                            &k->sock_mem_pages};
            static const char *const names[5] = {"inuse", "orphan", "tw", "alloc", "mem"};
            int seen = 0;
            char *save = NULL;
            for (char *tok = strtok_r(tmp, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                char *val = strtok_r(NULL, " ", &save);
                if (!val)
                    return TW_EMALFORMED;
                char *e;
                errno = 0;
                long v = strtol(val, &e, 10);
                if (errno || *e || v < 0)
                    return TW_EMALFORMED;
                for (int i = 0; i < 5; i++)
                    if (!strcmp(tok, names[i])) {
                        *dst[i] = v;
                        seen |= 1 << i;
                    }
            }
            return (seen & 4) ? 0 : TW_EMALFORMED; /* tw is what twkit needs */
        }
        line += n + 1;
    }
    return TW_EMALFORMED;
}

int tw_kernel_read_sockstat(struct tw_kernel *k, const char *root)
{
    char path[4096], buf[4096];
    int n = twx_read_small(twx_path(path, sizeof(path), root, "net/sockstat"), buf, sizeof(buf));
    if (n < 0)
        return n;
    return tw_parse_sockstat(buf, (size_t)n, k);
}

/* Slab size of a cache: /sys/kernel/slab/NAME/slab_size, or <root>/slab/NAME/slab_size. */
static unsigned slab_size(const char *root, const char *cache)
{
    char path[4096], buf[64];
    if (root && strcmp(root, "/proc"))
        snprintf(path, sizeof(path), "%s/slab/%s/slab_size", root, cache);
    else
        snprintf(path, sizeof(path), "/sys/kernel/slab/%s/slab_size", cache);
    if (twx_read_small(path, buf, sizeof(buf)) > 0) {
        long v = strtol(buf, NULL, 10);
        if (v > 0 && v < 65536)
            return (unsigned)v;
    }
    if (root && strcmp(root, "/proc"))
        return 0;
    /* /proc/slabinfo (root only): "name active num objsize ..." */
    FILE *f = fopen("/proc/slabinfo", "re");
    if (!f)
        return 0;
    char line[512];
    unsigned r = 0;
    size_t cl = strlen(cache);
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, cache, cl) && line[cl] == ' ') {
            unsigned long a, nobj, sz;
            if (sscanf(line + cl, "%lu %lu %lu", &a, &nobj, &sz) == 3 && sz < 65536)
                r = (unsigned)sz;
            break;
        }
    }
    fclose(f);
    return r;
}

int tw_kernel_read(struct tw_kernel *k, const char *root, char *err, size_t errlen)
{
    char buf[65536];
    memset(k, 0, sizeof(*k));
    if (err && errlen)
        err[0] = '\0';
    k->port_lo = k->port_hi = -1;
    long reuse = -1, delay = -1, ts = -1, maxtw = -1, fin = -1, rfc = -1;
    int n = tw_sysctl_read(root, "net.ipv4.ip_local_port_range", buf, sizeof(buf));
    if (n < 0) {
        if (err)
            snprintf(err, errlen, "net.ipv4.ip_local_port_range: %s", tw_strerror(n));
        return n;
    }
    if (sscanf(buf, "%d %d", &k->port_lo, &k->port_hi) != 2 || k->port_lo < 1 ||
        k->port_hi > 65535 || k->port_lo > k->port_hi) {
        if (err)
            snprintf(err, errlen, "net.ipv4.ip_local_port_range: malformed '%s'", buf);
        return TW_EMALFORMED;
    }
    n = tw_sysctl_read(root, "net.ipv4.ip_local_reserved_ports", buf, sizeof(buf));
    if (n >= 0 && tw_parse_port_list(buf, k)) {
        if (err)
            snprintf(err, errlen, "net.ipv4.ip_local_reserved_ports: malformed");
        return TW_EMALFORMED;
    }
    for (int p = k->port_lo; p <= k->port_hi; p++)
        k->n_reserved += tw_kernel_reserved(k, (unsigned)p);
    int e;
    if ((e = sysctl_long(root, "net.ipv4.tcp_tw_reuse", &reuse, err, errlen)) ||
        (e = sysctl_long(root, "net.ipv4.tcp_tw_reuse_delay", &delay, err, errlen)) ||
        (e = sysctl_long(root, "net.ipv4.tcp_timestamps", &ts, err, errlen)) ||
        (e = sysctl_long(root, "net.ipv4.tcp_max_tw_buckets", &maxtw, err, errlen)) ||
        (e = sysctl_long(root, "net.ipv4.tcp_fin_timeout", &fin, err, errlen)) ||
        (e = sysctl_long(root, "net.ipv4.tcp_rfc1337", &rfc, err, errlen)))
        return e;
    k->tw_reuse = (int)reuse;
    k->tw_reuse_delay_ms = (int)delay;
    k->timestamps = (int)ts;
    k->max_tw_buckets = maxtw;
    k->fin_timeout = (int)fin;
    k->rfc1337 = (int)rfc;
    k->sock_inuse = k->sock_orphan = k->sock_tw = k->sock_alloc = k->sock_mem_pages = -1;
    e = tw_kernel_read_sockstat(k, root);
    if (e) {
        if (err)
            snprintf(err, errlen, "%s/net/sockstat: %s", root ? root : "/proc", tw_strerror(e));
        return e;
    }
    k->tw_slab_v4 = slab_size(root, "tw_sock_TCP");
    k->tw_slab_v6 = slab_size(root, "tw_sock_TCPv6");
    k->bind_slab = slab_size(root, "tcp_bind_bucket");
    k->bind2_slab = slab_size(root, "tcp_bind2_bucket");
    if (!root || !strcmp(root, "/proc")) {
        struct utsname u;
        if (uname(&u) == 0)
            snprintf(k->release, sizeof(k->release), "%s", u.release);
    }
    return 0;
}

/* ---- counters ---------------------------------------------------------------- */

static const struct {
    const char *sect, *name;
} counter_names[TW_C_MAX] = {
#define TW__CTR_NAME(id, sect, name) [id] = {sect, name},
    TW_COUNTER_MAP(TW__CTR_NAME)
#undef TW__CTR_NAME
};

const char *tw_counter_name(enum tw_counter_id id)
{
    return id < TW_C_MAX ? counter_names[id].name : "?";
}

const char *tw_counter_section(enum tw_counter_id id)
{
    return id < TW_C_MAX ? counter_names[id].sect : "?";
}

/* Split s into whitespace-separated tokens in place; returns count. */
static size_t split(char *s, char **tok, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save))
        tok[n++] = t;
    return n;
}

int tw_parse_snmp(const char *buf, size_t len, struct tw_counters *c)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, buf, len);
    copy[len] = '\0';
    int ret = 0;
    char *save = NULL;
    char *names = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon) {
            ret = TW_EMALFORMED;
            break;
        }
        if (!names) {
            names = line;
            continue;
        }
        /* a values line must carry the same section name as its names line */
        size_t sl = (size_t)(colon - line);
        if (strncmp(names, line, sl + 1)) {
            ret = TW_EMALFORMED;
            break;
        }
        *colon = '\0';
        char *nt[512], *vt[512];
        size_t nn = split(strchr(names, ':') + 1, nt, 512);
        size_t nv = split(colon + 1, vt, 512);
        if (nn != nv) {
            ret = TW_EMALFORMED;
            break;
        }
        for (size_t i = 0; i < nn; i++) {
            for (int id = 0; id < TW_C_MAX; id++) {
                if (strcmp(counter_names[id].sect, line) || strcmp(counter_names[id].name, nt[i]))
                    continue;
                char *e;
                errno = 0;
                /* snmp values can be negative (MaxConn -1): parse signed, keep as is */
                long long v = strtoll(vt[i], &e, 10);
                if (errno || *e) {
                    ret = TW_EMALFORMED;
                    goto out;
                }
                c->v[id] = (uint64_t)v;
                c->have[id] = true;
            }
        }
        names = NULL;
    }
    if (!ret && names)
        ret = TW_ETRUNCATED;
out:
    free(copy);
    return ret;
}

int tw_counters_read(struct tw_counters *c, const char *root)
{
    static __thread char buf[65536];
    char path[4096];
    memset(c, 0, sizeof(*c));
    static const char *const files[2] = {"net/snmp", "net/netstat"};
    for (int i = 0; i < 2; i++) {
        int n = twx_read_small(twx_path(path, sizeof(path), root, files[i]), buf, sizeof(buf));
        if (n < 0)
            return n;
        int e = tw_parse_snmp(buf, (size_t)n, c);
        if (e)
            return e;
    }
    return 0;
}

/* ---- recording ------------------------------------------------------------- */

int tw_kernel_record(const char *root, const char *dir)
{
    static const char *const files[] = {
        "net/sockstat",
        "net/snmp",
        "net/netstat",
        "sys/net/ipv4/ip_local_port_range",
        "sys/net/ipv4/ip_local_reserved_ports",
        "sys/net/ipv4/tcp_tw_reuse",
        "sys/net/ipv4/tcp_tw_reuse_delay",
        "sys/net/ipv4/tcp_timestamps",
        "sys/net/ipv4/tcp_max_tw_buckets",
        "sys/net/ipv4/tcp_fin_timeout",
        "sys/net/ipv4/tcp_rfc1337",
    };
    char from[4096], to[4096], buf[65536];
    int made = twx_mkdir_p(dir);
    if (made)
        return made;
    for (size_t i = 0; i < TW__ARRAY_LEN(files); i++) {
        int n = twx_read_small(twx_path(from, sizeof(from), root, files[i]), buf, sizeof(buf));
        if (n == -ENOENT)
            continue;
        if (n < 0)
            return n;
        snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
        *strrchr(to, '/') = '\0';
        int e = twx_mkdir_p(to);
        if (e)
            return e;
        to[strlen(to)] = '/';
        int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
        ssize_t w = write(fd, buf, (size_t)n);
        close(fd);
        if (w != n)
            return -EIO;
    }
    static const char *const caches[] = {"tw_sock_TCP", "tw_sock_TCPv6", "tcp_bind_bucket",
                                         "tcp_bind2_bucket"};
    for (size_t i = 0; i < TW__ARRAY_LEN(caches); i++) {
        unsigned sz = slab_size(root, caches[i]);
        if (!sz)
            continue;
        snprintf(to, sizeof(to), "%s/slab/%s", dir, caches[i]);
        int e = twx_mkdir_p(to);
        if (e)
            return e;
        snprintf(to, sizeof(to), "%s/slab/%s/slab_size", dir, caches[i]);
        FILE *f = fopen(to, "we");
        if (!f)
            return -errno;
        fprintf(f, "%u\n", sz);
        fclose(f);
    }
    return 0;
}
