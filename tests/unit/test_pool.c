/*
 * test_pool.c — tw_pool against a real, fault-injecting server.
 *
 * Every network test runs in its own private network namespace (Criterion
 * forks one process per test; the test calls unshare(CLONE_NEWNET) and
 * brings loopback up), where it starts tests/helpers/pool_faultd with the
 * faults it needs: closing or resetting idle connections, writing to them,
 * stalling connects, refusing, accepting slowly.  The assertions: no dead
 * connection is ever handed out; caps and FIFO waiting hold with many
 * threads; deadlines are met (with generous slack: this runs on a noisy
 * 2-core machine); no file descriptor leaks over a million get/put cycles;
 * statistics add up (and match what the server saw); bad input gets its
 * documented error.  Without CAP_SYS_ADMIN the network tests are skipped.
 *
 * The helper is found at $OUT/helpers/pool_faultd (OUT defaults to .build).
 *
 * Criterion cannot start under ThreadSanitizer (BoxFort cannot map its
 * inheritable arena among TSan's reserved ranges: "Could not initialize
 * inheritable arena", Criterion issue #274).  So the tests are written
 * against CHECK/SKIP/TEST macros: with Criterion they are cr_assert and
 * Test(); in a TSan build (__SANITIZE_THREAD__) a small runner at the end of
 * this file forks one process per test, with the same timeouts, and prints
 * one TAP line per case ("ok - ", "not ok - ", "# SKIP") that tests/run reads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <twkit/pool.h>

#include "twx/clock.h"

#ifdef __SANITIZE_THREAD__
#define OWN_RUNNER 1
#include <stdarg.h>

static void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static void t_register(const char *name, void (*fn)(void), unsigned secs);

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond))                                                           \
            t_fail(__FILE__, __LINE__, "" __VA_ARGS__);                        \
    } while (0)
#define SKIP(...)                                                              \
    do {                                                                       \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
        exit(77);                                                              \
    } while (0)
#define TEST(name, secs)                                                       \
    static void t_##name(void);                                                \
    __attribute__((constructor)) static void reg_##name(void)                  \
    {                                                                          \
        t_register(#name, t_##name, secs);                                     \
    }                                                                          \
    static void t_##name(void)
#else
#include <criterion/criterion.h>

#define CHECK(cond, ...) cr_assert(cond, "" __VA_ARGS__)
#define SKIP(...) cr_skip_test(__VA_ARGS__)
#define TEST(name, secs)                                                       \
    static void t_##name(void);                                                \
    Test(pool, name, .timeout = secs) { t_##name(); }                          \
    static void t_##name(void)
#endif

/* Integer equality; prints both values when it fails. */
#define CHECK_EQ(a, b, ...)                                                    \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_) {                                                        \
            fprintf(stderr, "%s == %s: %lld != %lld\n", #a, #b, a_, b_);       \
            CHECK(0, "" __VA_ARGS__);                                          \
        }                                                                      \
    } while (0)

int tw__pool_sane(struct tw_pool *p); /* lib/pool.c, internal */

#define PORT_A      18001
#define PORT_B      18002
#define PORT_STALL  18003
#define PORT_V6     18005
#define PORT_NOBODY 18009
#define PORT_CTL    18100

/* ---- environment ------------------------------------------------------------ */

static int sanitized(void)
{
    return getenv("TW_SANITIZED") || getenv("TW_TSAN");
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void netns(void)
{
    struct ifreq ifr = { 0 };
    int fd;

    if (unshare(CLONE_NEWNET) < 0)
        SKIP("SKIP needs CAP_SYS_ADMIN for unshare(CLONE_NEWNET): %s",
                     strerror(errno));
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
    ifr.ifr_flags |= IFF_UP;
    CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0, "lo up: %s", strerror(errno));
    close(fd);
}

static int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    CHECK(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

/* ---- the fault server ------------------------------------------------------- */

static pid_t srv_pid = -1;
static int srv_in = -1;

/* Start pool_faultd with the space-separated args (plus -c PORT_CTL -w). */
static void srv_start(const char *args)
{
    char path[512], buf[1024], line[16] = "";
    char *argv[40];
    int argc = 0, in[2], out[2];
    const char *out_dir = getenv("OUT");
    struct pollfd pfd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/helpers/pool_faultd",
             out_dir ? out_dir : ".build");
    CHECK(access(path, X_OK) == 0,
              "%s missing: build the helpers (make all) first", path);
    snprintf(buf, sizeof(buf), "%s -w -c %d %s", path, PORT_CTL, args);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && argc < 39;
         t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
    srv_pid = fork();
    CHECK(srv_pid >= 0);
    if (srv_pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execv(path, argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    srv_in = in[1];
    pfd.fd = out[0];
    pfd.events = POLLIN;
    CHECK(poll(&pfd, 1, 5000) == 1, "pool_faultd did not start");
    n = read(out[0], line, sizeof(line) - 1);
    CHECK(n > 0 && strncmp(line, "ready", 5) == 0, "pool_faultd: %s", line);
    close(out[0]);
}

static void srv_stop(void)
{
    if (srv_pid <= 0)
        return;
    close(srv_in);
    kill(srv_pid, SIGTERM);
    waitpid(srv_pid, NULL, 0);
    srv_pid = -1;
}

/* One control command; the reply line goes to reply. */
static void ctl(const char *cmd, char *reply, size_t len)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT_CTL),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    size_t got = 0;

    CHECK(fd >= 0);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
    CHECK(write(fd, "\n", 1) == 1);
    while (got < len - 1) {
        ssize_t n = read(fd, reply + got, len - 1 - got);

        CHECK(n > 0, "control reply");
        got += (size_t)n;
        if (reply[got - 1] == '\n')
            break;
    }
    reply[got] = 0;
    close(fd);
}

static unsigned long srv_stat(const char *key)
{
    char reply[512], pat[64];
    const char *p;

    ctl("stats", reply, sizeof(reply));
    snprintf(pat, sizeof(pat), "%s=", key);
    p = strstr(reply, pat);
    CHECK(p, "no %s in %s", key, reply);
    return strtoul(p + strlen(pat), NULL, 10);
}

/* Wait until the server sees exactly n open connections (so that ones the
 * pool closed are gone there before a kill counts idle ones). */
static void srv_wait_open(unsigned long n)
{
    uint64_t t0 = twx_now_ms();

    while (srv_stat("open") != n) {
        CHECK(twx_now_ms() - t0 < 10000, "server never had %lu connections", n);
        sleep_ms(2);
    }
}

