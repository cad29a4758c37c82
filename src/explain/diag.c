/*
 * diag.c — what the kernel says about the explain tuple: the state of the
 * socket holding it in one host, read with one exact NETLINK_SOCK_DIAG
 * lookup (SOCK_DIAG_BY_FAMILY without NLM_F_DUMP: the kernel looks the
 * tuple up in its hash instead of walking every socket of the machine), its
 * removal with SOCK_DESTROY (what `ss -K` does; it removes TIME_WAIT sockets
 * on kernels built with CONFIG_INET_DIAG_DESTROY), and the host's counters
 * from /proc/<holder>/net/{snmp,netstat}.
 *
 * The netlink sockets are made inside each host (twx_topo_socket), so a
 * request always speaks about that host's network namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "explain.h"

struct diag_req {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 r;
};

static void fill_req(const struct xrun *r, int host, struct diag_req *q, uint16_t type,
                     uint16_t flags)
{
    memset(q, 0, sizeof(*q));
    q->nlh.nlmsg_len = sizeof(*q);
    q->nlh.nlmsg_type = type;
    q->nlh.nlmsg_flags = NLM_F_REQUEST | flags;
    q->nlh.nlmsg_seq = 1;
    q->r.sdiag_family = (uint8_t)r->family;
    q->r.sdiag_protocol = IPPROTO_TCP;
    q->r.idiag_states = ~0u;
    int peer = host == XH_CLIENT ? XH_SERVER : XH_CLIENT;
    q->r.id.idiag_sport = htons(r->port[host]);
    q->r.id.idiag_dport = htons(r->port[peer]);
    inet_pton(r->family, r->addr[host], q->r.id.idiag_src);
    inet_pton(r->family, r->addr[peer], q->r.id.idiag_dst);
    q->r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    q->r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
}

/* Send q and read one reply into buf; returns its length or -errno. */
static int talk(int fd, struct diag_req *q, char *buf, size_t len)
{
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (sendto(fd, q, sizeof(*q), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    ssize_t n;
    while ((n = recv(fd, buf, len, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return -errno;
    if ((size_t)n < sizeof(struct nlmsghdr))
        return -EIO;
    return (int)n;
}

int x_diag_get(struct xrun *r, int host, struct xsock *out)
{
    memset(out, 0, sizeof(*out));
    out->expires_ms = -1;
    struct diag_req q;
    fill_req(r, host, &q, SOCK_DIAG_BY_FAMILY, 0);
    char buf[8192];
    int n = talk(r->diag[host], &q, buf, sizeof(buf));
    if (n < 0)
        return n;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (unsigned)n))
        return -EIO;
    if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
            return -EIO;
        return e->error == -ENOENT ? 0 : (e->error ? e->error : -EIO);
    }
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
        return -EIO;
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    out->found = true;
    out->state = m->idiag_state;
    out->expires_ms = m->idiag_timer ? (int64_t)m->idiag_expires : -1;
    out->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
    return 0;
}

int x_diag_destroy(struct xrun *r, int host)
{
    struct diag_req q;
    fill_req(r, host, &q, SOCK_DESTROY, NLM_F_ACK);
    char buf[1024];
    int n = talk(r->diag[host], &q, buf, sizeof(buf));
    if (n < 0)
        return n;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (unsigned)n) || h->nlmsg_type != NLMSG_ERROR ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
        return -EIO;
    const struct nlmsgerr *e = NLMSG_DATA(h);
    return e->error;
}

int x_counters_read(struct xrun *r, int host, struct tw_counters *c)
{
    char root[64];
    snprintf(root, sizeof(root), "/proc/%d", (int)r->topo.host[host].pid);
    return tw_counters_read(c, root);
}
