/*
 * sockgen.c — creates a known set of TCP sockets for the integration tests
 * of `twkit stat`, then holds them until killed.
 *
 * Each step is one command-line word; all connections are made
 * synchronously (connect, accept, close in a fixed order), so the final
 * states are exact: the tests assert exact counts per state, port,
 * destination and address against them, and against ss and sockstat.
 *
 *   listen ADDR PORT            a listener (kept open)
 *   twc SRC DST PORT N          N connections SRC -> DST:PORT, client closes
 *                               first: N client-side TIME_WAIT
 *   tws SRC DST PORT N          N connections, server closes first:
 *                               N server-side TIME_WAIT (local port = PORT)
 *   estab SRC DST PORT N        N connections kept open (2N ESTABLISHED)
 *   fw2 SRC DST PORT N          client closes, server never does: N orphaned
 *                               FIN_WAIT2 minisocks + N CLOSE_WAIT
 *   hold                        print "ready" and wait for SIGTERM
 *   sleep MS                    wait MS milliseconds (TIME_WAIT of two ages)
 *   netns NAME                  the sockets of the next steps are made in the
 *                               network namespace NAME (/run/netns/NAME, or
 *                               a path): a listener made before stays in
 *                               its own, so one process can hold a server
 *                               and its clients in two namespaces
 *   comm NAME                   name this process NAME (prctl PR_SET_NAME:
 *                               the first 15 bytes, as any user can)
 *   bindport                    from now on, binding SRC takes a port at
 *                               bind() (no IP_BIND_ADDRESS_NO_PORT): the
 *                               host-wide pool, as `bind()` before
 *                               `connect()` does
 *   try SRC DST PORT N          N connect() attempts to a listener anywhere
 *                               (not accepted; successes are kept open);
 *                               prints "try ok=A EADDRNOTAVAIL=B
 *                               EADDRINUSE=C other=D" (a bind() failure
 *                               counts under its errno too)
 *
 * SRC "any" lets the kernel pick the source address.  Binding a source
 * address uses IP_BIND_ADDRESS_NO_PORT so ports come from connect()
 * (unless `bindport`).  The listener for DST:PORT of twc/tws/estab/fw2 must
 * have been created by an earlier `listen`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockaddr.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAXL 64
#define MAXKEEP 100000

static struct {
    struct sockaddr_storage sa;
    socklen_t len;
    int fd;
} listeners[MAXL];
static int nl;
static int keep[MAXKEEP];
static int nkeep;
static int plain_bind; /* bindport: bind() takes the port */

