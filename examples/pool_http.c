/*
 * pool_http.c — an HTTP/1.1 client that reuses its connections with tw_pool.
 *
 * The point of the example: N requests over a handful of kept-alive
 * connections leave a handful of TIME_WAIT sockets, where a connection per
 * request leaves N.  It shows the three things a pool user must get right:
 *
 *   1. give a connection back as reusable only when the response was read
 *      completely and the server did not say "Connection: close";
 *   2. a request that fails on a *reused* connection before any byte of the
 *      response arrived may have raced with the server closing it: retry it
 *      once on a new connection (what Go's Transport does for idempotent
 *      requests); a failure on a new connection is a real error;
 *   3. when the server announced "Connection: close", let it close first
 *      (read to end of file, briefly) before discarding the connection: the
 *      side that closes first gets the TIME_WAIT socket, and on the client
 *      it pins an ephemeral port of the destination for 60 s;
 *   4. read the statistics (here, printed through TW_POOL_STATS_MAP).
 *
 * Usage: pool_http [-n REQUESTS] [-c THREADS] [-s SRC_IP] [-p PATH] IP PORT
 * Only responses with Content-Length are kept alive; others are read to the
 * end of the connection and the connection is discarded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <twkit/pool.h>

static struct tw_pool *pool;
static struct tw_pool_dest *dest;
static const char *path = "/";
static long n_requests = 1000;
static atomic_long next_req, n_ok, n_failed, n_retried;

enum result { R_OK_KEEP, R_OK_CLOSE, R_FAIL_NOTHING, R_FAIL };

/* Send one GET and read the response.  R_FAIL_NOTHING: failed before any
 * response byte (the connection may have been closed by the server). */
static enum result do_request(int fd)
{
    char req[512], buf[8192];
    size_t got = 0;
    long clen = -1;
    int keep = 1, n = snprintf(req, sizeof(req),
                               "GET %s HTTP/1.1\r\nHost: pool-example\r\n\r\n", path);
    char *hend = NULL;

    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return R_FAIL_NOTHING;
    while (!hend) { /* headers */
        ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

        if (r <= 0)
            return got ? R_FAIL : R_FAIL_NOTHING;
        got += (size_t)r;
        buf[got] = 0;
        hend = strstr(buf, "\r\n\r\n");
        if (!hend && got == sizeof(buf) - 1)
            return R_FAIL;
    }
    if (strncmp(buf, "HTTP/1.1 ", 9) != 0)
        return R_FAIL;
    for (char *l = strstr(buf, "\r\n"), *eol; l && l < hend; l = eol) {
        char *line = l + 2;

        eol = strstr(line, "\r\n");
        *eol = 0; /* the headers end in "\r\n\r\n", so eol is never NULL */
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = strtol(line + 15, NULL, 10);
        else if (strncasecmp(line, "Connection:", 11) == 0 &&
                 strcasestr(line + 11, "close"))
            keep = 0;
    }
    {
        size_t body = got - (size_t)(hend + 4 - buf);

        if (clen < 0) { /* no length: the body ends with the connection */
            while (recv(fd, buf, sizeof(buf), 0) > 0)
                ;
            return R_OK_CLOSE;
        }
        while ((long)body < clen) {
            ssize_t r = recv(fd, buf, sizeof(buf), 0);

            if (r <= 0)
                return R_FAIL;
            body += (size_t)r;
        }
        if ((long)body > clen)
            return R_FAIL; /* pipelined junk: do not reuse */
    }
    return keep ? R_OK_KEEP : R_OK_CLOSE;
}

/* Wait (up to 1 s) for the server's FIN, so that the server closes first. */
static void wait_eof(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char b[512];

    while (poll(&pfd, 1, 1000) == 1 && recv(fd, b, sizeof(b), 0) > 0)
        ;
}