static unsigned srv_kill(const char *how, unsigned every)
{
    char cmd[64], reply[64];
    unsigned k = 0;

    snprintf(cmd, sizeof(cmd), "kill %s %u", how, every);
    ctl(cmd, reply, sizeof(reply));
    CHECK(sscanf(reply, "killed %u", &k) == 1, "%s", reply);
    sleep_ms(20); /* FIN/RST are processed at once on loopback; margin */
    return k;
}

/* ---- client side -------------------------------------------------------------- */

/* One HTTP/1.1 request on fd; 1 if a full, clean "200 ok" came back. */
static int request(int fd)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    char buf[256];
    size_t got = 0;

    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
        return 0;
    while (got < sizeof(resp) - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&pfd, 1, 10000) != 1)
            return 0;
        n = recv(fd, buf + got, sizeof(resp) - 1 - got, MSG_DONTWAIT);
        if (n <= 0) {
            if (n < 0 && errno == EAGAIN)
                continue;
            return 0;
        }
        got += (size_t)n;
    }
    return memcmp(buf, resp, sizeof(resp) - 1) == 0;
}

static struct sockaddr_in sin4(const char *ip, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct tw_pool_dest *dest(struct tw_pool *p, int port)
{
    struct sockaddr_in a = sin4("127.0.0.1", port);
    struct tw_pool_dest *d = NULL;

    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a), NULL, 0, &d), 0);
    return d;
}

static struct tw_pool *pool(void (*tweak)(struct tw_pool_opts *))
{
    struct tw_pool_opts o;
    struct tw_pool *p = NULL;
    int err;

    tw_pool_opts_init(&o);
    if (tweak)
        tweak(&o);
    err = tw_pool_new(&o, &p);
    CHECK_EQ(err, 0, "tw_pool_new: %s", tw_strerror(err));
    return p;
}

static uint64_t closes(const struct tw_pool_stats *s)
{
    return s->close_idle_timeout + s->close_lifetime + s->close_max_uses +
           s->close_dead + s->close_error + s->close_over_cap +
           s->close_shutdown;
}

/* Invariants, and the statistics add up, per destination and in total. */
static void check(struct tw_pool *p)
{
    struct tw_pool_dest *ds[16];
    struct tw_pool_stats st, sum = { 0 };
    int n, line = tw__pool_sane(p);

    CHECK_EQ(line, 0, "pool invariant broken (lib/pool.c:%d)", line);
    n = tw_pool_dests(p, ds, 16);
    CHECK(n >= 0 && n <= 16);
    for (int i = 0; i < n; i++) {
        CHECK_EQ(tw_pool_dest_stats(ds[i], &st), 0);
        CHECK_EQ(st.leases, st.connects + st.reuses);
        CHECK_EQ(st.connects, st.idle + st.leased + closes(&st));
        CHECK_EQ(st.open, st.idle + st.leased + st.connecting);
#define ADD(name, kind, help) sum.name += st.name;
        TW_POOL_STATS_MAP(ADD)
#undef ADD
    }
    CHECK_EQ(tw_pool_stats(p, &st), 0);
    CHECK(memcmp(&st, &sum, sizeof(st)) == 0, "pool total != sum of dests");
}

static struct tw_pool_stats stats(struct tw_pool_dest *d)
{
    struct tw_pool_stats st;

    CHECK_EQ(tw_pool_dest_stats(d, &st), 0);
    return st;
}

static void get_ok(struct tw_pool *p, struct tw_pool_dest *d,
                   struct tw_pool_conn *c)
{
    int err = tw_pool_get(p, d, TW_POOL_WAIT_DEFAULT, c);

    CHECK_EQ(err, 0, "get: %s", tw_strerror(err));
    CHECK(c->fd >= 0);
}

static void cycle(struct tw_pool *p, struct tw_pool_dest *d)
{
    struct tw_pool_conn c;

    get_ok(p, d, &c);
    CHECK(request(c.fd), "request on a leased connection (uses %u) failed",
              c.uses);
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0);
}

/* ---- options and bad input (no network) ----------------------------------------- */

