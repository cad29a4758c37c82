/*
 * httpresp.c — a peer that answers every request with the same bytes, for
 * the tests that need a response no real server sends (a reason phrase
 * with terminal escapes, a malformed head).
 *
 *   httpresp PORT FILE [N]   listen on 127.0.0.1:PORT; for N connections
 *                            (default 1): read up to the end of the request
 *                            head, write FILE's bytes, close.
 *
 * Prints "ready" once listening; exits after N connections, or after 10 s
 * in any case.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "twx/file.h"
#include "twx/opt.h"

int main(int argc, char **argv)
{
    uint64_t port, n = 1;
    if (argc < 3 || twx_parse_uint(argv[1], 1, 65535, &port) ||
        (argc > 3 && twx_parse_uint(argv[3], 1, 1000, &n))) {
        fprintf(stderr, "usage: httpresp PORT FILE [N]\n");
        return 2;
    }
    char *resp = NULL;
    size_t len = 0;
    if (twx_read_file(argv[2], 1 << 20, &resp, &len) < 0) {
        fprintf(stderr, "httpresp: cannot read %s\n", argv[2]);
        return 1;
    }
    alarm(10);
    signal(SIGPIPE, SIG_IGN);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 16) < 0) {
        perror("httpresp: listen");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (uint64_t i = 0; i < n; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            return 1;
        char buf[8192];
        size_t got = 0;
        while (got < sizeof(buf) - 1) {
            ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            buf[got] = 0;
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        if (write(c, resp, len) != (ssize_t)len)
            perror("httpresp: write");
        close(c);
    }
    free(resp);
    return 0;
}
