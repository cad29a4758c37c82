/*
 * util.c — small pieces shared by the lab's programs: the address checks
 * that keep lab traffic inside loopback and the RFC 2544 benchmarking
 * range, and escaping of outside strings for the lab's human views.
 */
#include "lab/lab.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "twx/text.h"

int lab_parse_hostport(const char *s, struct sockaddr_in *out)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon - s >= 16)
        return -1;
    char host[16];
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return -1;
    uint64_t p;
    if (twx_parse_uint(colon + 1, 1, 65535, &p))
        return -1;
    out->sin_port = htons((uint16_t)p);
    return 0;
}

bool lab_addr_allowed(struct in_addr a)
{
    uint32_t h = ntohl(a.s_addr);
    return (h >> 24) == 127 || (h & 0xfffe0000u) == 0xc6120000u; /* 198.18.0.0/15 */
}

char *lab_esc(const char *s)
{
    if (!s)
        s = "";
    size_t n = twx_esc_len(s);
    char *b = malloc(n);
    if (!b) {
        twx_err("out of memory");
        exit(TW_EXIT_RUNTIME);
    }
    return twx_esc(b, n, s);
}
