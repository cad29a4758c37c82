/*
 * test_twx_sample.c — the sampler on the real kernel, in private network
 * namespaces made by the test process (Criterion runs each test in its own
 * process): it counts the TIME_WAIT sockets a namespace holds and reads the
 * kernel counters that created them, in the same sample; it samples another
 * namespace through its fd and leaves the caller where it was; a bad fd is
 * an error with a reason.  Needs root (CAP_SYS_ADMIN for unshare).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "twx/sample.h"

static void need_root_netns(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root (unshare of a network namespace)");
    cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
    close(fd);
}

/* n connections to 127.0.0.1:port that the client closes first. */
static void client_closed(int n, uint16_t port)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(l, 64), 0);
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
        int s = accept(l, NULL, NULL);
        cr_assert_geq(s, 0);
        close(c); /* the client closes first: its socket goes to TIME_WAIT */
        char b;
        cr_assert_eq(read(s, &b, 1), 0); /* the FIN arrived */
        close(s);
    }
    close(l);
    usleep(20000); /* the last ACKs */
}

static ino_t netns_ino(void)
{
    struct stat st;
    cr_assert_eq(stat("/proc/thread-self/ns/net", &st), 0);
    return st.st_ino;
}

Test(twx_sample, counts_time_wait_and_the_counters_that_made_them)
{
    need_root_netns();
    struct twx_sampler s;
    char err[256] = "";
    cr_assert_eq(twx_sampler_open(&s, -1, 0, 8001, 8001, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(s.kernel->port_lo, 32768, "a new namespace has the default range");
    cr_assert(s.kernel->max_tw_buckets > 0);
    struct twx_sample a, b;
    cr_assert_eq(twx_sampler_take(&s, &a), 0);
    cr_assert_eq(a.tw, 0);
    client_closed(5, 8001);
    client_closed(3, 8002);
    cr_assert_eq(twx_sampler_take(&s, &b), 0);
    cr_assert_eq(b.tw, 8);
    cr_assert_eq(b.tw_leg, 5, "remote port 8001 only");
    cr_assert_eq(b.c.v[TW_C_TW] - a.c.v[TW_C_TW], 8);
    cr_assert_eq(b.c.v[TW_C_ACTIVE_OPENS] - a.c.v[TW_C_ACTIVE_OPENS], 8);
    cr_assert_gt(b.t_ns, a.t_ns);
    cr_assert_gt(b.span_ns, 0);
    cr_assert_lt(b.span_ns, 1000000000ull, "a sample of 8 sockets takes well under 1 s");
    twx_sampler_close(&s);
    twx_sampler_close(&s); /* twice is fine */
}

Test(twx_sample, samples_another_namespace_and_stays_home)
{
    need_root_netns(); /* namespace A */
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t holder = fork();
    cr_assert_geq(holder, 0);
    if (holder == 0) { /* stays in A so that /proc/PID/net shows A */
        char b;
        close(go[1]);
        (void)!read(go[0], &b, 1);
        _exit(0);
    }
    close(go[0]);
    client_closed(3, 9001);
    int a_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(a_fd, 0);
    need_root_netns(); /* namespace B, now ours */
    client_closed(1, 9001);
    ino_t home = netns_ino();

    struct twx_sampler sa, sb;
    char err[256] = "";
    cr_assert_eq(twx_sampler_open(&sa, a_fd, holder, 0, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(netns_ino(), home, "back in our own namespace after open");
    cr_assert_eq(twx_sampler_open(&sb, -1, 0, 0, 0, err, sizeof(err)), 0, "%s", err);
    struct twx_sample x, y;
    cr_assert_eq(twx_sampler_take(&sa, &x), 0);
    cr_assert_eq(twx_sampler_take(&sb, &y), 0);
    cr_assert_eq(x.tw, 3, "namespace A holds 3");
    cr_assert_eq(y.tw, 1, "namespace B holds 1");
    cr_assert_eq(x.tw_leg, 0, "no leg asked for");
    cr_assert_geq(x.c.v[TW_C_TW], 3, "A's counters, read through the holder");
    cr_assert_eq(y.c.v[TW_C_TW], 1, "B's counters");
    twx_sampler_close(&sa);
    twx_sampler_close(&sb);
    close(go[1]);
    waitpid(holder, NULL, 0);
    close(a_fd);
}

Test(twx_sample, a_bad_namespace_fd_is_an_error)
{
    need_root_netns();
    ino_t home = netns_ino();
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct twx_sampler s;
    char err[256] = "";
    int e = twx_sampler_open(&s, fd, 0, 0, 0, err, sizeof(err));
    cr_assert_lt(e, 0);
    cr_assert(strstr(err, "cannot enter the network namespace"), "%s", err);
    cr_assert_null(s.src);
    cr_assert_eq(netns_ino(), home);
    close(fd);
}
