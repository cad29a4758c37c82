/*
 * doctor_load.c — the load generator of doctor's tests: a bounded
 * connect/close loop against a built-in server, with the socket options
 * whose kernel behaviour doctor explains.
 *
 * doctor's rules and the facts it prints are tested by creating the real
 * condition in a private network namespace; this helper creates the load:
 *   - plain connect()/close(), client closing first (client-side TIME_WAIT);
 *   - --server-close: the server closes first (server-side TIME_WAIT);
 *   - --linger0: close with SO_LINGER {1, 0} (RST, no TIME_WAIT);
 *   - --bind0: bind(addr:0) before connect() (the port comes from the
 *     host-wide pool); --no-port: the same with IP_BIND_ADDRESS_NO_PORT (the
 *     port is chosen at connect(), per destination); --bind ADDR alone
 *     implies --no-port;
 *   - --probe-when FILE: once FILE exists, send one raw out-of-window ACK
 *     to each client TIME_WAIT it created, from the server's address; the
 *     TIME_WAIT answers with an ACK, the server (no socket) with an
 *     in-window RST: TIME-WAIT assassination unless tcp_rfc1337 = 1.
 * --ports FILE writes the local ports used (once the load is done: tests
 * wait for it); --hold S keeps the server listening S more seconds.
 * Every loop is bounded by --count and by --time.  It prints one line:
 *   ok=N fail=N first_errno=NAME fail_at=N bind_fail=N elapsed=S
 * and exits 0 (also when connects failed: the test judges), 2 on bad usage,
 * 1 on a setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "twx/clock.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

struct args {
    struct sockaddr_in dst;
    struct sockaddr_in src;
    bool have_src;
    long count;
    double rate, time_max;
    bool linger0, server_close, bind0, no_port, keep_going, no_server;
    const char *probe_when;
    const char *ports_file;
    double hold;
};

static void sleep_until(double t)
{
    for (;;) {
        double left = t - twx_now_s();
        if (left <= 0)
            return;
        struct timespec ts = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int parse_ep(const char *s, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

/*
 * The server: accept; with server_close close at once, else read to EOF.
 * When the client writes its number of successful connects to ctl, the
 * server serves until it has accepted that many (or is idle for 2 s) and
 * exits, so no connection is cut short by the server going away.
 */
