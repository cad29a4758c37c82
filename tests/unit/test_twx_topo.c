/*
 * test_twx_topo.c — unit tests of twx/topo's descriptors made inside a
 * host (the lab's holders and veth links are tested through the lab's
 * integration tests): two hosts with no link, a tun device in each, a
 * packet from a socket in one host read from its tun and written into the
 * other's, where a socket receives it; a sysctl of one host read through
 * twx_topo_open; the hosts gone after twx_topo_destroy.  Needs root
 * (network namespaces, tun devices): skipped, with the reason, otherwise.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "twx/topo.h"

static struct twx_topo t;

static void need_hosts(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root (network namespaces and tun devices)");
    if (access("/dev/net/tun", R_OK | W_OK) != 0)
        cr_skip_test("no usable /dev/net/tun here");
    char err[256];
    cr_assert_eq(twx_topo_global_init(err, sizeof(err)), 0, "%s", err);
    memset(&t, 0, sizeof(t));
    t.n_hosts = 2;
    t.host[0].name = "a";
    t.host[1].name = "b";
    t.host[1].sysctl[0].name = "net.ipv4.tcp_timestamps";
    snprintf(t.host[1].sysctl[0].value, sizeof(t.host[1].sysctl[0].value), "0");
    t.host[1].n_sysctl = 1;
    cr_assert_eq(twx_topo_create(&t, err, sizeof(err)), 0, "%s", err);
}

static void done(void)
{
    twx_topo_destroy(&t);
}

static int tun_of(int h, int family)
{
    char err[256];
    struct twx_topo_tun cfg = {.ifname = "tun0"};
    const char *a4[] = {"198.18.0.1", "198.18.0.2"}, *a6[] = {"2001:2::1", "2001:2::2"};
    if (family == AF_INET6) {
        cfg.local6 = a6[h];
        cfg.peer6 = a6[1 - h];
    } else {
        cfg.local4 = a4[h];
        cfg.peer4 = a4[1 - h];
    }
    int fd = twx_topo_tun(&t, h, &cfg, err, sizeof(err));
    cr_assert_geq(fd, 0, "tun in host %d: %s", h, err);
    return fd;
}

/* Send a UDP datagram from host 0 to host 1 over the two tun devices, with
 * this test as the wire; the receiving socket gets it. */
static void relay(int family)
{
    int tun0 = tun_of(0, family), tun1 = tun_of(1, family);
    int rx = twx_topo_socket(&t, 1, family, SOCK_DGRAM, 0);
    int tx = twx_topo_socket(&t, 0, family, SOCK_DGRAM, 0);
    cr_assert_geq(rx, 0);
    cr_assert_geq(tx, 0);
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(9999);
        inet_pton(AF_INET6, "2001:2::2", &a->sin6_addr);
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(9999);
        inet_pton(AF_INET, "198.18.0.2", &a->sin_addr);
        sl = sizeof(*a);
    }
    cr_assert_eq(bind(rx, (struct sockaddr *)&ss, sl), 0, "bind in host 1: %s",
                 strerror(errno));
    cr_assert_eq(sendto(tx, "ping", 4, 0, (struct sockaddr *)&ss, sl), 4,
                 "the host can route to its peer at once: %s", strerror(errno));
    /* read IP packets from host 0's tun until the UDP one (IPv6 may send
     * router solicitations first), and write it into host 1's */
    unsigned char pkt[2048];
    ssize_t n = -1;
    for (int tries = 0; tries < 20; tries++) {
        struct pollfd pf = {.fd = tun0, .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, 2000), 1, "a packet comes out of host 0's tun");
        n = read(tun0, pkt, sizeof(pkt));
        int proto = family == AF_INET6 ? pkt[6] : pkt[9];
        if (n > 0 && proto == IPPROTO_UDP)
            break;
    }
    cr_assert_gt(n, 0);
    cr_assert_eq(write(tun1, pkt, (size_t)n), n);
    char buf[16] = "";
    struct pollfd pf = {.fd = rx, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 2000), 1, "the datagram reaches host 1's socket");
    cr_assert_eq(recv(rx, buf, sizeof(buf), 0), 4);
    cr_assert_str_eq(buf, "ping");
    close(rx);
    close(tx);
    close(tun0);
    close(tun1);
}

Test(twx_topo, tun_relay_ipv4, .init = need_hosts, .fini = done)
{
    relay(AF_INET);
}

Test(twx_topo, tun_relay_ipv6, .init = need_hosts, .fini = done)
{
    relay(AF_INET6);
}

Test(twx_topo, open_reads_the_hosts_sysctl, .init = need_hosts, .fini = done)
{
    char buf[8] = "";
    for (int h = 0; h < 2; h++) {
        int fd = twx_topo_open(&t, h, "/proc/sys/net/ipv4/tcp_timestamps", O_RDONLY);
        cr_assert_geq(fd, 0);
        cr_assert_gt(read(fd, buf, sizeof(buf) - 1), 0);
        close(fd);
        cr_assert_eq(buf[0], h ? '0' : '1', "host %d: tcp_timestamps %c", h, buf[0]);
    }
    cr_assert_lt(twx_topo_open(&t, 0, "/proc/sys/net/ipv4/no_such_sysctl", O_RDONLY), 0);
}

Test(twx_topo, destroy_removes_the_hosts, .init = need_hosts)
{
    char path[64];
    pid_t holder = t.host[0].pid;
    int sock = twx_topo_socket(&t, 0, AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(sock, 0);
    twx_topo_destroy(&t);
    snprintf(path, sizeof(path), "/proc/%d", (int)holder);
    cr_assert_neq(access(path, F_OK), 0, "the holder is gone");
    close(sock);
    cr_assert_lt(twx_topo_socket(&t, 0, AF_INET, SOCK_STREAM, 0), 0,
                 "no socket in a host that is gone");
}