TEST(options, 10)
{
    struct tw_pool_opts o;
    struct tw_pool *p = NULL;

    tw_pool_opts_init(&o);
    CHECK_EQ(o.max_idle_per_dest, 8);
    CHECK_EQ(o.connect_timeout_ms, 3000);
    CHECK_EQ(o.order, TW_POOL_LIFO);
    CHECK_EQ(tw_pool_new(NULL, NULL), -EINVAL);
    CHECK_EQ(tw_pool_new(NULL, &p), 0);
    tw_pool_free(p);

#define BAD(stmt)                                                              \
    do {                                                                       \
        tw_pool_opts_init(&o);                                                 \
        stmt;                                                                  \
        p = (struct tw_pool *)1;                                               \
        CHECK_EQ(tw_pool_new(&o, &p), TW_EBADOPT, #stmt);                  \
        CHECK(p == NULL);                                                     \
    } while (0)
    BAD(o.flags = 0x100);
    BAD(o.order = (enum tw_pool_order)7);
    BAD((o.max_lifetime_ms = 100, o.lifetime_jitter_ms = 101));
    BAD(o.lifetime_jitter_ms = 1);
    BAD((o.port_range_lo = 5, o.port_range_hi = 0));
    BAD((o.port_range_lo = 0, o.port_range_hi = 5));
    BAD((o.port_range_lo = 50000, o.port_range_hi = 40000));
#undef BAD
    CHECK(strcmp(tw_err_name(TW_EBADOPT), "TW_EBADOPT") == 0, "%s != %s", tw_err_name(TW_EBADOPT), "TW_EBADOPT");
}

TEST(null_arguments, 10)
{
    struct tw_pool *p = pool(NULL);
    struct tw_pool_conn c;
    struct tw_pool_stats st;
    struct tw_pool_dest *d = dest(p, PORT_A);
    char buf[8];

    CHECK_EQ(tw_pool_get(NULL, d, 0, &c), -EINVAL);
    CHECK_EQ(c.fd, -1);
    CHECK_EQ(tw_pool_get(p, NULL, 0, &c), -EINVAL);
    CHECK_EQ(tw_pool_get(p, d, 0, NULL), -EINVAL);
    CHECK_EQ(tw_pool_get(p, d, -5, &c), -EINVAL);
    CHECK_EQ(tw_pool_put(NULL, &c, TW_POOL_REUSE), -EINVAL);
    CHECK_EQ(tw_pool_put(p, NULL, TW_POOL_REUSE), -EINVAL);
    CHECK_EQ(tw_pool_discard(p, NULL), -EINVAL);
    CHECK_EQ(tw_pool_reap(NULL), -EINVAL);
    CHECK_EQ(tw_pool_close(NULL), -EINVAL);
    CHECK_EQ(tw_pool_stats(NULL, &st), -EINVAL);
    CHECK_EQ(tw_pool_stats(p, NULL), -EINVAL);
    CHECK_EQ(tw_pool_dest_stats(NULL, &st), -EINVAL);
    CHECK_EQ(tw_pool_dest_format(NULL, buf, sizeof(buf)), -EINVAL);
    CHECK_EQ(tw_pool_dests(NULL, NULL, 0), -EINVAL);
    CHECK_EQ(tw_pool_dests(p, NULL, 0), 1);
    tw_pool_free(NULL);
    tw_pool_free(p);
}

TEST(destinations, 10)
{
    struct tw_pool *p = pool(NULL), *q = pool(NULL);
    struct sockaddr_in a = sin4("127.0.0.1", PORT_A), s = sin4("127.0.0.2", 0);
    struct sockaddr_in zero = sin4("127.0.0.1", 0), sp = sin4("127.0.0.2", 7);
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(80) };
    struct sockaddr_un_like { sa_family_t f; char x[30]; } un = { AF_UNIX, "x" };
    struct tw_pool_dest *d1, *d2, *d3, *list[4];
    struct tw_pool_conn c;
    char buf[128];

    a6.sin6_addr = in6addr_loopback;
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a), NULL, 0, &d1), 0);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a), NULL, 0, &d2), 0);
    CHECK(d1 == d2, "same destination, same handle");
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a),
                              (struct sockaddr *)&s, sizeof(s), &d3), 0);
    CHECK(d1 != d3);
    CHECK_EQ(tw_pool_dest_format(d1, buf, sizeof(buf)), 15);
    CHECK(strcmp(buf, "127.0.0.1:18001") == 0, "%s != %s", buf, "127.0.0.1:18001");
    tw_pool_dest_format(d3, buf, sizeof(buf));
    CHECK(strcmp(buf, "127.0.0.2->127.0.0.1:18001") == 0, "%s != %s", buf, "127.0.0.2->127.0.0.1:18001");
    CHECK_EQ(tw_pool_dest_format(d3, NULL, 0), 26);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a6, sizeof(a6), NULL, 0, &d2), 0);
    tw_pool_dest_format(d2, buf, sizeof(buf));
    CHECK(strcmp(buf, "[::1]:80") == 0, "%s != %s", buf, "[::1]:80");
    CHECK_EQ(tw_pool_dests(p, list, 4), 3);
    CHECK(list[0] == d1 && list[1] == d3 && list[2] == d2);

    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&zero, sizeof(zero), NULL, 0, &d2),
                 TW_EBADOPT);
    CHECK(d2 == NULL);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a),
                              (struct sockaddr *)&sp, sizeof(sp), &d2), TW_EBADOPT);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a),
                              (struct sockaddr *)&a6, sizeof(a6), &d2), -EAFNOSUPPORT);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&un, sizeof(un), NULL, 0, &d2),
                 -EAFNOSUPPORT);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, 4, NULL, 0, &d2), -EINVAL);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a6, sizeof(a), NULL, 0, &d2),
                 -EINVAL);
    CHECK_EQ(tw_pool_dest(p, NULL, 0, NULL, 0, &d2), -EINVAL);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a), NULL, 0, NULL),
                 -EINVAL);

    /* a destination of another pool */
    CHECK_EQ(tw_pool_get(q, d1, 0, &c), TW_EFOREIGN);
    CHECK_EQ(c.fd, -1);
    CHECK_EQ(tw_pool_close(p), 0);
    CHECK_EQ(tw_pool_close(p), TW_ECLOSED);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a), NULL, 0, &d2),
                 TW_ECLOSED);
    CHECK_EQ(tw_pool_get(p, d1, 0, &c), TW_ECLOSED);
    tw_pool_free(p);
    tw_pool_free(q);
}

/* ---- leases: reuse, order, misuse -------------------------------------------------- */

static void lifo(struct tw_pool_opts *o) { o->order = TW_POOL_LIFO; }
static void fifo(struct tw_pool_opts *o) { o->order = TW_POOL_FIFO; }

static void order_case(void (*tweak)(struct tw_pool_opts *), int want)
{
    struct tw_pool *p = pool(tweak);
    struct tw_pool_dest *d = dest(p, PORT_A);
    struct tw_pool_conn c[3], x;
    int fds[3];

    for (int i = 0; i < 3; i++) {
        get_ok(p, d, &c[i]);
        CHECK_EQ(c[i].uses, 1);
        CHECK_EQ(c[i].idle_ns, 0);
        CHECK(c[i].dest == d);
        fds[i] = c[i].fd;
    }
    for (int i = 0; i < 3; i++)
        CHECK_EQ(tw_pool_put(p, &c[i], TW_POOL_REUSE), 0);
    get_ok(p, d, &x);
    CHECK_EQ(x.fd, fds[want], "reuse order picked the wrong connection");
    CHECK_EQ(x.uses, 2);
    CHECK(request(x.fd));
    CHECK_EQ(tw_pool_put(p, &x, TW_POOL_REUSE), 0);
    CHECK_EQ(stats(d).reuses, 1);
    CHECK_EQ(stats(d).connects, 3);
    CHECK_EQ(stats(d).idle, 3);
    check(p);
    tw_pool_free(p);
}

TEST(reuse_lifo_fifo, 20)
{
    netns();
    srv_start("-l 18001");
    order_case(lifo, 2);
    order_case(fifo, 0);
    CHECK_EQ(srv_stat("accepted"), 6);
    srv_stop();
}