static void *worker(void *arg)
{
    (void)arg;
    while (atomic_fetch_add(&next_req, 1) < n_requests) {
        for (int attempt = 0;; attempt++) {
            struct tw_pool_conn c;
            enum result r;
            int err = tw_pool_get(pool, dest, TW_POOL_WAIT_DEFAULT, &c);

            if (err < 0) {
                fprintf(stderr, "pool_http: get: %s\n", tw_strerror(err));
                atomic_fetch_add(&n_failed, 1);
                break;
            }
            r = do_request(c.fd);
            if (r == R_OK_CLOSE)
                wait_eof(c.fd);
            tw_pool_put(pool, &c, r == R_OK_KEEP ? TW_POOL_REUSE : TW_POOL_DISCARD);
            if (r == R_OK_KEEP || r == R_OK_CLOSE) {
                atomic_fetch_add(&n_ok, 1);
                break;
            }
            if (r == R_FAIL_NOTHING && c.uses > 1 && attempt == 0) {
                atomic_fetch_add(&n_retried, 1); /* raced with a server close */
                continue;
            }
            atomic_fetch_add(&n_failed, 1);
            break;
        }
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: pool_http [-n REQUESTS] [-c THREADS] [-s SRC_IP] "
                    "[-p PATH] IP PORT\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct sockaddr_storage dst = { 0 }, src = { 0 };
    socklen_t dlen = 0, slen = 0;
    const char *src_ip = NULL;
    struct tw_pool_opts o;
    struct tw_pool_stats st;
    pthread_t t[64];
    int threads = 4, opt, err, port;
    char name[128];

    while ((opt = getopt(argc, argv, "n:c:s:p:h")) != -1) {
        switch (opt) {
        case 'n': n_requests = strtol(optarg, NULL, 10); break;
        case 'c': threads = (int)strtol(optarg, NULL, 10); break;
        case 's': src_ip = optarg; break;
        case 'p': path = optarg; break;
        default: usage();
        }
    }
    if (argc - optind != 2 || threads < 1 || threads > 64 || n_requests < 0)
        usage();
    port = (int)strtol(argv[optind + 1], NULL, 10);
    if (port <= 0 || port > 65535)
        usage();
    {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&dst;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&dst;

        if (inet_pton(AF_INET, argv[optind], &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)port);
            dlen = sizeof(*a4);
        } else if (inet_pton(AF_INET6, argv[optind], &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)port);
            dlen = sizeof(*a6);
        } else {
            usage();
        }
    }
    if (src_ip) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&src;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&src;

        if (inet_pton(AF_INET, src_ip, &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            slen = sizeof(*s4);
        } else if (inet_pton(AF_INET6, src_ip, &s6->sin6_addr) == 1) {
            s6->sin6_family = AF_INET6;
            slen = sizeof(*s6);
        } else {
            usage();
        }
    }

    tw_pool_opts_init(&o);
    o.max_per_dest = (unsigned)threads; /* one connection per thread at most */
    o.max_idle_per_dest = (unsigned)threads;
    o.idle_timeout_ms = 30000;
    o.max_lifetime_ms = 300000;
    o.lifetime_jitter_ms = 30000;
    o.flags = TW_POOL_NODELAY;
    if ((err = tw_pool_new(&o, &pool)) < 0 ||
        (err = tw_pool_dest(pool, (struct sockaddr *)&dst, dlen,
                            src_ip ? (struct sockaddr *)&src : NULL, slen,
                            &dest)) < 0) {
        fprintf(stderr, "pool_http: %s\n", tw_strerror(err));
        return 1;
    }
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);

    tw_pool_dest_format(dest, name, sizeof(name));
    tw_pool_dest_stats(dest, &st);
    printf("%s: %ld ok, %ld failed, %ld retried on a new connection\n", name,
           atomic_load(&n_ok), atomic_load(&n_failed), atomic_load(&n_retried));
#define PRINT_STAT(field, kind, help)                                          \
    printf("  %-20s %10lu  %s%s\n", #field, (unsigned long)st.field, help,     \
           kind == TW_POOL_GAUGE ? " (now)" : "");
    TW_POOL_STATS_MAP(PRINT_STAT)
#undef PRINT_STAT
    tw_pool_free(pool);
    return atomic_load(&n_failed) ? 1 : 0;
}
