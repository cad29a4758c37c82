/*
 * floor.c — the anchor of bench/stat.sh: the least work any tool can do to
 * look at the TIME_WAIT sockets of the current network namespace.
 *
 * One NETLINK_SOCK_DIAG dump, TIME_WAIT only (state mask 1 << 6), no
 * extensions (idiag_ext = 0), IPv4 and IPv6 in one walk of the kernel's
 * established hash through the legacy TCPDIAG_GETSOCK request (the kernel
 * turns it into an AF_UNSPEC dump).  If the kernel rejects that request, it
 * falls back to two SOCK_DIAG_BY_FAMILY dumps (AF_INET, then AF_INET6),
 * which cost 30-40% more (perf-notes.md).  It counts the messages and prints
 * the count; it looks at nothing inside them.  Whatever twkit stat costs
 * above this is twkit's own work.
 *
 * Usage: floor [-2] [-v]
 *   -2  use the two per-family dumps even if the one-walk request works
 *   -v  say on stderr which request was used
 * Exit: 0 ok, 1 netlink error, 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#define TW_STATE_TIME_WAIT 6
#define RCVBUF_BYTES (64 << 20) /* the kernel fills ~32 KiB per recv() anyway */

static char buf[256 << 10] __attribute__((aligned(8)));

/* Send one dump request.  legacy: TCPDIAG_GETSOCK (family ignored, AF_UNSPEC). */
static int send_req(int fd, int legacy, int family)
{
    struct {
        struct nlmsghdr nlh;
        union {
            struct inet_diag_req v1;
            struct inet_diag_req_v2 v2;
        } u;
    } req;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

    memset(&req, 0, sizeof req);
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nlh.nlmsg_seq = 1;
    if (legacy) {
        req.nlh.nlmsg_type = TCPDIAG_GETSOCK;
        req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof req.u.v1);
        req.u.v1.idiag_family = AF_UNSPEC;
        req.u.v1.idiag_ext = 0;
        req.u.v1.idiag_states = 1u << TW_STATE_TIME_WAIT;
    } else {
        req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
        req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof req.u.v2);
        req.u.v2.sdiag_family = (unsigned char)family;
        req.u.v2.sdiag_protocol = IPPROTO_TCP;
        req.u.v2.idiag_ext = 0;
        req.u.v2.idiag_states = 1u << TW_STATE_TIME_WAIT;
    }
    if (sendto(fd, &req, req.nlh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -errno;
    return 0;
}

/*
 * Read one dump to its NLMSG_DONE, adding the socket messages to *count.
 * Returns 0, or the negative errno the kernel or recv() gave.
 */
static int read_dump(int fd, unsigned long long *count, int *intr)
{
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno; /* ENOBUFS: the dump overran the receive buffer */
        }
        if (n == 0)
            return -EPIPE;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_flags & NLM_F_DUMP_INTR)
                *intr = 1;
            if (h->nlmsg_type == NLMSG_DONE) {
                int err = 0;
                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof err))
                    memcpy(&err, NLMSG_DATA(h), sizeof err);
                return err < 0 ? err : 0;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e))
                    return -EBADMSG;
                return e->error < 0 ? e->error : -EBADMSG;
            }
            (*count)++;
        }
    }
}

static int open_diag(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    int sz = RCVBUF_BYTES;

    if (fd < 0)
        return -1;
    /* FORCE needs CAP_NET_ADMIN; without it take what rmem_max allows. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    return fd;
}

int main(int argc, char **argv)
{
    int two = 0, verbose = 0, intr = 0, opt, err, fd;
    unsigned long long count = 0;
    const char *how;

    while ((opt = getopt(argc, argv, "2vh")) != -1) {
        switch (opt) {
        case '2': two = 1; break;
        case 'v': verbose = 1; break;
        case 'h':
            printf("usage: floor [-2] [-v]\n"
                   "Count the TIME_WAIT sockets of this network namespace with one\n"
                   "NETLINK_SOCK_DIAG dump (IPv4+IPv6 in one walk) and print the count.\n"
                   "  -2  two per-family dumps instead of one walk\n"
                   "  -v  say which request was used (stderr)\n");
            return 0;
        default:
            fprintf(stderr, "usage: floor [-2] [-v]\n");
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "floor: unexpected argument '%s'\nusage: floor [-2] [-v]\n", argv[optind]);
        return 2;
    }

    if ((fd = open_diag()) < 0) {
        fprintf(stderr, "floor: socket(NETLINK_SOCK_DIAG): %s\n", strerror(errno));
        return 1;
    }
    how = "TCPDIAG_GETSOCK AF_UNSPEC (one walk)";
    err = two ? -EOPNOTSUPP : send_req(fd, 1, AF_UNSPEC);
    if (!err)
        err = read_dump(fd, &count, &intr);
    if (err && !two && count == 0 && err != -ENOBUFS) {
        /* The kernel refused the legacy request: a fresh socket, two dumps. */
        if (verbose)
            fprintf(stderr, "floor: TCPDIAG_GETSOCK refused (%s), using two dumps\n",
                    strerror(-err));
        two = 1;
    }
    if (two) {
        how = "SOCK_DIAG_BY_FAMILY AF_INET + AF_INET6 (two walks)";
        close(fd);
        if ((fd = open_diag()) < 0) {
            fprintf(stderr, "floor: socket(NETLINK_SOCK_DIAG): %s\n", strerror(errno));
            return 1;
        }
        count = 0;
        err = send_req(fd, 0, AF_INET);
        if (!err)
            err = read_dump(fd, &count, &intr);
        if (!err)
            err = send_req(fd, 0, AF_INET6);
        if (!err)
            err = read_dump(fd, &count, &intr);
    }
    close(fd);
    if (err) {
        fprintf(stderr, "floor: sock_diag dump: %s%s\n", strerror(-err),
                err == -ENOBUFS ? " (receive buffer overrun)" : "");
        return 1;
    }
    if (verbose)
        fprintf(stderr, "floor: %s%s\n", how, intr ? ", dump interrupted (NLM_F_DUMP_INTR)" : "");
    printf("%llu\n", count);
    return 0;
}