TEST(lease_misuse, 20)
{
    struct tw_pool *p, *q;
    struct tw_pool_dest *d, *dq;
    struct tw_pool_conn c, copy, other, zero = { 0 };

    netns();
    srv_start("-l 18001");
    p = pool(NULL);
    q = pool(NULL);
    d = dest(p, PORT_A);
    dq = dest(q, PORT_A);

    get_ok(p, d, &c);
    copy = c;
    CHECK_EQ(tw_pool_put(p, &c, 7), -EINVAL);
    CHECK_EQ(tw_pool_put(q, &c, TW_POOL_REUSE), TW_EFOREIGN, "lease of another pool");
    CHECK_EQ(tw_pool_put(p, &zero, TW_POOL_REUSE), TW_EFOREIGN);
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0);
    CHECK_EQ(c.fd, -1);
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), TW_EDOUBLE, "same struct twice");
    CHECK_EQ(tw_pool_put(p, &copy, TW_POOL_REUSE), TW_EDOUBLE, "a copy");
    /* the connection is leased again: the stale copy must not steal it */
    get_ok(p, d, &other);
    CHECK_EQ(other.fd, copy.fd);
    CHECK_EQ(tw_pool_put(p, &copy, TW_POOL_DISCARD), TW_EDOUBLE);
    CHECK(request(other.fd), "the stale put did not touch the live lease");
    copy = other;
    copy._slot = 99999;
    CHECK_EQ(tw_pool_put(p, &copy, TW_POOL_REUSE), TW_EFOREIGN);
    CHECK_EQ(tw_pool_get(p, dq, 0, &copy), TW_EFOREIGN);
    CHECK_EQ(tw_pool_put(p, &other, TW_POOL_REUSE), 0);
    CHECK_EQ(stats(d).leases, 2);
    check(p);

    /* a closed pool */
    get_ok(p, d, &c);
    CHECK_EQ(tw_pool_close(p), 0);
    CHECK_EQ(tw_pool_get(p, d, 0, &other), TW_ECLOSED);
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0, "put after close is accepted");
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), TW_EDOUBLE);
    CHECK_EQ(stats(d).close_shutdown, 1);
    CHECK_EQ(stats(d).open, 0);
    CHECK_EQ(tw_pool_reap(p), 0);
    check(p);
    tw_pool_free(p);
    tw_pool_free(q);
    srv_stop();
}

/* ---- caps, ageing --------------------------------------------------------------- */

static void idle2(struct tw_pool_opts *o) { o->max_idle_per_dest = 2; }

