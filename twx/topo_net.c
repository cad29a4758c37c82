/*
 * topo_net.c — the network side of the test hosts: rtnetlink (libmnl)
 * requests made by short-lived children that setns() into a host, and the
 * file descriptors made there for the caller.
 *
 * veth pairs are created inside the first host with the peer end placed
 * directly into the second one, so no interface ever appears in the
 * caller's namespace.  A tun device is created by a child inside its host
 * and configured there; its descriptor, like a socket's, is passed back to
 * the caller over a unix socket (SCM_RIGHTS) and keeps working from the
 * caller's namespace.  Every child dies with the caller (PDEATHSIG) and
 * lives only for the one request, so nothing here outlives the topology.
 */
#include "twx/topo.h"
#include "twx/topo_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- rtnetlink ------------------------------------------------------------ */

static int rtnl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    static unsigned seq = 1;
    nlh->nlmsg_seq = ++seq;
    nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    int n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n < 0)
        return -errno;
    int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL, NULL);
    return r < 0 ? -errno : 0;
}

static int link_up(struct mnl_socket *nl, const char *ifname)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    unsigned idx = if_nametoindex(ifname);
    if (!idx)
        return -ENODEV;
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = (int)idx;
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    return rtnl_talk(nl, nlh);
}

static int veth_add(struct mnl_socket *nl, const char *name, const char *peer, int peer_ns_fd)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *pa = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    struct ifinfomsg *pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
    memset(pifm, 0, sizeof(*pifm));
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_ns_fd);
    mnl_attr_nest_end(nlh, pa);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, li);
    return rtnl_talk(nl, nlh);
}

/* Add an address to ifname: local, with peer (point-to-point) or NULL. */
static int addr_add(struct mnl_socket *nl, const char *ifname, int family, const char *local,
                    const char *peer, int prefix)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    unsigned idx = if_nametoindex(ifname);
    if (!idx)
        return -ENODEV;
    unsigned char a[16], p[16];
    size_t alen = family == AF_INET ? 4 : 16;
    if (inet_pton(family, local, a) != 1 || (peer && inet_pton(family, peer, p) != 1))
        return -EINVAL;
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = (unsigned char)family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = idx;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    /* no duplicate address detection: the address is usable at once */
    ifa->ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
    mnl_attr_put(nlh, IFA_LOCAL, alen, a);
    mnl_attr_put(nlh, IFA_ADDRESS, alen, peer ? p : a);
    return rtnl_talk(nl, nlh);
}

/* ---- configuring a host (runs in a child that entered the host) ---------- */

static int write_sysctl(const struct twx_topo_sysctl *s)
{
    char path[128];
    snprintf(path, sizeof(path), "/proc/sys/%s", s->name);
    for (char *p = path + 10; *p; p++)
        if (*p == '.')
            *p = '/';
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, s->value, strlen(s->value));
    int e = w < 0 ? -errno : 0;
    close(fd);
    return e;
}

/* Configure host hi of t from inside it.  Phase 0 creates the veth pairs
 * whose first end is in this host (the peer goes straight to the other
 * host); phase 1, once every pair exists, sets lo, addresses and sysctls. */
static int configure_host(struct twx_topo *t, int hi, int phase)
{
    struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
        return errno ? errno : EIO;
    int e = 0;
    for (int l = 0; phase == 0 && !e && l < t->n_links; l++) {
        char ifn[IFNAMSIZ], peer[IFNAMSIZ];
        snprintf(ifn, sizeof(ifn), "lab%da", l);
        snprintf(peer, sizeof(peer), "lab%db", l);
        if (t->link[l].a == hi)
            e = veth_add(nl, ifn, peer, t->host[t->link[l].b].netns_fd);
    }
    if (phase == 0) {
        mnl_socket_close(nl);
        return e < 0 ? -e : e;
    }
    e = link_up(nl, "lo");
    for (int l = 0; !e && l < t->n_links; l++) {
        const struct twx_topo_link *k = &t->link[l];
        char ifn[IFNAMSIZ], peer[IFNAMSIZ], addr[32];
        snprintf(ifn, sizeof(ifn), "lab%da", l);
        snprintf(peer, sizeof(peer), "lab%db", l);
        if (k->a == hi) {
            {
                twx_topo_addr(addr, sizeof(addr), k->net, 1);
                e = addr_add(nl, ifn, AF_INET, addr, NULL, 24);
            }
            for (int x = 0; !e && l == 0 && x < t->host[hi].n_extra_addrs; x++) {
                twx_topo_addr(addr, sizeof(addr), k->net, 11 + x);
                e = addr_add(nl, ifn, AF_INET, addr, NULL, 24);
            }
            if (!e)
                e = link_up(nl, ifn);
        } else if (k->b == hi) {
            twx_topo_addr(addr, sizeof(addr), k->net, 2);
            e = addr_add(nl, peer, AF_INET, addr, NULL, 24);
            if (!e)
                e = link_up(nl, peer);
        }
    }
    for (int i = 0; !e && i < t->host[hi].n_sysctl; i++)
        e = write_sysctl(&t->host[hi].sysctl[i]);
    mnl_socket_close(nl);
    return e < 0 ? -e : e;
}

/* Fork a child that enters host hi's network namespace and configures it.
 * Returns 0 or -errno. */
static int configure_job(struct twx_topo *t, int hi, void *phase)
{
    return configure_host(t, hi, *(int *)phase);
}

int twx__topo_configure(struct twx_topo *t, int hi, int phase)
{
    return twx__topo_in_host(t, hi, configure_job, &phase);
}

/* ---- descriptors made inside a host ---------------------------------------- */

/* What a child sends back: 0 and the fd (SCM_RIGHTS), or -errno and a reason. */
struct fd_reply {
    int err;
    char why[200];
};

