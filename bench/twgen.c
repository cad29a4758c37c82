/*
 * twgen.c — make N client-side TIME_WAIT sockets on loopback, fast, for
 * bench/stat.sh.  Run it inside a private network namespace with
 * tcp_max_tw_buckets >= N and loopback up; it changes nothing itself.
 *
 * Each worker process owns a few listeners on 127.0.0.1 and runs a tight
 * blocking loop: socket, IP_BIND_ADDRESS_NO_PORT + bind to a source address
 * in 127.S.0.0/16, connect (the handshake completes inside connect() on
 * loopback), close.  The client closes first, so the TIME_WAIT is on the
 * client side.  Every BATCH connects the worker drains its accept queues
 * (backlog 65535, far above BATCH) and closes each accepted socket once it
 * has read the client's FIN, so the server side goes LAST_ACK -> CLOSED and
 * the client's FIN_WAIT2 becomes TIME_WAIT.
 *
 * A 4-tuple can only be in TIME_WAIT once and each (source, destination,
 * port) has ~28k ephemeral ports (14k of the even parity connect() tries
 * first), so each (source, listener port) pair gets at most PER_DEST
 * connections (default 2000: connect() still finds a free port at once) and
 * the worker moves on to the next source address.  Workers use disjoint
 * source addresses and listener ports.  No port is ever bound explicitly, so
 * tcp_tw_reuse=0 holds: no TIME_WAIT is taken over.  Use a different -s for
 * each batch made in the same namespace, so every batch has fresh sources.
 *
 * Every loop is bounded by the count and by -t seconds; a worker that
 * cannot reach its share in time, or meets too many connect errors, fails
 * with a message.  Workers die with the parent (PR_SET_PDEATHSIG).
 *
 * With -r RATE the workers pace themselves to RATE connections per second
 * in all (bench/watch.sh holds a steady TIME_WAIT population that way:
 * RATE x 60 s once the first ones expire).
 *
 * Usage: twgen -n COUNT [-j WORKERS] [-p PORTS] [-c PER_DEST] [-s NET]
 *              [-P BASEPORT] [-t SECONDS] [-r RATE] [-q]
 * Prints "twgen: <count> connections in <s> s (<rate> conn/s) ..." on stdout.
 * Exit: 0 all made, 1 failed (message on stderr), 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "twx/clock.h"

#define MAX_WORKERS 16
#define MAX_PORTS 64
#define BATCH 256
#define BACKLOG 65535
#define HOSTS_PER_SUBNET 250 /* 127.S.b.1 .. 127.S.b.250 */
#define SETTLE_S 10.0        /* time to close the last accepted sockets */

struct opts {
    long count;
    int workers, ports, per_dest, net, base_port, quiet;
    double limit_s;
    double rate;        /* connections per second in all, 0 = as fast as possible */
};

struct result {
    long made, accepted, closed, conn_errors, sources;
    int failed;
    char why[160];
};

/* Accepted sockets waiting for the client's FIN before they are closed. */
struct pending {
    int *fd;
    size_t n, cap;
};

static int pending_push(struct pending *p, int fd)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        int *nfd = realloc(p->fd, cap * sizeof *nfd);
        if (!nfd)
            return -1;
        p->fd = nfd;
        p->cap = cap;
    }
    p->fd[p->n++] = fd;
    return 0;
}

/* 1 when the peer's FIN has been read (close now), 0 not yet, -1 error. */
static int peer_closed(int fd)
{
    char b[256];
    for (;;) {
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0)
            return 1;
        if (r > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1; /* e.g. ECONNRESET: close it anyway */
    }
}

/* Accept everything queued, close what the client already closed. */
static int drain(const int *lfd, int nl, struct pending *pend, struct result *res)
{
    size_t keep = 0;

    for (size_t i = 0; i < pend->n; i++) {
        if (peer_closed(pend->fd[i]) != 0) {
            close(pend->fd[i]);
            res->closed++;
        } else {
            pend->fd[keep++] = pend->fd[i];
        }
    }
    pend->n = keep;
    for (int l = 0; l < nl; l++) {
        for (;;) {
            int fd = accept4(lfd[l], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                snprintf(res->why, sizeof res->why, "accept: %s", strerror(errno));
                return -1;
            }
            res->accepted++;
            if (peer_closed(fd) != 0) {
                close(fd);
                res->closed++;
            } else if (pending_push(pend, fd) < 0) {
                snprintf(res->why, sizeof res->why, "out of memory");
                close(fd);
                return -1;
            }
        }
    }
    return 0;
}