TEST(idle_cap, 20)
{
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c[4];

    netns();
    srv_start("-l 18001");
    p = pool(idle2);
    d = dest(p, PORT_A);
    for (int i = 0; i < 4; i++)
        get_ok(p, d, &c[i]);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(tw_pool_put(p, &c[i], TW_POOL_REUSE), 0);
    CHECK_EQ(stats(d).idle, 2);
    CHECK_EQ(stats(d).close_over_cap, 2);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

static void total2(struct tw_pool_opts *o) { o->max_total = 2; }

TEST(total_cap_evicts_lru_idle, 20)
{
    struct tw_pool *p;
    struct tw_pool_dest *a, *b;
    struct tw_pool_conn c1, c2, x;
    int fd1, fd2;

    netns();
    srv_start("-l 18001 -l 18002");
    p = pool(total2);
    a = dest(p, PORT_A);
    b = dest(p, PORT_B);
    get_ok(p, a, &c1);
    get_ok(p, a, &c2);
    fd1 = c1.fd;
    fd2 = c2.fd;
    CHECK_EQ(tw_pool_put(p, &c1, TW_POOL_REUSE), 0); /* least recent */
    CHECK_EQ(tw_pool_put(p, &c2, TW_POOL_REUSE), 0);
    get_ok(p, b, &x); /* total full of idle A: the LRU one makes room */
    CHECK(request(x.fd));
    CHECK_EQ(stats(a).close_over_cap, 1);
    CHECK_EQ(stats(a).idle, 1);
    CHECK_EQ(tw_pool_put(p, &x, TW_POOL_REUSE), 0);
    get_ok(p, a, &c1);
    CHECK_EQ(c1.fd, fd2, "the most recently used A connection survived");
    (void)fd1;
    CHECK_EQ(tw_pool_put(p, &c1, TW_POOL_REUSE), 0);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

static void idle100(struct tw_pool_opts *o) { o->idle_timeout_ms = 100; }

TEST(idle_timeout_and_reap, 20)
{
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c[3];

    netns();
    srv_start("-l 18001");
    p = pool(idle100);
    d = dest(p, PORT_A);
    cycle(p, d);
    sleep_ms(300);
    get_ok(p, d, &c[0]);
    CHECK_EQ(c[0].uses, 1, "an idle-expired connection was handed out");
    CHECK_EQ(stats(d).close_idle_timeout, 1);
    for (int i = 1; i < 3; i++)
        get_ok(p, d, &c[i]);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(tw_pool_put(p, &c[i], TW_POOL_REUSE), 0);
    CHECK_EQ(tw_pool_reap(p), 0, "nothing expired yet");
    sleep_ms(300);
    CHECK_EQ(tw_pool_reap(p), 3);
    CHECK_EQ(stats(d).close_idle_timeout, 4);
    CHECK_EQ(stats(d).open, 0);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

static void uses3(struct tw_pool_opts *o) { o->max_uses = 3; }

TEST(max_uses, 20)
{
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c;

    netns();
    srv_start("-l 18001");
    p = pool(uses3);
    d = dest(p, PORT_A);
    for (unsigned i = 1; i <= 7; i++) {
        get_ok(p, d, &c);
        CHECK_EQ(c.uses, (i - 1) % 3 + 1);
        CHECK(request(c.fd));
        CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0);
    }
    CHECK_EQ(stats(d).close_max_uses, 2);
    CHECK_EQ(stats(d).connects, 3);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

static void life200(struct tw_pool_opts *o) { o->max_lifetime_ms = 200; }

TEST(lifetime, 20)
{
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c;

    netns();
    srv_start("-l 18001");
    p = pool(life200);
    d = dest(p, PORT_A);
    cycle(p, d);
    sleep_ms(400);
    get_ok(p, d, &c); /* expired while idle: closed at get */
    CHECK_EQ(c.uses, 1);
    CHECK_EQ(stats(d).close_lifetime, 1);
    sleep_ms(400);
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0); /* expired while leased */
    CHECK_EQ(stats(d).close_lifetime, 2);
    CHECK_EQ(stats(d).idle, 0);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

static void jitter(struct tw_pool_opts *o)
{
    o->max_lifetime_ms = 2000;
    o->lifetime_jitter_ms = 1900; /* lifetimes spread over 100..2000 ms */
    o->max_idle_per_dest = 50;
    o->idle_timeout_ms = 0;
}

TEST(lifetime_jitter_spreads_expiry, 30)
{
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c[50];
    uint64_t t0;
    int closed;

    netns();
    srv_start("-l 18001");
    p = pool(jitter);
    d = dest(p, PORT_A);
    t0 = twx_now_ms();
    for (int i = 0; i < 50; i++)
        get_ok(p, d, &c[i]);
    for (int i = 0; i < 50; i++)
        CHECK_EQ(tw_pool_put(p, &c[i], TW_POOL_REUSE), 0);
    sleep_ms(800);
    closed = tw_pool_reap(p);
    CHECK(closed >= 1, "no lifetime ended within 800 ms");
    if (twx_now_ms() - t0 < 1500) /* skip the other bound if the machine stalled */
        CHECK(closed < 50, "all 50 lifetimes ended at once: no jitter");
    CHECK_EQ(stats(d).close_lifetime, (uint64_t)closed);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

/* ---- the liveness check: no dead connection is ever handed out ----------------------- */

static void dead_case(const char *how)
{
    struct tw_pool *p = pool(NULL);
    struct tw_pool_dest *d = dest(p, PORT_A);
    struct tw_pool_conn c;

    cycle(p, d);
    srv_wait_open(1);
    CHECK_EQ(srv_kill(how, 1), 1);
    get_ok(p, d, &c);
    CHECK_EQ(c.uses, 1, "%s: the dead connection was handed out", how);
    CHECK(request(c.fd));
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0);
    CHECK_EQ(stats(d).close_dead, 1);
    check(p);
    tw_pool_free(p);
}

TEST(dead_fin_rst_junk, 20)
{
    netns();
    srv_start("-l 18001");
    dead_case("fin");
    dead_case("rst");
    dead_case("junk");
    srv_stop();
}

/* The server closes (and every second time resets) idle connections. */
TEST(server_idle_close, 30)
{
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c;
    uint64_t t0;

    netns();
    srv_start("-l 18001 -i 100 -r 2");
    p = pool(NULL);
    d = dest(p, PORT_A);
    for (unsigned round = 1; round <= 4; round++) {
        cycle(p, d);
        t0 = twx_now_ms();
        while (srv_stat("idle_closed") < round && twx_now_ms() - t0 < 10000)
            sleep_ms(10);
        CHECK_EQ(srv_stat("idle_closed"), round);
        sleep_ms(20);
        get_ok(p, d, &c);
        CHECK_EQ(c.uses, 1, "round %u: closed connection handed out", round);
        CHECK(request(c.fd));
        CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0);
        CHECK_EQ(stats(d).close_dead, round);
    }
    CHECK_EQ(srv_stat("resets"), 2);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

/* Many threads; between epochs the server kills idle connections in
 * different ways; every leased connection must carry a request. */
#define DS_THREADS 6
static struct tw_pool *ds_pool;
static struct tw_pool_dest *ds_dest;
static pthread_barrier_t ds_bar;
static atomic_uint ds_failed, ds_cycles;
static int ds_epochs, ds_per_epoch;

static void *ds_worker(void *arg)
{
    (void)arg;
    for (int e = 0; e < ds_epochs; e++) {
        pthread_barrier_wait(&ds_bar);
        for (int i = 0; i < ds_per_epoch; i++) {
            struct tw_pool_conn c;

            if (tw_pool_get(ds_pool, ds_dest, 10000, &c) != 0) {
                atomic_fetch_add(&ds_failed, 1);
                continue;
            }
            if (!request(c.fd)) {
                atomic_fetch_add(&ds_failed, 1);
                tw_pool_put(ds_pool, &c, TW_POOL_DISCARD);
                continue;
            }
            atomic_fetch_add(&ds_cycles, 1);
            tw_pool_put(ds_pool, &c, TW_POOL_REUSE);
        }
        pthread_barrier_wait(&ds_bar);
    }
    return NULL;
}

static void ds_opts(struct tw_pool_opts *o)
{
    o->max_per_dest = DS_THREADS;
    o->max_idle_per_dest = DS_THREADS;
    o->idle_timeout_ms = 0;
}

TEST(dead_never_handed_out_threads, 60)
{
    static const char *how[] = { "fin", "rst", "junk" };
    pthread_t t[DS_THREADS];
    unsigned killed = 0;

    netns();
    srv_start("-l 18001");
    ds_pool = pool(ds_opts);
    ds_dest = dest(ds_pool, PORT_A);
    ds_epochs = sanitized() ? 8 : 20;
    ds_per_epoch = sanitized() ? 50 : 200;
    pthread_barrier_init(&ds_bar, NULL, DS_THREADS + 1);
    for (int i = 0; i < DS_THREADS; i++)
        pthread_create(&t[i], NULL, ds_worker, NULL);
    for (int e = 0; e < ds_epochs; e++) {
        pthread_barrier_wait(&ds_bar); /* workers run */
        pthread_barrier_wait(&ds_bar); /* all connections are back */
        CHECK_EQ(tw__pool_sane(ds_pool), 0);
        if (e + 1 < ds_epochs)
            killed += srv_kill(how[e % 3], 1 + (unsigned)(e / 3) % 3);
    }
    for (int i = 0; i < DS_THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&ds_failed), 0,
                 "%u leased connections were dead", atomic_load(&ds_failed));
    CHECK(killed > 0);

    /* flush: lease every idle connection once, so that each killed one
     * has met the check */
    {
        struct tw_pool_stats st = stats(ds_dest);
        struct tw_pool_conn c[DS_THREADS];
        unsigned n = (unsigned)st.idle;

        for (unsigned i = 0; i < n; i++) {
            get_ok(ds_pool, ds_dest, &c[i]);
            CHECK(request(c[i].fd));
        }
        for (unsigned i = 0; i < n; i++)
            CHECK_EQ(tw_pool_put(ds_pool, &c[i], TW_POOL_REUSE), 0);
    }
    CHECK_EQ(stats(ds_dest).close_dead, killed,
                 "every killed connection was caught by the check");
    check(ds_pool);
    CHECK_EQ(srv_stat("accepted"), stats(ds_dest).connects);
    tw_pool_free(ds_pool);
    srv_stop();
}

/* ---- caps and FIFO waiting under contention ------------------------------------------ */

#define CT_THREADS 12
#define CT_PER_DEST 3
#define CT_TOTAL 4
static struct tw_pool *ct_pool;
static struct tw_pool_dest *ct_dest[2];
static atomic_int ct_cur[2], ct_total, ct_bad, ct_err;
static atomic_int ct_stop;
static int ct_iters;

static void *ct_worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;

    for (int i = 0; i < ct_iters; i++) {
        int k = (int)(rand_r(&seed) & 1), err;
        struct tw_pool_conn c;

        err = tw_pool_get(ct_pool, ct_dest[k], 30000, &c);
        if (err) {
            atomic_fetch_add(&ct_err, 1);
            continue;
        }
        if (atomic_fetch_add(&ct_cur[k], 1) + 1 > CT_PER_DEST ||
            atomic_fetch_add(&ct_total, 1) + 1 > CT_TOTAL)
            atomic_fetch_add(&ct_bad, 1);
        if (!request(c.fd))
            atomic_fetch_add(&ct_err, 1);
        if (rand_r(&seed) % 4 == 0)
            usleep(rand_r(&seed) % 300);
        atomic_fetch_sub(&ct_cur[k], 1);
        atomic_fetch_sub(&ct_total, 1);
        tw_pool_put(ct_pool, &c, rand_r(&seed) % 13 ? TW_POOL_REUSE : TW_POOL_DISCARD);
    }
    return NULL;
}

static void *ct_checker(void *arg)
{
    (void)arg;
    while (!atomic_load(&ct_stop)) {
        if (tw__pool_sane(ct_pool) != 0)
            atomic_fetch_add(&ct_bad, 1000);
        usleep(500);
    }
    return NULL;
}

static void ct_opts(struct tw_pool_opts *o)
{
    o->max_per_dest = CT_PER_DEST;
    o->max_total = CT_TOTAL;
}

TEST(caps_hold_under_contention, 90)
{
    pthread_t t[CT_THREADS], chk;
    struct tw_pool_stats st;
    int fds;

    netns();
    srv_start("-l 18001 -l 18002");
    fds = fd_count();
    ct_pool = pool(ct_opts);
    ct_dest[0] = dest(ct_pool, PORT_A);
    ct_dest[1] = dest(ct_pool, PORT_B);
    ct_iters = sanitized() ? 150 : 1000;
    pthread_create(&chk, NULL, ct_checker, NULL);
    for (int i = 0; i < CT_THREADS; i++)
        pthread_create(&t[i], NULL, ct_worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < CT_THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&ct_stop, 1);
    pthread_join(chk, NULL);
    CHECK_EQ(atomic_load(&ct_bad), 0, "a cap was exceeded or an invariant broke");
    CHECK_EQ(atomic_load(&ct_err), 0, "gets or requests failed");
    check(ct_pool);
    tw_pool_stats(ct_pool, &st);
    CHECK_EQ(st.leases, (uint64_t)CT_THREADS * ct_iters);
    CHECK(st.waits > 0, "12 threads on 4 connections never waited?");
    CHECK_EQ(st.wait_timeouts, 0);
    CHECK(st.reuses > st.connects);
    CHECK_EQ(srv_stat("accepted"), st.connects);
    tw_pool_free(ct_pool);
    CHECK_EQ(fd_count(), fds, "file descriptors leaked");
    srv_stop();
}

/* FIFO: waiters are served in arrival order. */
#define FF_N 5
static struct tw_pool *ff_pool;
static struct tw_pool_dest *ff_dest[2];
static int ff_which[FF_N];
static atomic_int ff_seq;
static int ff_order[FF_N];

static void *ff_waiter(void *arg)
{
    int i = (int)(uintptr_t)arg;
    struct tw_pool_conn c;
    int err = tw_pool_get(ff_pool, ff_dest[ff_which[i]], 20000, &c);

    ff_order[i] = err ? -1000 + err : atomic_fetch_add(&ff_seq, 1);
    if (!err) {
        if (!request(c.fd))
            ff_order[i] = -1;
        sleep_ms(5);
        tw_pool_put(ff_pool, &c, TW_POOL_REUSE);
    }
    return NULL;
}

static void wait_waiting(struct tw_pool *p, uint64_t n)
{
    struct tw_pool_stats st;
    uint64_t t0 = twx_now_ms();

    do {
        tw_pool_stats(p, &st);
        if (st.waiting == n)
            return;
        sleep_ms(1);
    } while (twx_now_ms() - t0 < 10000);
    CHECK(0, "never saw %lu waiters", (unsigned long)n);
}

static void ff_run(void (*tweak)(struct tw_pool_opts *), const int *which)
{
    pthread_t t[FF_N];
    struct tw_pool_conn held;

    ff_pool = pool(tweak);
    ff_dest[0] = dest(ff_pool, PORT_A);
    ff_dest[1] = dest(ff_pool, PORT_B);
    atomic_store(&ff_seq, 0);
    get_ok(ff_pool, ff_dest[0], &held);
    for (int i = 0; i < FF_N; i++) {
        ff_which[i] = which[i];
        pthread_create(&t[i], NULL, ff_waiter, (void *)(uintptr_t)i);
        wait_waiting(ff_pool, (uint64_t)i + 1); /* i+1 are in line, in order */
    }
    CHECK_EQ(tw_pool_put(ff_pool, &held, TW_POOL_REUSE), 0);
    for (int i = 0; i < FF_N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < FF_N; i++)
        CHECK_EQ(ff_order[i], i, "waiter %d was served %d-th", i, ff_order[i]);
    check(ff_pool);
}

static void one_per_dest(struct tw_pool_opts *o) { o->max_per_dest = 1; }
static void one_total(struct tw_pool_opts *o) { o->max_total = 1; }

TEST(fifo_waiters, 60)
{
    static const int same[FF_N] = { 0, 0, 0, 0, 0 };
    static const int mixed[FF_N] = { 1, 0, 1, 1, 0 };

    netns();
    srv_start("-l 18001 -l 18002");
    /* one destination, per-destination cap: hand-overs in order */
    ff_run(one_per_dest, same);
    CHECK_EQ(stats(ff_dest[0]).connects, 1, "one connection served all");
    CHECK_EQ(stats(ff_dest[0]).reuses, FF_N);
    tw_pool_free(ff_pool);
    /* two destinations under a total cap of 1: close-and-grant in order */
    ff_run(one_total, mixed);
    CHECK_EQ(stats(ff_dest[0]).close_over_cap + stats(ff_dest[1]).close_over_cap, 4);
    tw_pool_free(ff_pool);
    srv_stop();
}

/* ---- deadlines --------------------------------------------------------------------- */

static void wait300(struct tw_pool_opts *o)
{
    o->max_per_dest = 1;
    o->wait_timeout_ms = 300;
}

TEST(wait_timeout, 20)
{
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn held, c;
    uint64_t t0, el;

    netns();
    srv_start("-l 18001");
    p = pool(wait300);
    d = dest(p, PORT_A);
    get_ok(p, d, &held);
    t0 = twx_now_ms();
    CHECK_EQ(tw_pool_get(p, d, 200, &c), TW_EWAITTIMEOUT);
    el = twx_now_ms() - t0;
    CHECK(el >= 200 && el < 1500, "200 ms wait took %lu ms", (unsigned long)el);
    t0 = twx_now_ms();
    CHECK_EQ(tw_pool_get(p, d, 0, &c), TW_EWAITTIMEOUT);
    CHECK(twx_now_ms() - t0 < 500, "a 0 ms wait waited");
    t0 = twx_now_ms();
    CHECK_EQ(tw_pool_get(p, d, TW_POOL_WAIT_DEFAULT, &c), TW_EWAITTIMEOUT);
    el = twx_now_ms() - t0;
    CHECK(el >= 300 && el < 1600, "default 300 ms wait took %lu ms",
              (unsigned long)el);
    CHECK_EQ(c.fd, -1);
    CHECK_EQ(stats(d).waits, 3);
    CHECK_EQ(stats(d).wait_timeouts, 3);
    CHECK_EQ(stats(d).waiting, 0);
    CHECK_EQ(tw_pool_put(p, &held, TW_POOL_REUSE), 0);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

static void ct200(struct tw_pool_opts *o)
{
    o->connect_timeout_ms = 200;
    o->max_per_dest = 1;
}

static struct tw_pool *cto_pool;
static struct tw_pool_dest *cto_dest;
static int cto_err;
static uint64_t cto_ms;

static void *cto_second(void *arg)
{
    struct tw_pool_conn c;
    uint64_t t0 = twx_now_ms();

    (void)arg;
    cto_err = tw_pool_get(cto_pool, cto_dest, 5000, &c);
    cto_ms = twx_now_ms() - t0;
    return NULL;
}

TEST(connect_timeout_refused, 30)
{
    struct tw_pool_conn c;
    struct tw_pool_dest *nobody;
    pthread_t t;
    uint64_t t0, el;
    int err;

    netns();
    srv_start("-l 18001 -S 18003");
    cto_pool = pool(ct200);
    cto_dest = dest(cto_pool, PORT_STALL);
    t0 = twx_now_ms();
    err = tw_pool_get(cto_pool, cto_dest, 0, &c);
    el = twx_now_ms() - t0;
    CHECK_EQ(err, -ETIMEDOUT, "stalled connect: %s", tw_strerror(err));
    CHECK(el >= 200 && el < 1500, "200 ms connect took %lu ms", (unsigned long)el);
    /* two callers, cap 1: the second waits for the first's slot, then
     * makes its own attempt (a connect timeout, not a wait timeout) */
    pthread_create(&t, NULL, cto_second, NULL);
    err = tw_pool_get(cto_pool, cto_dest, 5000, &c);
    pthread_join(t, NULL);
    CHECK_EQ(err, -ETIMEDOUT);
    CHECK_EQ(cto_err, -ETIMEDOUT, "second caller: %s", tw_strerror(cto_err));
    CHECK(cto_ms < 3000);
    CHECK_EQ(stats(cto_dest).connect_timeouts, 3);
    CHECK_EQ(stats(cto_dest).open, 0);

    nobody = dest(cto_pool, PORT_NOBODY);
    CHECK_EQ(tw_pool_get(cto_pool, nobody, 0, &c), -ECONNREFUSED);
    CHECK_EQ(stats(nobody).connect_errors, 1);
    CHECK_EQ(stats(nobody).open, 0);
    CHECK_EQ(stats(nobody).connects, 0);
    check(cto_pool);
    tw_pool_free(cto_pool);
    srv_stop();
}

/* The server accepts one connection per 200 ms with a backlog of 1. */
static struct tw_pool *sa_pool;
static struct tw_pool_dest *sa_dest;
static atomic_int sa_ok;

static void *sa_worker(void *arg)
{
    struct tw_pool_conn c;

    (void)arg;
    if (tw_pool_get(sa_pool, sa_dest, 10000, &c) == 0) {
        if (request(c.fd))
            atomic_fetch_add(&sa_ok, 1);
        tw_pool_put(sa_pool, &c, TW_POOL_REUSE);
    }
    return NULL;
}

static void ct8s(struct tw_pool_opts *o) { o->connect_timeout_ms = 8000; }

TEST(slow_accept, 40)
{
    pthread_t t[4];

    netns();
    srv_start("-l 18001 -a 200");
    sa_pool = pool(ct8s);
    sa_dest = dest(sa_pool, PORT_A);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, sa_worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&sa_ok), 4);
    CHECK_EQ(srv_stat("accepted"), stats(sa_dest).connects);
    cycle(sa_pool, sa_dest); /* and reuse works as usual */
    check(sa_pool);
    tw_pool_free(sa_pool);
    srv_stop();
}