static void die(const char *what)
{
    fprintf(stderr, "sockgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static socklen_t mkaddr(const char *host, int port, struct sockaddr_storage *ss)
{
    return helper_sockaddr("sockgen", host, port, ss);
}

static int find_listener(const struct sockaddr_storage *dst, socklen_t len)
{
    for (int i = 0; i < nl; i++)
        if (listeners[i].len == len && !memcmp(&listeners[i].sa, dst, len))
            return listeners[i].fd;
    fprintf(stderr, "sockgen: no listener for that destination (add 'listen' first)\n");
    exit(2);
}

static void keepfd(int fd)
{
    if (nkeep >= MAXKEEP) {
        fprintf(stderr, "sockgen: too many sockets kept\n");
        exit(2);
    }
    keep[nkeep++] = fd;
}

/* Bind fd to SRC ("any": nothing), port chosen at connect() unless bindport. */
static int bind_src(int fd, const char *src)
{
    struct sockaddr_storage s;
    if (!strcmp(src, "any"))
        return 0;
    socklen_t sl = mkaddr(src, 0, &s);
    int one = 1;
    if (!plain_bind &&
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
        die("IP_BIND_ADDRESS_NO_PORT");
    return bind(fd, (struct sockaddr *)&s, sl);
}

/* N connect() attempts to DST:PORT; successes are kept. */
static void try_connect(const char *src, const char *dst, int port, int n)
{
    struct sockaddr_storage d;
    socklen_t dl = mkaddr(dst, port, &d);
    int ok = 0, notavail = 0, inuse = 0, other = 0;
    for (int k = 0; k < n; k++) {
        int fd = socket(d.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket");
        if (bind_src(fd, src) == 0 && connect(fd, (struct sockaddr *)&d, dl) == 0) {
            ok++;
            keepfd(fd);
            continue;
        }
        if (errno == EADDRNOTAVAIL)
            notavail++;
        else if (errno == EADDRINUSE)
            inuse++;
        else
            other++;
        close(fd);
    }
    printf("try ok=%d EADDRNOTAVAIL=%d EADDRINUSE=%d other=%d\n", ok, notavail, inuse, other);
    fflush(stdout);
}

/* One connection: returns client fd and server (accepted) fd. */
static void pair(const char *src, const char *dst, int port, int *cfd, int *sfd)
{
    struct sockaddr_storage d;
    socklen_t dl = mkaddr(dst, port, &d);
    int lfd = find_listener(&d, dl);
    int fd = socket(d.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (bind_src(fd, src) < 0)
        die("bind");
    if (connect(fd, (struct sockaddr *)&d, dl) < 0)
        die("connect");
    int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (a < 0)
        die("accept");
    *cfd = fd;
    *sfd = a;
}

/* Wait until fd sees EOF (the peer's FIN arrived). */
static void wait_eof(int fd)
{
    char b[16];
    for (;;) {
        ssize_t n = read(fd, b, sizeof(b));
        if (n == 0)
            return;
        if (n < 0 && errno != EINTR)
            die("read");
    }
}

static void on_term(int sig)
{
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv)
{
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    for (int i = 1; i < argc; i++) {
        const char *cmd = argv[i];
        if (!strcmp(cmd, "listen") && i + 2 < argc) {
            if (nl >= MAXL) {
                fprintf(stderr, "sockgen: too many listeners\n");
                return 2;
            }
            listeners[nl].len = mkaddr(argv[i + 1], atoi(argv[i + 2]), &listeners[nl].sa);
            int fd = socket(listeners[nl].sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int one = 1;
            if (fd < 0)
                die("socket");
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (listeners[nl].sa.ss_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
            if (bind(fd, (struct sockaddr *)&listeners[nl].sa, listeners[nl].len) < 0)
                die("bind listener");
            if (listen(fd, 4096) < 0)
                die("listen");
            listeners[nl++].fd = fd;
            i += 2;
        } else if ((!strcmp(cmd, "twc") || !strcmp(cmd, "tws") || !strcmp(cmd, "estab") ||
                    !strcmp(cmd, "fw2")) &&
                   i + 4 < argc) {
            const char *src = argv[i + 1], *dst = argv[i + 2];
            int port = atoi(argv[i + 3]), n = atoi(argv[i + 4]);
            for (int k = 0; k < n; k++) {
                int c, s;
                pair(src, dst, port, &c, &s);
                if (!strcmp(cmd, "twc")) {
                    close(c);   /* client FIN first */
                    wait_eof(s);
                    close(s);   /* server: LAST_ACK -> CLOSED; client: TIME_WAIT */
                } else if (!strcmp(cmd, "tws")) {
                    close(s);   /* server FIN first */
                    wait_eof(c);
                    close(c);   /* client: LAST_ACK -> CLOSED; server: TIME_WAIT */
                } else if (!strcmp(cmd, "estab")) {
                    keepfd(c);
                    keepfd(s);
                } else {
                    close(c);   /* client orphaned in FIN_WAIT2 once the FIN is acked */
                    wait_eof(s);
                    keepfd(s);  /* server stays in CLOSE_WAIT */
                }
            }
            i += 4;
        } else if (!strcmp(cmd, "netns") && i + 1 < argc) {
            char path[4096];
            const char *ns = argv[++i];
            snprintf(path, sizeof(path), ns[0] == '/' ? "%s" : "/run/netns/%s", ns);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                die(path);
            close(fd);
        } else if (!strcmp(cmd, "comm") && i + 1 < argc) {
            if (prctl(PR_SET_NAME, argv[++i], 0, 0, 0) < 0)
                die("PR_SET_NAME");
        } else if (!strcmp(cmd, "sleep") && i + 1 < argc) {
            usleep((useconds_t)atoi(argv[++i]) * 1000u);
        } else if (!strcmp(cmd, "bindport")) {
            plain_bind = 1;
        } else if (!strcmp(cmd, "try") && i + 4 < argc) {
            try_connect(argv[i + 1], argv[i + 2], atoi(argv[i + 3]), atoi(argv[i + 4]));
            i += 4;
        } else if (!strcmp(cmd, "hold")) {
            usleep(100 * 1000); /* let the last ACKs land */
            printf("ready\n");
            fflush(stdout);
            for (;;)
                pause();
        } else {
            fprintf(stderr, "sockgen: bad step '%s' (see the file header)\n", cmd);
            return 2;
        }
    }
    return 0;
}
