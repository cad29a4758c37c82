/*
 * pool_bench.c — what tw_pool costs and what it saves (run by bench/pool.sh).
 *
 * Two measurements, each against an anchor taken in the same run:
 *
 *   pool_bench cycle --dst IP:PORT [--n N] [--runs R]
 *       ns per uncontended tw_pool_get + tw_pool_put of an idle connection,
 *       against the floor every such cycle pays: one non-blocking
 *       recv(MSG_PEEK), the liveness check.
 *
 *   pool_bench rps --dst IP --ports P1,P2,.. [--threads T] [--requests N]
 *                  [--pool-requests M] [--secs S]
 *       HTTP/1.1 requests per second with T threads through a pool of T
 *       connections, against T threads opening a new connection per request
 *       (the anchor), to the same server.  Run r uses ports 2r and 2r+1 of the
 *       list (pool, then new), so that the TIME_WAIT sockets of each run can
 *       be counted alone: client-side TIME_WAIT sockets toward that port,
 *       from /proc/net/tcp, after the run, scaled to 100k requests.  Each run
 *       stops after N requests (M through the pool, default 200k, so that
 *       the pool's count is not scaled up) or S seconds, whichever comes
 *       first.
 *
 * Results are medians over the runs.  The program must run in the client's
 * network namespace (bench/pool.sh sets it up); it prints, it asserts
 * nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <twkit/pool.h>

#include "twx/clock.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int request(int fd)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    char buf[128];
    size_t got = 0;

    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
        return 0;
    while (got < sizeof(resp) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(resp) - 1 - got, 0);

        if (n <= 0)
            return 0;
        got += (size_t)n;
    }
    return memcmp(buf, resp, sizeof(resp) - 1) == 0;
}

static struct sockaddr_in addr(const char *ip, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
        fprintf(stderr, "pool_bench: bad address %s\n", ip);
        exit(2);
    }
    return a;
}

static void die_err(const char *what, int err)
{
    fprintf(stderr, "pool_bench: %s: %s\n", what, tw_strerror(err));
    exit(1);
}

/* ---- cycle ------------------------------------------------------------------------ */

static int cycle(const char *ip, int port, long n, int runs)
{
    struct sockaddr_in a = addr(ip, port);
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c;
    double pool_ns[32], peek_ns[32];
    int err;
    char b;

    if ((err = tw_pool_new(NULL, &p)) < 0)
        die_err("tw_pool_new", err);
    if ((err = tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a), NULL, 0, &d)) < 0)
        die_err("tw_pool_dest", err);
    if ((err = tw_pool_get(p, d, 0, &c)) < 0)
        die_err("tw_pool_get", err);
    if (!request(c.fd))
        die_err("request", -EPROTO);
    tw_pool_put(p, &c, TW_POOL_REUSE);

    for (int r = 0; r < runs; r++) {
        double t0 = twx_now_s();

        for (long i = 0; i < n; i++) {
            if (tw_pool_get(p, d, 0, &c) < 0)
                die_err("tw_pool_get", -EIO);
            tw_pool_put(p, &c, TW_POOL_REUSE);
        }
        pool_ns[r] = (twx_now_s() - t0) * 1e9 / (double)n;

        tw_pool_get(p, d, 0, &c);
        t0 = twx_now_s();
        for (long i = 0; i < n; i++)
            recv(c.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        peek_ns[r] = (twx_now_s() - t0) * 1e9 / (double)n;
        tw_pool_put(p, &c, TW_POOL_REUSE);
    }
    {
        struct tw_pool_stats st;
        double pm = median(pool_ns, runs), km = median(peek_ns, runs);

        tw_pool_stats(p, &st);
        printf("pool get+put of an idle connection (uncontended): %.0f ns/cycle "
               "(median of %d x %ld)\n", pm, runs, n);
        printf("  anchor: the liveness check alone, recv(MSG_PEEK|MSG_DONTWAIT): "
               "%.0f ns\n", km);
        printf("  ratio: %.2fx the anchor; pool overhead beyond the check: %.0f ns"
               " (target: cycle under 300 ns)\n", pm / km, pm - km);
        printf("  connects during the runs: %lu (all reuse)\n",
               (unsigned long)st.connects);
    }
    tw_pool_free(p);
    return 0;
}

/* ---- rps -------------------------------------------------------------------------- */

struct rps_run {
    struct tw_pool *pool;       /* NULL: new connection per request */
    struct tw_pool_dest *dest;
    struct sockaddr_in to;
    long limit;                 /* requests in total */
    double deadline;            /* twx_now_s() limit */
    atomic_long done;
    atomic_long failed;
};

static void *rps_worker(void *arg)
{
    struct rps_run *r = arg;

    while (twx_now_s() < r->deadline) {
        long k = atomic_fetch_add(&r->done, 1);
        int ok = 0;

        if (k >= r->limit) {
            atomic_fetch_sub(&r->done, 1);
            break;
        }
        if (r->pool) {
            struct tw_pool_conn c;

            if (tw_pool_get(r->pool, r->dest, 10000, &c) == 0) {
                ok = request(c.fd);
                tw_pool_put(r->pool, &c, ok ? TW_POOL_REUSE : TW_POOL_DISCARD);
            }
        } else {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

            if (fd >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                if (connect(fd, (struct sockaddr *)&r->to, sizeof(r->to)) == 0)
                    ok = request(fd);
                close(fd);
            }
        }
        if (!ok)
            atomic_fetch_add(&r->failed, 1);
    }
    return NULL;
}