/* tw_pool_close() wakes a waiter with TW_ECLOSED. */
static struct tw_pool *cw_pool;
static struct tw_pool_dest *cw_dest;
static int cw_err;

static void *cw_waiter(void *arg)
{
    struct tw_pool_conn c;

    (void)arg;
    cw_err = tw_pool_get(cw_pool, cw_dest, 20000, &c);
    return NULL;
}

TEST(close_wakes_waiters, 30)
{
    struct tw_pool_conn held;
    pthread_t t;
    uint64_t t0;

    netns();
    srv_start("-l 18001");
    cw_pool = pool(one_per_dest);
    cw_dest = dest(cw_pool, PORT_A);
    get_ok(cw_pool, cw_dest, &held);
    pthread_create(&t, NULL, cw_waiter, NULL);
    wait_waiting(cw_pool, 1);
    t0 = twx_now_ms();
    CHECK_EQ(tw_pool_close(cw_pool), 0);
    pthread_join(t, NULL);
    CHECK_EQ(cw_err, TW_ECLOSED);
    CHECK(twx_now_ms() - t0 < 5000);
    CHECK_EQ(tw_pool_put(cw_pool, &held, TW_POOL_REUSE), 0);
    check(cw_pool);
    tw_pool_free(cw_pool);
    srv_stop();
}

