/*
 * test_export_listen.c — `twkit export --listen` values
 * (src/export/listen.c, included directly) and the socket made from one.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "../../src/export/listen.c"

static char err[256];

static int parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    err[0] = '\0';
    return exp_listen_parse(s, ss, len, err, sizeof(err));
}

Test(export_listen, good_values)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char b[64];
    cr_assert_eq(parse("127.0.0.1:10120", &ss, &len), 0, "%s", err);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    cr_expect_eq(ss.ss_family, AF_INET);
    cr_expect_eq(ntohs(a4->sin_port), 10120);
    cr_expect_str_eq(inet_ntop(AF_INET, &a4->sin_addr, b, sizeof(b)), "127.0.0.1");
    cr_assert_eq(parse("localhost:9", &ss, &len), 0);
    cr_expect_str_eq(inet_ntop(AF_INET, &a4->sin_addr, b, sizeof(b)), "127.0.0.1");
    cr_assert_eq(parse("[::1]:0", &ss, &len), 0);
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    cr_expect_eq(ss.ss_family, AF_INET6);
    cr_expect_eq(len, sizeof(*a6));
    cr_expect_str_eq(inet_ntop(AF_INET6, &a6->sin6_addr, b, sizeof(b)), "::1");
    cr_assert_eq(parse(":65535", &ss, &len), 0, "every address");
    cr_expect_eq(ss.ss_family, AF_INET6);
    cr_expect(IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr));
    cr_expect_eq(ntohs(a6->sin6_port), 65535);
}

Test(export_listen, bad_values)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *bad[] = {"", "10120", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                         "127.0.0.1:80x", "::1:80", "[::1:80", "[127.0.0.1]:80", "example.com:80",
                         "1.2.3:80", "[]:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cr_expect_eq(parse(bad[i], &ss, &len), -1, "'%s' accepted", bad[i]);
        cr_expect_neq(err[0], '\0', "'%s': no reason", bad[i]);
    }
}

Test(export_listen, port_zero_reports_the_port_bound)
{
    char url[128];
    int fd = exp_listen("127.0.0.1:0", false, url, sizeof(url));
    cr_assert_geq(fd, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char want[128];
    snprintf(want, sizeof(want), "http://127.0.0.1:%u/metrics", ntohs(a.sin_port));
    cr_expect_str_eq(url, want);
    cr_expect_neq(ntohs(a.sin_port), 0);
    close(fd);
    fd = exp_listen("[::1]:0", true, url, sizeof(url));
    if (fd >= 0) { /* no IPv6 loopback in some sandboxes */
        cr_expect(!strncmp(url, "https://[::1]:", 14), "%s", url);
        close(fd);
    }
}