static int listen_on(int port, struct result *res)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, BACKLOG) < 0) {
        snprintf(res->why, sizeof res->why, "listen on 127.0.0.1:%d: %s", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Source address number i (0-based) -> 127.net.(1 + i/250).(1 + i%250). */
static uint32_t source_addr(int net, long i)
{
    return (127u << 24) | ((uint32_t)net << 16) | ((uint32_t)(1 + i / HOSTS_PER_SUBNET) << 8) |
           (uint32_t)(1 + i % HOSTS_PER_SUBNET);
}

static void worker(const struct opts *o, int w, long share, struct result *res)
{
    int lfd[MAX_PORTS], nl = 0, one = 1;
    struct pending pend = { 0 };
    struct sockaddr_in dst = { .sin_family = AF_INET };
    struct sockaddr_in src = { .sin_family = AF_INET };
    double t0 = twx_now_s(), deadline = t0 + o->limit_s;
    long src_i = w, per_src = 0;
    long max_errors = share / 100 + 100;

    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (nl = 0; nl < o->ports; nl++) {
        if ((lfd[nl] = listen_on(o->base_port + w * o->ports + nl, res)) < 0)
            goto fail;
    }
    src.sin_addr.s_addr = htonl(source_addr(o->net, src_i));

    double per_s = o->rate / o->workers; /* this worker's pace, 0: none */
    while (res->made < share) {
        long todo = share - res->made < BATCH ? share - res->made : BATCH;
        for (long k = 0; k < todo; k++) {
            if (per_s > 0) {
                double wait = t0 + (double)(res->made + res->conn_errors) / per_s - twx_now_s();
                if (wait > 0) {
                    struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                    nanosleep(&ts, NULL);
                }
            }
            int port = o->base_port + w * o->ports + (int)(per_src % o->ports);
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (per_src == 0)
                res->sources++; /* first connection from this source address */
            if (fd < 0) {
                snprintf(res->why, sizeof res->why, "socket: %s", strerror(errno));
                goto fail;
            }
            if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0 ||
                bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
                snprintf(res->why, sizeof res->why, "bind %s: %s", inet_ntoa(src.sin_addr),
                         strerror(errno));
                close(fd);
                goto fail;
            }
            dst.sin_port = htons((uint16_t)port);
            if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
                int e = errno;
                close(fd);
                if (++res->conn_errors > max_errors) {
                    snprintf(res->why, sizeof res->why, "%ld connect errors, last: %s",
                             res->conn_errors, strerror(e));
                    goto fail;
                }
            } else {
                close(fd); /* client closes first: TIME_WAIT here */
                res->made++;
            }
            /* Next source address once each listener port had PER_DEST. */
            if (++per_src >= (long)o->per_dest * o->ports) {
                per_src = 0;
                src_i += o->workers;
                src.sin_addr.s_addr = htonl(source_addr(o->net, src_i));
            }
        }
        if (drain(lfd, nl, &pend, res) < 0)
            goto fail;
        if (twx_now_s() > deadline) {
            snprintf(res->why, sizeof res->why, "made only %ld of %ld in %.0f s (-t)", res->made,
                     share, o->limit_s);
            goto fail;
        }
    }
    /* Close the server side of the last ones once their FIN is in. */
    deadline = twx_now_s() + SETTLE_S;
    while (res->closed < res->made && twx_now_s() < deadline) {
        struct pollfd p[MAX_PORTS];
        for (int l = 0; l < nl; l++)
            p[l] = (struct pollfd){ .fd = lfd[l], .events = POLLIN };
        if (drain(lfd, nl, &pend, res) < 0)
            goto fail;
        if (res->closed < res->made)
            (void)poll(p, (nfds_t)nl, 1);
    }
    if (res->closed < res->made) {
        snprintf(res->why, sizeof res->why,
                 "server side: %ld accepted, %ld closed of %ld connections after %.0f s",
                 res->accepted, res->closed, res->made, SETTLE_S);
        goto fail;
    }
    for (int l = 0; l < nl; l++)
        close(lfd[l]);
    free(pend.fd);
    return;
fail:
    res->failed = 1;
    for (int l = 0; l < nl; l++)
        close(lfd[l]);
    for (size_t i = 0; i < pend.n; i++)
        close(pend.fd[i]);
    free(pend.fd);
}

/*
 * Keep worker w on one CPU.  A worker that migrates between connect() and
 * close() can have its segments processed out of order by two CPUs'
 * loopback backlogs; a late segment then meets an already closed server
 * socket, draws an RST, and the RST kills the client's TIME_WAIT
 * (tcp_rfc1337=0): a few dozen per million went missing that way.
 */
static void pin_cpu(int w)
{
    cpu_set_t allowed, one;
    int n = 0;

    if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
        return;
    n = CPU_COUNT(&allowed);
    for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE && n > 0; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        if (seen++ == w % n) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            (void)sched_setaffinity(0, sizeof one, &one);
            return;
        }
    }
}

static pid_t kids[MAX_WORKERS];
static int nkids;