/* ---- sockets: source address, port range, IPv6 ------------------------------------- */

TEST(source_address_no_port, 20)
{
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct sockaddr_in a = sin4("127.0.0.1", PORT_A), s = sin4("127.0.0.2", 0), l;
    socklen_t len = sizeof(l);
    struct tw_pool_conn c;
    int v = 0;
    char ip[32];

    netns();
    srv_start("-l 18001");
    p = pool(NULL);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a),
                              (struct sockaddr *)&s, sizeof(s), &d), 0);
    get_ok(p, d, &c);
    CHECK_EQ(getsockname(c.fd, (struct sockaddr *)&l, &len), 0);
    inet_ntop(AF_INET, &l.sin_addr, ip, sizeof(ip));
    CHECK(strcmp(ip, "127.0.0.2") == 0, "%s != %s", ip, "127.0.0.2");
    len = sizeof(v);
    CHECK_EQ(getsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &v, &len), 0);
    CHECK_EQ(v, 1, "IP_BIND_ADDRESS_NO_PORT is set");
    CHECK(request(c.fd));
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

static void range10(struct tw_pool_opts *o)
{
    o->port_range_lo = 42000;
    o->port_range_hi = 42009;
    o->max_idle_per_dest = 16;
}

TEST(local_port_range, 20)
{
    struct tw_pool_opts o;
    struct tw_pool *p = NULL;
    struct tw_pool_dest *d;
    struct tw_pool_conn c[11];
    int err;

    netns();
    tw_pool_opts_init(&o);
    range10(&o);
    err = tw_pool_new(&o, &p);
    if (err == -ENOPROTOOPT)
        SKIP("SKIP kernel lacks IP_LOCAL_PORT_RANGE (Linux 6.3+)");
    CHECK_EQ(err, 0);
    srv_start("-l 18001");
    d = dest(p, PORT_A);
    for (int i = 0; i < 10; i++) {
        struct sockaddr_in l;
        socklen_t len = sizeof(l);

        get_ok(p, d, &c[i]);
        CHECK_EQ(getsockname(c[i].fd, (struct sockaddr *)&l, &len), 0);
        CHECK(ntohs(l.sin_port) >= 42000 && ntohs(l.sin_port) <= 42009,
                  "local port %u outside 42000-42009", ntohs(l.sin_port));
    }
    err = tw_pool_get(p, d, 0, &c[10]);
    CHECK_EQ(err, -EADDRNOTAVAIL, "11th connect: %s", tw_strerror(err));
    CHECK_EQ(stats(d).connect_errors, 1);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(tw_pool_put(p, &c[i], TW_POOL_REUSE), 0);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

TEST(ipv6, 20)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(PORT_V6) };
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c;
    int fd;

    netns();
    fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        SKIP("SKIP no IPv6: %s", strerror(errno));
    close(fd);
    a.sin6_addr = in6addr_loopback;
    srv_start("-l [::1]:18005");
    p = pool(NULL);
    CHECK_EQ(tw_pool_dest(p, (struct sockaddr *)&a, sizeof(a), NULL, 0, &d), 0);
    cycle(p, d);
    get_ok(p, d, &c);
    CHECK_EQ(c.uses, 2);
    CHECK(request(c.fd));
    CHECK_EQ(tw_pool_put(p, &c, TW_POOL_REUSE), 0);
    check(p);
    tw_pool_free(p);
    srv_stop();
}