static void serve(int lfd, int ctl, bool server_close)
{
    long served = 0, expect = -1;
    for (;;) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {ctl, POLLIN, 0}};
        int n = poll(p, expect < 0 ? 2 : 1, 2000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && expect >= 0)
            _exit(0); /* idle after the client finished */
        if (expect < 0 && (p[1].revents & (POLLIN | POLLHUP))) {
            if (read(ctl, &expect, sizeof(expect)) != (ssize_t)sizeof(expect))
                _exit(0);
        }
        if (expect >= 0 && served >= expect)
            _exit(0);
        if (!(p[0].revents & POLLIN))
            continue;
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            _exit(1);
        }
        served++;
        if (!server_close) {
            char buf[256];
            struct pollfd q = {c, POLLIN, 0};
            while (poll(&q, 1, 5000) > 0 && read(c, buf, sizeof(buf)) > 0)
                ;
        }
        close(c);
    }
}

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* One bare ACK from (raddr:rport) to (laddr:lport), seq far outside the window. */
static int send_oow_ack(int raw, struct in_addr laddr, uint16_t lport, struct in_addr raddr,
                        uint16_t rport, uint32_t seq)
{
    struct tcphdr th;
    memset(&th, 0, sizeof(th));
    th.source = htons(rport);
    th.dest = htons(lport);
    th.seq = htonl(seq);
    th.ack_seq = htonl(seq ^ 0x5a5a5a5a);
    th.doff = 5;
    th.ack = 1;
    th.window = htons(1024);
    struct {
        uint32_t s, d;
        uint8_t zero, proto;
        uint16_t len;
    } __attribute__((packed)) ph = {raddr.s_addr, laddr.s_addr, 0, IPPROTO_TCP,
                                    htons(sizeof(th))};
    uint8_t buf[sizeof(ph) + sizeof(th)];
    memcpy(buf, &ph, sizeof(ph));
    memcpy(buf + sizeof(ph), &th, sizeof(th));
    th.check = htons(csum(buf, sizeof(buf), 0));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = laddr};
    return sendto(raw, &th, sizeof(th), 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? -errno : 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: doctor_load --connect ADDR:PORT [--count N] [--rate R] [--time S]\n"
            "       [--linger0] [--server-close] [--bind ADDR] [--bind0] [--no-port]\n"
            "       [--keep-going] [--no-server] [--probe-when FILE] [--ports FILE]\n"
            "       [--hold S]\n");
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"connect", required_argument, NULL, 'c'}, {"count", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},    {"time", required_argument, NULL, 't'},
        {"linger0", no_argument, NULL, 'L'},       {"server-close", no_argument, NULL, 'S'},
        {"bind", required_argument, NULL, 'b'},    {"bind0", no_argument, NULL, '0'},
        {"no-port", no_argument, NULL, 'P'},       {"keep-going", no_argument, NULL, 'k'},
        {"no-server", no_argument, NULL, 'N'},     {"probe-when", required_argument, NULL, 'w'},
        {"ports", required_argument, NULL, 'p'},   {"hold", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct args a = {.count = 1, .time_max = 30};
    bool have_dst = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'c':
            if (parse_ep(optarg, &a.dst))
                return usage(), 2;
            have_dst = true;
            break;
        case 'b':
            if (inet_pton(AF_INET, optarg, &a.src.sin_addr) != 1)
                return usage(), 2;
            a.src.sin_family = AF_INET;
            a.have_src = true;
            break;
        case 'n':
            a.count = strtol(optarg, &end, 10);
            if (*end || a.count < 0 || a.count > 1000000)
                return usage(), 2;
            break;
        case 'r':
            a.rate = strtod(optarg, &end);
            if (*end || a.rate < 0)
                return usage(), 2;
            break;
        case 't':
            a.time_max = strtod(optarg, &end);
            if (*end || a.time_max <= 0 || a.time_max > 300)
                return usage(), 2;
            break;
        case 'L': a.linger0 = true; break;
        case 'S': a.server_close = true; break;
        case '0': a.bind0 = true; break;
        case 'P': a.no_port = true; break;
        case 'k': a.keep_going = true; break;
        case 'N': a.no_server = true; break;
        case 'w': a.probe_when = optarg; break;
        case 'p': a.ports_file = optarg; break;
        case 'H':
            a.hold = strtod(optarg, &end);
            if (*end || a.hold < 0 || a.hold > 60)
                return usage(), 2;
            break;
        default:
            return usage(), 2;
        }
    }
    if (!have_dst || optind != argc)
        return usage(), 2;
    if (!a.have_src) {
        a.src.sin_family = AF_INET;
        a.src.sin_addr.s_addr = htonl(INADDR_ANY);
    }
    if (a.bind0 && a.no_port)
        return usage(), 2;
    if (a.have_src && !a.bind0)
        a.no_port = true; /* --bind ADDR: choose the port per destination */

    pid_t server = -1;
    int ctl[2] = {-1, -1};
    if (!a.no_server) {
        if (pipe2(ctl, O_CLOEXEC) < 0)
            return 1;
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&a.dst, sizeof(a.dst)) < 0 ||
            listen(lfd, 4096) < 0) {
            fprintf(stderr, "doctor_load: server on port %u: %s\n", ntohs(a.dst.sin_port),
                    strerror(errno));
            return 1;
        }
        server = fork();
        if (server < 0)
            return 1;
        if (server == 0) {
            alarm((unsigned)a.time_max + 10); /* never outlive the test */
            close(ctl[1]);
            serve(lfd, ctl[0], a.server_close);
        }
        close(lfd);
        close(ctl[0]);
    }

    uint16_t *ports = calloc((size_t)a.count + 1, sizeof(*ports));
    if (!ports)
        return 1;
    long ok = 0, fail = 0, bind_fail = 0, fail_at = -1;
    int first_errno = 0;
    double t0 = twx_now_s(), deadline = t0 + a.time_max;
    for (long i = 0; i < a.count && twx_now_s() < deadline; i++) {
        if (a.rate > 0)
            sleep_until(t0 + i / a.rate);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            perror("socket");
            break;
        }
        int one = 1, e = 0;
        if (a.no_port)
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (a.bind0 || a.no_port) {
            struct sockaddr_in b = a.src;
            b.sin_port = 0;
            if (bind(fd, (struct sockaddr *)&b, sizeof(b)) < 0) {
                e = errno;
                bind_fail++;
            }
        }
        if (!e && connect(fd, (struct sockaddr *)&a.dst, sizeof(a.dst)) < 0)
            e = errno;
        if (e) {
            if (!first_errno) {
                first_errno = e;
                fail_at = i;
            }
            fail++;
            close(fd);
            if (!a.keep_going)
                break;
            continue;
        }
        struct sockaddr_in me;
        socklen_t ml = sizeof(me);
        if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0)
            ports[ok] = ntohs(me.sin_port);
        ok++;
        if (a.server_close) {
            char buf[64];
            struct pollfd p = {fd, POLLIN, 0};
            while (poll(&p, 1, 2000) > 0 && read(fd, buf, sizeof(buf)) > 0)
                ;
        }
        if (a.linger0) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
    }
    double elapsed = twx_now_s() - t0;
    if (a.ports_file) { /* written atomically: tests wait for it to appear */
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp", a.ports_file);
        FILE *f = fopen(tmp, "w");
        for (long i = 0; f && i < ok; i++)
            fprintf(f, "%u\n", ports[i]);
        if (f && fclose(f) == 0)
            rename(tmp, a.ports_file);
    }
    if (a.hold > 0) /* keep the server listening (server-side TIME_WAIT stays server-side) */
        sleep_until(twx_now_s() + (a.hold < deadline - twx_now_s() + 10 ? a.hold : 10));
    if (server > 0) {
        if (write(ctl[1], &ok, sizeof(ok)) != (ssize_t)sizeof(ok))
            kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        close(ctl[1]);
        server = -1;
    }

    long probed = 0;
    if (a.probe_when) {
        while (access(a.probe_when, F_OK) != 0 && twx_now_s() < deadline)
            usleep(20000);
        int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
        if (raw < 0) {
            perror("doctor_load: raw socket");
        } else {
            struct in_addr laddr = a.have_src ? a.src.sin_addr : a.dst.sin_addr;
            for (long i = 0; i < ok; i++)
                if (send_oow_ack(raw, laddr, ports[i], a.dst.sin_addr, ntohs(a.dst.sin_port),
                                 0x40000000u + (uint32_t)i) == 0)
                    probed++;
            close(raw);
        }
    }
    printf("ok=%ld fail=%ld first_errno=%s fail_at=%ld bind_fail=%ld probed=%ld elapsed=%.3f\n",
           ok, fail, first_errno ? strerrorname_np(first_errno) : "none", fail_at, bind_fail,
           probed, elapsed);
    free(ports);
    return 0;
}
