/*
 * sockaddr.h — an address ("198.18.0.2", "::1") and a port to a
 * sockaddr, for the test helper programs (header-only: each helper is one
 * program).  A bad address ends the program with status 2.
 */
#ifndef TWKIT_TESTS_HELPERS_SOCKADDR_H
#define TWKIT_TESTS_HELPERS_SOCKADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static inline socklen_t helper_sockaddr(const char *prog, const char *host, int port,
                                        struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        return sizeof(*s4);
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        return sizeof(*s6);
    }
    fprintf(stderr, "%s: bad address %s\n", prog, host);
    exit(2);
}

#endif