/* ---- a million cycles, no fd leak ----------------------------------------------------- */

TEST(million_cycles_no_fd_leak, 120)
{
    /* 1,000,000 in the normal build; 100,000 under ASan/TSan */
    const unsigned n = sanitized() ? 100000 : 1000000;
    struct tw_pool *p;
    struct tw_pool_dest *d;
    struct tw_pool_conn c;
    struct tw_pool_stats st;
    unsigned discards = 0, kills = 0;
    int base;

    netns();
    srv_start("-l 18001");
    base = fd_count();
    p = pool(NULL);
    d = dest(p, PORT_A);
    for (unsigned i = 1; i <= n; i++) {
        int err = tw_pool_get(p, d, 0, &c);

        CHECK_EQ(err, 0, "cycle %u: %s", i, tw_strerror(err));
        if (i % 10000 == 0) {
            CHECK(request(c.fd), "cycle %u: dead connection", i);
            tw_pool_discard(p, &c);
            discards++;
        } else {
            tw_pool_put(p, &c, TW_POOL_REUSE);
        }
        if (i % 100000 == 50001) {
            srv_wait_open(1);
            kills += srv_kill(i % 200000 ? "fin" : "rst", 1);
            CHECK(fd_count() <= base + 1, "cycle %u: %d fds, base %d", i,
                      fd_count(), base);
        }
    }
    tw_pool_stats(p, &st);
    CHECK_EQ(st.leases, n);
    CHECK_EQ(st.close_error, discards);
    CHECK_EQ(st.close_dead, kills);
    CHECK_EQ(st.connects, st.idle + discards + kills); /* the last cycle discards */
    check(p);
    tw_pool_free(p);
    CHECK_EQ(fd_count(), base, "file descriptors leaked");
    srv_stop();
}

/* ---- the runner for ThreadSanitizer builds ------------------------------------------- */

#ifdef OWN_RUNNER
struct t_case {
    const char *name;
    void (*fn)(void);
    unsigned secs;
};
static struct t_case t_cases[64];
static int t_ncases;

static void t_register(const char *name, void (*fn)(void), unsigned secs)
{
    if (t_ncases < 64)
        t_cases[t_ncases++] = (struct t_case){ name, fn, secs };
}

/* Usage: test_pool [--filter SUBSTRING] (other Criterion options ignored) */
int main(int argc, char **argv)
{
    int pass = 0, fail = 0, crash = 0, tested = 0;
    const char *filter = NULL;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
    /* constructors ran in reverse definition order on some toolchains:
     * run in name order for a stable report */
    for (int i = 0; i < t_ncases; i++)
        for (int j = i + 1; j < t_ncases; j++)
            if (strcmp(t_cases[j].name, t_cases[i].name) < 0) {
                struct t_case t = t_cases[i];

                t_cases[i] = t_cases[j];
                t_cases[j] = t;
            }
    for (int i = 0; i < t_ncases; i++) {
        struct t_case *t = &t_cases[i];
        uint64_t t0 = twx_now_ms();
        int st = 0;
        pid_t pid;

        if (filter && !strstr(t->name, filter))
            continue;
        fflush(NULL);
        pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            alarm(t->secs);
            t->fn();
            exit(0);
        }
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
            printf("ok - pool::%s  # SKIP it exited 77 (reason in its output above)\n", t->name);
            continue;
        }
        tested++;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            pass++;
            printf("ok - pool::%s  (%.2fs)\n", t->name, (twx_now_ms() - t0) / 1000.0);
        } else if (WIFEXITED(st)) {
            fail++;
            printf("not ok - pool::%s\n", t->name);
        } else {
            crash++;
            printf("not ok - pool::%s: CRASH (signal %d%s)\n", t->name,
                   WTERMSIG(st), WTERMSIG(st) == SIGALRM ? ": timeout" : "");
        }
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | "
           "Crashing: %d \n", tested, pass, fail, crash);
    return fail + crash ? 1 : 0;
}
#endif