/* Client-side TIME_WAIT sockets toward port (IPv4), from /proc/net/tcp. */
static long tw_count(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[256];
    long n = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        unsigned rport, st;

        if (sscanf(line, " %*d: %*x:%*x %*x:%x %x", &rport, &st) == 2 &&
            (int)rport == port && st == 6)
            n++;
    }
    fclose(f);
    return n;
}

/* One run; returns req/s, sets *tw100k, *tw, *done and *failed. */
static double rps_once(const char *ip, int port, int pooled, int threads,
                       long limit, double secs, double *tw100k, long *tw,
                       long *ndone, long *failed)
{
    struct rps_run r = { .limit = limit };
    pthread_t t[256];
    double t0, el;
    long done;

    r.to = addr(ip, port);
    if (pooled) {
        struct tw_pool_opts o;
        int err;

        tw_pool_opts_init(&o);
        o.max_per_dest = (unsigned)threads;
        o.max_idle_per_dest = (unsigned)threads;
        o.flags = TW_POOL_NODELAY;
        if ((err = tw_pool_new(&o, &r.pool)) < 0)
            die_err("tw_pool_new", err);
        if ((err = tw_pool_dest(r.pool, (struct sockaddr *)&r.to, sizeof(r.to),
                                NULL, 0, &r.dest)) < 0)
            die_err("tw_pool_dest", err);
    }
    t0 = twx_now_s();
    r.deadline = t0 + secs;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, rps_worker, &r);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    el = twx_now_s() - t0;
    if (r.pool)
        tw_pool_free(r.pool); /* closes its connections: client-side TW */
    done = atomic_load(&r.done);
    *failed = atomic_load(&r.failed);
    *tw = tw_count(port);
    *ndone = done;
    *tw100k = done ? (double)*tw * 100000.0 / (double)done : 0;
    return (double)(done - *failed) / el;
}

static int rps(const char *ip, const char *ports, int threads, long limit,
               long pool_limit, double secs)
{
    int port[16], nports = 0, runs;
    double pool_rps[8], new_rps[8], pool_tw[8], new_tw[8];
    long failed_pool = 0, failed_new = 0, f, ptw[8], ntw[8], pdone[8], ndone[8];
    char *copy = strdup(ports), *save = NULL;

    for (char *t = strtok_r(copy, ",", &save); t && nports < 16;
         t = strtok_r(NULL, ",", &save))
        port[nports++] = (int)strtol(t, NULL, 10);
    free(copy);
    runs = nports / 2;
    if (runs < 1 || runs > 8 || threads < 1 || threads > 256) {
        fprintf(stderr, "pool_bench: rps needs 2..16 ports and 1..256 threads\n");
        return 2;
    }
    for (int r = 0; r < runs; r++) {
        pool_rps[r] = rps_once(ip, port[2 * r], 1, threads, pool_limit, secs,
                               &pool_tw[r], &ptw[r], &pdone[r], &f);
        failed_pool += f;
        new_rps[r] = rps_once(ip, port[2 * r + 1], 0, threads, limit, secs,
                              &new_tw[r], &ntw[r], &ndone[r], &f);
        failed_new += f;
        printf("  run %d: pool %.0f req/s (%ld TIME_WAIT after %ld requests), "
               "new connection %.0f req/s (%ld TIME_WAIT after %ld)\n",
               r + 1, pool_rps[r], ptw[r], pdone[r], new_rps[r], ntw[r], ndone[r]);
    }
    {
        double pm = median(pool_rps, runs), nm = median(new_rps, runs);

        printf("HTTP/1.1 requests/s, %d threads, same server, over veth "
               "(median of %d runs, each <= %ld (pool: %ld) requests or %.0f s):\n",
               threads, runs, limit, pool_limit, secs);
        printf("  anchor: new connection per request: %8.0f req/s, "
               "TIME_WAIT per 100k requests: %.0f\n", nm, median(new_tw, runs));
        printf("  tw_pool, %2d connections:             %8.0f req/s, "
               "TIME_WAIT per 100k requests: %.1f (target: <= %d)\n",
               threads, pm, median(pool_tw, runs), threads);
        printf("  ratio pool / new connection: %.2fx\n", pm / nm);
        printf("  failed requests: pool %ld, new connection %ld\n", failed_pool,
               failed_new);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: pool_bench cycle --dst IP:PORT [--n N] [--runs R]\n"
            "       pool_bench rps --dst IP --ports P1,P2,... [--threads T]\n"
            "                      [--requests N] [--pool-requests M] [--secs S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dst = NULL, *ports = NULL;
    long n = 1000000, requests = 50000, pool_requests = 200000;
    int runs = 5, threads = 8;
    double secs = 3;

    if (argc < 2)
        usage();
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!v)
            usage();
        if (!strcmp(argv[i], "--dst"))
            dst = v;
        else if (!strcmp(argv[i], "--ports"))
            ports = v;
        else if (!strcmp(argv[i], "--n"))
            n = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--runs"))
            runs = (int)strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--threads"))
            threads = (int)strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--requests"))
            requests = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--pool-requests"))
            pool_requests = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--secs"))
            secs = atof(v);
        else
            usage();
    }
    if (!dst || n < 1 || runs < 1 || runs > 32)
        usage();
    if (!strcmp(argv[1], "cycle")) {
        char ip[64];
        const char *colon = strrchr(dst, ':');

        if (!colon || (size_t)(colon - dst) >= sizeof(ip))
            usage();
        memcpy(ip, dst, (size_t)(colon - dst));
        ip[colon - dst] = 0;
        return cycle(ip, (int)strtol(colon + 1, NULL, 10), n, runs);
    }
    if (!strcmp(argv[1], "rps") && ports)
        return rps(dst, ports, threads, requests, pool_requests, secs);
    usage();
    return 2;
}