static int send_fd(int sock, int fd, const struct fd_reply *r)
{
    struct iovec iov = {.iov_base = (void *)r, .iov_len = sizeof(*r)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &msg, 0) == (ssize_t)sizeof(*r) ? 0 : -errno;
}

static int recv_fd(int sock, struct fd_reply *r)
{
    struct iovec iov = {.iov_base = r, .iov_len = sizeof(*r)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(*r))
        return n < 0 ? -errno : -EIO;
    if (r->err)
        return r->err < 0 ? r->err : -EIO;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS)
        return -EIO;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

/* Make a descriptor with fn inside host hi.  fn returns an fd or -errno and
 * may explain a failure in why. */
typedef int (*make_fn)(const void *arg, char *why, size_t whylen);

static int make_fd(struct twx_topo *t, int hi, make_fn fn, const void *arg, char *err,
                   size_t errlen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    pid_t parent = getpid();
    pid_t p = fork();
    if (p < 0) {
        int e = -errno;
        close(sv[0]);
        close(sv[1]);
        return e;
    }
    if (p == 0) {
        twx__topo_child_guard();
        if (getppid() != parent) /* the caller died before PDEATHSIG was set */
            _exit(1);
        close(sv[0]);
        struct fd_reply r = {0};
        int fd = -1;
        if (setns(t->host[hi].netns_fd, CLONE_NEWNET) < 0) {
            r.err = -errno;
            snprintf(r.why, sizeof(r.why), "cannot enter the %s host: %s", t->host[hi].name,
                     strerror(errno));
        } else if ((fd = fn(arg, r.why, sizeof(r.why))) < 0) {
            r.err = fd;
        }
        _exit(send_fd(sv[1], fd, &r) < 0 ? 1 : 0);
    }
    close(sv[1]);
    struct fd_reply r = {0};
    int fd = recv_fd(sv[0], &r);
    close(sv[0]);
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
        ;
    if (fd < 0 && err && errlen)
        snprintf(err, errlen, "%s", r.why[0] ? r.why : strerror(-fd));
    return fd;
}

struct sock_args {
    int domain, type, proto;
};

static int make_socket(const void *arg, char *why, size_t whylen)
{
    const struct sock_args *a = arg;
    int fd = socket(a->domain, a->type | SOCK_CLOEXEC, a->proto);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -errno;
    }
    return fd;
}

int twx_topo_socket(struct twx_topo *t, int hi, int domain, int type, int proto)
{
    struct sock_args a = {domain, type, proto};
    return make_fd(t, hi, make_socket, &a, NULL, 0);
}

struct open_args {
    const char *path;
    int flags;
};

static int make_open(const void *arg, char *why, size_t whylen)
{
    const struct open_args *a = arg;
    int fd = open(a->path, a->flags | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", a->path, strerror(errno));
        return -errno;
    }
    return fd;
}

int twx_topo_open(struct twx_topo *t, int hi, const char *path, int flags)
{
    struct open_args a = {path, flags};
    return make_fd(t, hi, make_open, &a, NULL, 0);
}

static int make_tun(const void *arg, char *why, size_t whylen)
{
    const struct twx_topo_tun *c = arg;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "cannot open /dev/net/tun: %s%s", strerror(e),
                 e == ENOENT ? " (no tun support: load the tun module, or create the device "
                               "node: mknod /dev/net/tun c 10 200)"
                 : e == EACCES || e == EPERM ? " (the device node's permissions exclude this "
                                               "user: it needs root, or mode 0666 as most "
                                               "distributions set it)"
                                             : "");
        return -e;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", c->ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        snprintf(why, whylen, "cannot create the tun device (TUNSETIFF): %s%s", strerror(e),
                 e == EPERM ? " (needs CAP_NET_ADMIN)" : "");
        close(fd);
        return -e;
    }
    struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
    int e = !nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : 0;
    if (!e)
        e = link_up(nl, c->ifname);
    if (!e && c->local4)
        e = addr_add(nl, c->ifname, AF_INET, c->local4, c->peer4, 32);
    if (!e && c->local6)
        e = addr_add(nl, c->ifname, AF_INET6, c->local6, c->peer6, 128);
    if (nl)
        mnl_socket_close(nl);
    if (e) {
        snprintf(why, whylen, "cannot configure the tun device: %s", strerror(-e));
        close(fd);
        return e;
    }
    /* IPv6 installs the route to the peer once the link's carrier change is
     * processed, asynchronously: wait (up to 3 s) until the host can route
     * to each peer, so the first connect() does not get ENETUNREACH. */
    for (int fam = 0; fam < 2 && !e; fam++) {
        const char *peer = fam ? c->peer6 : c->peer4;
        if (!peer)
            continue;
        e = -ETIMEDOUT;
        for (int tries = 0; tries < 3000 && e; tries++) {
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof(ss));
            socklen_t sl;
            if (fam) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons(9);
                inet_pton(AF_INET6, peer, &a->sin6_addr);
                sl = sizeof(*a);
            } else {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                a->sin_family = AF_INET;
                a->sin_port = htons(9);
                inet_pton(AF_INET, peer, &a->sin_addr);
                sl = sizeof(*a);
            }
            int u = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (u >= 0 && connect(u, (struct sockaddr *)&ss, sl) == 0)
                e = 0;
            if (u >= 0)
                close(u);
            if (e)
                usleep(1000);
        }
    }
    if (e) {
        snprintf(why, whylen, "the tun device's route to its peer did not appear");
        close(fd);
        return e;
    }
    return fd;
}

int twx_topo_tun(struct twx_topo *t, int hi, const struct twx_topo_tun *cfg, char *err,
                 size_t errlen)
{
    return make_fd(t, hi, make_tun, cfg, err, errlen);
}
