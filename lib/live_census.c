/*
 * live_census.c — the live table's check against the kernel's own counts.
 *
 * The table is kept by events, and an event the kernel never delivers to
 * the table's programs leaves no trace in them: measured on Linux 6.18
 * (this machine kind), the kernel now and then runs a whole softirq
 * without running any BPF tracing program in it — no state change, timer
 * or packet of that softirq reaches them, and no recursion miss is
 * recorded — while tracefs shows the same events.  A connection whose last
 * state changes fall in such a softirq stays counted after it is gone.
 *
 * So every read compares three totals of the table with counts the kernel
 * keeps for the namespace, each read in O(1) from procfs:
 *   - full sockets in the table (every counted state) with the sockets in
 *     the TCP hash tables: "inuse" of /proc/net/sockstat (TCP) and
 *     /proc/net/sockstat6 (TCP6), which the kernel moves when it hashes a
 *     socket (listen, connect, an accepted child) and unhashes it (CLOSE, or
 *     replaced by its timewait minisock);
 *   - timewait minisocks in the table with "tw" of /proc/net/sockstat, the
 *     death row's count, moved next to the minisock's timer start and kill;
 *   - ESTABLISHED + CLOSE_WAIT with CurrEstab of /proc/net/snmp, which
 *     tcp_set_state() moves on exactly those states.
 * Each pair moves a few instructions apart, so under load one comparison
 * can catch one half of a change: a total agrees when it lies between the
 * kernel's counts read just before and just after it, and the check
 * disagrees only when no try of several (the later ones 2 ms apart)
 * agrees.  One pair can be far apart: connect() enters SYN_SENT before
 * its port search hashes the socket, and under port pressure (thousands of
 * TIME_WAIT in the range) that search takes milliseconds, with dozens of
 * connects in it at once.  The table counts those apart (LIVE_PENDING, until
 * the retransmit timer tcp_connect() arms once the socket is hashed), and
 * the full sockets agree when inuse lies in [total - pending, total]
 * (measured: 2,000 connects/s with 16,000 TIME_WAIT, counted as hashed,
 * disagreed at every other sample).  A lost change of a connection that then goes on (FIN_WAIT1 ->
 * FIN_WAIT2 unseen, the close seen) heals at its next event, which moves
 * the entry from the state recorded in it; a lost last change does not, and
 * that is what this finds.
 *
 * The files are opened once, in the table's namespace (a procfs net file
 * shows the namespace it was opened in), and read again from offset 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "live_int.h"

void tw__census_close(struct tw__census *c)
{
    int *fds[] = {&c->sockstat, &c->sockstat6, &c->snmp};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int tw__census_open(struct tw__census *c)
{
    c->sockstat = open("/proc/thread-self/net/sockstat", O_RDONLY | O_CLOEXEC);
    c->sockstat6 = open("/proc/thread-self/net/sockstat6", O_RDONLY | O_CLOEXEC); /* no IPv6: -1 */
    c->snmp = open("/proc/thread-self/net/snmp", O_RDONLY | O_CLOEXEC);
    if (c->sockstat < 0 || c->snmp < 0) {
        int e = -errno;
        tw__census_close(c);
        return e ? e : -EIO;
    }
    return 0;
}

/* the whole file (procfs regenerates it on a read from 0) */
static int slurp(int fd, char *buf, size_t len)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < len && (r = pread(fd, buf + n, len - 1 - n, (off_t)n)) > 0)
        n += (size_t)r;
    if (r < 0)
        return -errno;
    buf[n] = 0;
    return 0;
}

/* the first line of text that starts with prefix, or NULL */
static const char *line_of(const char *text, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, pl))
            return p;
    return NULL;
}

/* the number after `key` on the line that starts with `line` */
static int field(const char *text, const char *line, const char *key, int64_t *v)
{
    const char *p = line_of(text, line);
    if (!p)
        return -EPROTO;
    const char *end = strchr(p, '\n');
    const char *k = strstr(p, key);
    if (!k || (end && k > end))
        return -EPROTO;
    *v = strtoll(k + strlen(key), NULL, 10);
    return 0;
}

/* the start of the i-th space-separated word of a line */
static const char *word(const char *p, int i)
{
    for (;; i--) {
        while (*p == ' ')
            p++;
        if (!i || !*p || *p == '\n')
            return p;
        while (*p && *p != ' ' && *p != '\n')
            p++;
    }
}

/* CurrEstab: /proc/net/snmp has a "Tcp:" line of names, then one of values */
static int curr_estab(const char *text, int64_t *v)
{
    const char *h = line_of(text, "Tcp: ");
    const char *vals = h ? strchr(h, '\n') : NULL;
    if (!vals || strncmp(vals + 1, "Tcp: ", 5))
        return -EPROTO;
    vals++;
    for (int i = 1;; i++) {
        const char *w = word(h, i);
        if (!*w || *w == '\n')
            return -EPROTO;
        if (!strncmp(w, "CurrEstab", 9) && (w[9] == ' ' || w[9] == '\n')) {
            const char *n = word(vals, i);
            char *end;
            *v = strtoll(n, &end, 10);
            return end == n ? -EPROTO : 0;
        }
    }
}

int tw__census_read(struct tw__census *c, struct tw__census_k *k)
{
    char buf[8192];
    int64_t in6 = 0;
    int e;
    if ((e = slurp(c->sockstat, buf, sizeof(buf))) || (e = field(buf, "TCP:", " inuse ", &k->inuse)) ||
        (e = field(buf, "TCP:", " tw ", &k->tw)))
        return e;
    if (c->sockstat6 >= 0) {
        if ((e = slurp(c->sockstat6, buf, sizeof(buf))) || (e = field(buf, "TCP6:", " inuse ", &in6)))
            return e;
    }
    k->inuse += in6;
    if ((e = slurp(c->snmp, buf, sizeof(buf))))
        return e;
    return curr_estab(buf, &k->estab);
}

/* do [lo, hi] and the kernel's range [a, b] (either order) meet? */
static bool meets(int64_t lo, int64_t hi, int64_t a, int64_t b)
{
    int64_t kl = a < b ? a : b, kh = a < b ? b : a;
    return (lo > kl ? lo : kl) <= (hi < kh ? hi : kh);
}

int tw__census_check(struct tw__census *c, int (*totals)(void *arg, struct tw__census_k *t),
                     void *arg, char *what, size_t len)
{
    struct tw__census_k k1, t, k2;
    int e = 0;
    for (int try = 0; try < 8; try++) {
        if (try >= 3) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        if ((e = tw__census_read(c, &k1)) || (e = totals(arg, &t)) ||
            (e = tw__census_read(c, &k2)))
            return e;
        if (meets(t.inuse - t.inuse_unhashed, t.inuse, k1.inuse, k2.inuse) &&
            meets(t.tw, t.tw, k1.tw, k2.tw) && meets(t.estab, t.estab, k1.estab, k2.estab))
            return 0;
    }
    snprintf(what, len,
             "full sockets %lld, %lld of them connecting (kernel %lld), timewait %lld (kernel "
             "%lld), ESTABLISHED+CLOSE_WAIT %lld (kernel %lld)",
             (long long)t.inuse, (long long)t.inuse_unhashed, (long long)k2.inuse,
             (long long)t.tw, (long long)k2.tw, (long long)t.estab, (long long)k2.estab);
    return 1;
}