static void kill_kids(int sig)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGKILL);
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0)
            while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
                ;
    signal(sig, SIG_DFL);
    raise(sig);
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "twgen: %s wants %ld..%ld, not '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: twgen -n COUNT [-j WORKERS] [-p PORTS] [-c PER_DEST] [-s NET]\n"
               "             [-P BASEPORT] [-t SECONDS] [-q]\n"
               "Make COUNT client-side TIME_WAIT sockets on loopback (run it in a\n"
               "private network namespace with tcp_max_tw_buckets >= COUNT).\n"
               "  -n COUNT     connections to make and close (1..5000000)\n"
               "  -j WORKERS   worker processes (default 2)\n"
               "  -p PORTS     listener ports per worker (default 4)\n"
               "  -c PER_DEST  connections per (source address, port) (default 2000)\n"
               "  -s NET       sources are 127.NET.x.y (default 1); new NET per batch\n"
               "  -P BASEPORT  first listener port on 127.0.0.1 (default 20000)\n"
               "  -t SECONDS   give up after this long (default 50)\n"
               "  -r RATE      pace to RATE connections/s in all (default: no pacing)\n"
               "  -q           print nothing on success\n");
}

int main(int argc, char **argv)
{
    struct opts o = { .count = 0, .workers = 2, .ports = 4, .per_dest = 2000, .net = 1,
                      .base_port = 20000, .limit_s = 50 };
    struct result total = { 0 };
    int opt, pipes[MAX_WORKERS][2], rc = 0;
    double t0;
    long sources;

    while ((opt = getopt(argc, argv, "n:j:p:c:s:P:t:r:qh")) != -1) {
        switch (opt) {
        case 'n': o.count = parse_long(optarg, "-n", 1, 5000000); break;
        case 'j': o.workers = (int)parse_long(optarg, "-j", 1, MAX_WORKERS); break;
        case 'p': o.ports = (int)parse_long(optarg, "-p", 1, MAX_PORTS); break;
        case 'c': o.per_dest = (int)parse_long(optarg, "-c", 1, 14000); break;
        case 's': o.net = (int)parse_long(optarg, "-s", 1, 254); break;
        case 'P': o.base_port = (int)parse_long(optarg, "-P", 1024, 30000); break;
        case 't': o.limit_s = (double)parse_long(optarg, "-t", 1, 600); break;
        case 'r': o.rate = (double)parse_long(optarg, "-r", 1, 10000000); break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || o.count == 0) {
        fprintf(stderr, "twgen: %s\n", o.count ? "unexpected argument" : "-n COUNT is required");
        usage(stderr);
        return 2;
    }
    if (o.base_port + o.workers * o.ports > 32768) {
        fprintf(stderr, "twgen: listener ports would reach the ephemeral range (32768)\n");
        return 2;
    }
    /* Sources needed per worker must fit in 127.NET.1-254.1-250. */
    sources = (o.count / o.workers + 1) / ((long)o.per_dest * o.ports) + 2;
    if (sources * o.workers > (long)HOSTS_PER_SUBNET * 254) {
        fprintf(stderr, "twgen: needs %ld source addresses, more than 127.%d/16 holds; raise -c or -p\n",
                sources * o.workers, o.net);
        return 2;
    }

    signal(SIGINT, kill_kids);
    signal(SIGTERM, kill_kids);
    t0 = twx_now_s();
    for (int w = 0; w < o.workers; w++) {
        long share = o.count / o.workers + (w < o.count % o.workers);
        if (pipe(pipes[w]) < 0) {
            fprintf(stderr, "twgen: pipe: %s\n", strerror(errno));
            kill_kids(SIGTERM);
        }
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "twgen: fork: %s\n", strerror(errno));
            kill_kids(SIGTERM);
        }
        if (pid == 0) {
            struct result res = { 0 };
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(1);
            pin_cpu(w);
            close(pipes[w][0]);
            worker(&o, w, share, &res);
            if (write(pipes[w][1], &res, sizeof res) != (ssize_t)sizeof res)
                _exit(1);
            _exit(res.failed);
        }
        kids[nkids++] = pid;
        close(pipes[w][1]);
    }
    for (int w = 0; w < o.workers; w++) {
        struct result res;
        int ws = 0;
        ssize_t n = read(pipes[w][0], &res, sizeof res);
        close(pipes[w][0]);
        while (waitpid(kids[w], &ws, 0) < 0 && errno == EINTR)
            ;
        kids[w] = 0;
        if (n != (ssize_t)sizeof res) {
            fprintf(stderr, "twgen: worker %d died (status %d)\n", w, ws);
            rc = 1;
            continue;
        }
        if (res.failed) {
            fprintf(stderr, "twgen: worker %d: %s\n", w, res.why);
            rc = 1;
        }
        total.made += res.made;
        total.accepted += res.accepted;
        total.closed += res.closed;
        total.conn_errors += res.conn_errors;
        total.sources += res.sources;
    }
    double el = twx_now_s() - t0;
    if (rc) {
        fprintf(stderr, "twgen: FAILED: %ld of %ld connections made in %.1f s\n", total.made,
                o.count, el);
        return 1;
    }
    if (!o.quiet)
        printf("twgen: %ld connections in %.2f s (%.0f conn/s), %d workers, "
               "%ld sources x %d ports, %ld connect errors\n",
               total.made, el, (double)total.made / el, o.workers, total.sources, o.ports,
               total.conn_errors);
    return 0;
}
