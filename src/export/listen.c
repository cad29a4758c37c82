/*
 * listen.c — where `twkit export` listens: --listen values (ADDR:PORT,
 * [IPv6]:PORT, :PORT for every address, IPv4 and IPv6 on one socket,
 * localhost) and the listening socket itself, made here rather than by
 * libmicrohttpd so that a refusal says why (address in use, a port below
 * 1024 without CAP_NET_BIND_SERVICE) and so that port 0 can report the
 * port the kernel chose.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "export.h"
#include "twx/msg.h"
#include "twx/opt.h"

int exp_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                     size_t errlen)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    memset(ss, 0, sizeof(*ss));
    if (!colon || (size_t)(colon - s) >= sizeof(host)) {
        snprintf(err, errlen, "'%s' is not ADDRESS:PORT", s);
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    uint64_t port;
    if (twx_parse_uint(colon + 1, 0, 65535, &port)) {
        snprintf(err, errlen, "'%s': the port must be a number from 0 to 65535", s);
        return -1;
    }
    size_t hl = strlen(host);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            goto bad;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
    } else if (!hl) { /* ":PORT": every address, IPv4 and IPv6 */
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
    } else {
        if (!strcmp(host, "localhost"))
            snprintf(host, sizeof(host), "127.0.0.1");
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            goto bad;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
    }
    return 0;
bad:
    snprintf(err, errlen, "'%s': not an IPv4 address, [IPv6] address, 'localhost' or empty", host);
    return -1;
}

int exp_listen(const char *spec, bool tls, char *url, size_t urllen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char err[256];
    if (exp_listen_parse(spec, &ss, &len, err, sizeof(err))) {
        twx_err("--listen %s", err);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1, zero = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
        bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1024)) {
        twx_err("cannot listen on %s: %s%s", spec, strerror(errno),
                errno == EACCES ? " (a port below 1024 needs CAP_NET_BIND_SERVICE)" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(url, urllen, "%s://[%s]:%u/metrics", tls ? "https" : "http", host, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(url, urllen, "%s://%s:%u/metrics", tls ? "https" : "http", host, port);
    }
    return fd;
}

