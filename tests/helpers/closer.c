/*
 * closer.c — known close patterns for the integration tests of `twkit
 * trace`: each run makes an exact number of TCP connections that end in a
 * chosen way, so that the test knows which process must be charged with how
 * many TIME_WAIT births, per destination, and compares with trace and with
 * the namespace's TcpExtTW.
 *
 *   closer server ADDR PORT MODE   listen; print "ready" on stdout; then for
 *                                  every connection, one at a time:
 *       wait    read until EOF, then close (the client closed first)
 *       first   close at once (the server closes first: TIME_WAIT here)
 *       rst     read until EOF, then close with SO_LINGER {1, 0} (a reset)
 *       late    read until EOF, wait 100 ms, then close (the client's
 *               orphan waits as a FIN_WAIT2 minisock, then turns TIME_WAIT)
 *   closer client ADDR PORT N MODE make N connections, one after the other:
 *       close   connect, close (TIME_WAIT here, once the server closes)
 *       wait    connect, read until EOF, close (the server closed first)
 *       shutrst connect, shutdown(SHUT_WR), read until the reset, close
 *       delay   connect all N, sleep 300 ms, exit without close(): the
 *               kernel closes them at exit, in this process's context
 *   Every client prints "done N" when all N connections were made.
 *
 * ADDR is IPv4 or IPv6.  Bounded: a client makes exactly N connections; a
 * server runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockaddr.h"

static void die(const char *what)
{
    fprintf(stderr, "closer: %s: %s\n", what, strerror(errno));
    exit(1);
}

static socklen_t mkaddr(const char *host, int port, struct sockaddr_storage *ss)
{
    return helper_sockaddr("closer", host, port, ss);
}

static void drain(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

static int server(const char *host, int port, const char *mode)
{
    struct sockaddr_storage ss;
    socklen_t len = mkaddr(host, port, &ss);
    int l = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;
    if (l < 0)
        die("socket");
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&ss, len) || listen(l, 128))
        die("bind/listen");
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            die("accept");
        }
        if (!strcmp(mode, "wait")) {
            drain(c);
        } else if (!strcmp(mode, "late")) {
            drain(c);
            usleep(100 * 1000);
        } else if (!strcmp(mode, "rst")) {
            drain(c);
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        } else if (strcmp(mode, "first") != 0) {
            fprintf(stderr, "closer: unknown server mode %s\n", mode);
            return 2;
        }
        close(c);
    }
}

static int client(const char *host, int port, int n, const char *mode)
{
    struct sockaddr_storage ss;
    socklen_t len = mkaddr(host, port, &ss);
    bool delay = !strcmp(mode, "delay");
    for (int i = 0; i < n; i++) {
        int fd = socket(ss.ss_family, SOCK_STREAM, 0);
        if (fd < 0)
            die("socket");
        if (connect(fd, (struct sockaddr *)&ss, len))
            die("connect");
        if (delay)
            continue;   /* kept open until exit */
        if (!strcmp(mode, "wait")) {
            drain(fd);
        } else if (!strcmp(mode, "shutrst")) {
            shutdown(fd, SHUT_WR);
            drain(fd);
        } else if (strcmp(mode, "close") != 0) {
            fprintf(stderr, "closer: unknown client mode %s\n", mode);
            return 2;
        }
        close(fd);
    }
    printf("done %d\n", n);
    fflush(stdout);
    if (delay)
        usleep(300 * 1000);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "server"))
        return server(argv[2], atoi(argv[3]), argv[4]);
    if (argc == 6 && !strcmp(argv[1], "client")) {
        int n = atoi(argv[4]);
        if (n < 1 || n > 10000) {
            fprintf(stderr, "closer: N must be 1..10000\n");
            return 2;
        }
        return client(argv[2], atoi(argv[3]), n, argv[5]);
    }
    fprintf(stderr, "usage: closer server ADDR PORT wait|first|rst\n"
                    "       closer client ADDR PORT N close|wait|shutrst|delay\n");
    return 2;
}
