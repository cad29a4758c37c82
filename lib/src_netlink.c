/*
 * src_netlink.c — the NETLINK_SOCK_DIAG socket source, built on libmnl.
 *
 * This is the fast path of `twkit stat`, and it follows what perf-notes.md
 * measured:
 *   - one kernel walk for IPv4 and IPv6: the legacy TCPDIAG_GETSOCK request
 *     with family AF_UNSPEC (SOCK_DIAG_BY_FAMILY cannot say "both"); if a
 *     kernel refuses it, two SOCK_DIAG_BY_FAMILY dumps;
 *   - the state mask and the port/address filters run in the kernel
 *     (INET_DIAG_REQ_BYTECODE), so unselected sockets are never copied;
 *   - no extensions requested (idiag_ext = 0);
 *   - streaming: each receive buffer is parsed and folded before the next
 *     recv(); nothing of the dump is kept.
 * The same buffer walker replays recorded dumps (fixtures) and is the
 * fuzzing entry point, so live and recorded input take one code path.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "internal.h"

#ifndef TCPDIAG_GETSOCK
#define TCPDIAG_GETSOCK 18
#endif

#define NL_RCVBUF (32u << 20)   /* large socket buffer: no drops on big dumps */
#define NL_RECV_LEN (64u << 10) /* the kernel fills ~32 KiB per recv() */

/* ---- message parsing ------------------------------------------------------- */

int tw_parse_diag_msg(const void *payload, size_t len, struct tw_sock *out)
{
    const struct inet_diag_msg *m = payload;
    if (len < sizeof(*m))
        return TW_ETRUNCATED;
    if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
        return TW_EMALFORMED;
    if (m->idiag_state < 1 || m->idiag_state >= TW_STATE_MAX)
        return TW_EUNKSTATE;
    out->state = m->idiag_state;
    out->timer = m->idiag_timer;
    out->lport = ntohs(m->id.idiag_sport);
    out->rport = ntohs(m->id.idiag_dport);
    out->flags = 0;
    out->pad = 0;
    out->ifindex = m->id.idiag_if;
    out->expires_ms = m->idiag_expires;
    out->uid = m->idiag_uid;
    out->inode = m->idiag_inode;
    out->laddr.family = out->raddr.family = m->idiag_family;
    memset(out->laddr.pad, 0, sizeof(out->laddr.pad));
    memset(out->raddr.pad, 0, sizeof(out->raddr.pad));
    memcpy(out->laddr.u.b, m->id.idiag_src, 16);
    memcpy(out->raddr.u.b, m->id.idiag_dst, 16);
    if (m->idiag_family == AF_INET) {
        out->laddr.u.w[1] = out->laddr.u.w[2] = out->laddr.u.w[3] = 0;
        out->raddr.u.w[1] = out->raddr.u.w[2] = out->raddr.u.w[3] = 0;
    }
    return 0;
}

/*
 * Walk one receive buffer.  Returns 0 (go on), 1 (NLMSG_DONE seen), or a
 * negative error / the callback's positive stop value through *cb_ret.
 */
static int walk_buf(const void *buf, size_t len, const struct tw_query *q, tw_sock_cb cb,
                    void *arg, uint32_t seq, int *cb_ret, unsigned *ndone, bool kernel_filtered)
{
    const uint8_t *p = buf;
    size_t left = len;
    bool fam_filter = q && !(q->want_v4 && q->want_v6);
    /* a live dump was filtered by the kernel's bytecode; a replayed one was not */
    bool full_match = q && !kernel_filtered && tw_query_filters(q);

    /*
     * Not mnl_nlmsg_ok(): it compares nlmsg_len as an int, so a length of
     * 2^31 or more in a recorded file would pass and wrap the walk.
     */
    while (left >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *nlh = (const void *)p;
        uint32_t mlen = nlh->nlmsg_len;
        if (mlen < sizeof(struct nlmsghdr) || mlen > left)
            return TW_ETRUNCATED;
        size_t step = NLMSG_ALIGN(mlen);
        if (step > left)
            step = left; /* the last message needs no padding */
        if (seq && nlh->nlmsg_seq != seq)
            goto next; /* stale reply of an earlier request */
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
            return TW_EDUMPINTR;
        if (nlh->nlmsg_type == NLMSG_DONE) {
            if (!ndone)
                return 1;
            ++*ndone; /* a recording may hold several dumps (one per family) */
            goto next;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
                return TW_ETRUNCATED;
            if (e->error > 0 || e->error < -4095)
                return TW_EMALFORMED; /* the kernel sends 0 or a -errno */
            return e->error ? e->error : 1;
        }
        if (nlh->nlmsg_type == SOCK_DIAG_BY_FAMILY || nlh->nlmsg_type == TCPDIAG_GETSOCK) {
            struct tw_sock s;
            int err = tw_parse_diag_msg(NLMSG_DATA(nlh), mlen - NLMSG_HDRLEN, &s);
            if (err)
                return err;
            if (q && TW__UNLIKELY(full_match || fam_filter || !(q->states & TW_STATE_BIT(s.state)))) {
                if (!tw_query_match(q, &s))
                    goto next;
            }
            int r = cb(&s, arg);
            if (r) {
                *cb_ret = r;
                return 2;
            }
        } else if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
            return TW_EMALFORMED;
        }
    next:
        p += step;
        left -= step;
    }
    if (left > 0)
        return TW_ETRUNCATED; /* a partial header at the end */
    return ndone && *ndone ? 1 : 0;
}

int tw_parse_diag_buf(const void *buf, size_t len, const struct tw_query *q, tw_sock_cb cb,
                      void *arg, bool *done, int *cb_ret)
{
    int r = 0;
    unsigned ndone = 0;
    *done = false;
    *cb_ret = 0;
    int w = walk_buf(buf, len, q, cb, arg, 0, &r, &ndone, false);
    if (w == 1)
        *done = true;
    if (w == 2) {
        *cb_ret = r;
        return r;
    }
    return w < 0 ? w : 0;
}

/* ---- bytecode -------------------------------------------------------------- */

/*
 * Programs are built from blocks as ss(8) builds them: a block's ops jump
 * to (block end + 4) to reject; AND concatenates blocks (patching the
 * first block's rejects to the new end); OR puts a JMP between two blocks
 * (the first block's reject falls into the second).
 */
struct blk {
    uint8_t b[1024];
    size_t len;
};

static int blk_op(struct blk *k, uint8_t code, uint8_t yes, uint16_t no)
{
    if (k->len + 4 > sizeof(k->b))
        return TW_EBADOPT;
    struct inet_diag_bc_op op = {.code = code, .yes = yes, .no = no};
    memcpy(k->b + k->len, &op, 4);
    k->len += 4;
    return 0;
}

static int blk_port(struct blk *k, uint8_t code, uint16_t port)
{
    k->len = 0;
    int e = blk_op(k, code, 8, 12);
    return e ? e : blk_op(k, 0, 0, port);
}

static int blk_host(struct blk *k, uint8_t code, const struct tw_cidr *c)
{
    struct inet_diag_hostcond hc = {.family = c->addr.family, .prefix_len = c->prefix, .port = -1};
    size_t alen = c->addr.family == AF_INET ? 4 : 16;
    size_t sz = 4 + sizeof(hc) + alen;
    k->len = 0;
    int e = blk_op(k, code, (uint8_t)sz, (uint16_t)(sz + 4));
    if (e)
        return e;
    memcpy(k->b + k->len, &hc, sizeof(hc));
    memcpy(k->b + k->len + sizeof(hc), c->addr.u.b, alen);
    k->len += sizeof(hc) + alen;
    return 0;
}

static void blk_patch(uint8_t *p, size_t len, size_t reloc)
{
    size_t off = 0;
    while (off < len) {
        struct inet_diag_bc_op op;
        memcpy(&op, p + off, 4);
        if (op.no == len - off + 4) {
            op.no = (uint16_t)(op.no + reloc);
            memcpy(p + off, &op, 4);
        }
        off += op.yes;
    }
}

static int blk_and(struct blk *a, const struct blk *b)
{
    if (!a->len) {
        *a = *b;
        return 0;
    }
    if (a->len + b->len > sizeof(a->b))
        return TW_EBADOPT;
    blk_patch(a->b, a->len, b->len);
    memcpy(a->b + a->len, b->b, b->len);
    a->len += b->len;
    return 0;
}

static int blk_or(struct blk *a, const struct blk *b)
{
    if (!a->len) {
        *a = *b;
        return 0;
    }
    if (a->len + 4 + b->len > sizeof(a->b))
        return TW_EBADOPT;
    int e = blk_op(a, INET_DIAG_BC_JMP, 4, (uint16_t)(b->len + 4));
    if (e)
        return e;
    memcpy(a->b + a->len, b->b, b->len);
    a->len += b->len;
    return 0;
}

static int and_hosts(struct blk *prog, uint8_t code, const struct tw_cidr *list, unsigned n)
{
    struct blk any = {.len = 0}, one;
    for (unsigned i = 0; i < n; i++) {
        int e = blk_host(&one, code, &list[i]);
        if (e || (e = blk_or(&any, &one)))
            return e;
    }
    return n ? blk_and(prog, &any) : 0;
}

int tw__bc_compile(const struct tw_query *q, void *buf, size_t len)
{
    struct blk prog = {.len = 0}, one;
    int e = 0;
    if (q->sport_lo > 0 && !(e = blk_port(&one, INET_DIAG_BC_S_GE, q->sport_lo)))
        e = blk_and(&prog, &one);
    if (!e && q->sport_hi < 65535 && !(e = blk_port(&one, INET_DIAG_BC_S_LE, q->sport_hi)))
        e = blk_and(&prog, &one);
    if (!e && q->dport_lo > 0 && !(e = blk_port(&one, INET_DIAG_BC_D_GE, q->dport_lo)))
        e = blk_and(&prog, &one);
    if (!e && q->dport_hi < 65535 && !(e = blk_port(&one, INET_DIAG_BC_D_LE, q->dport_hi)))
        e = blk_and(&prog, &one);
    if (!e)
        e = and_hosts(&prog, INET_DIAG_BC_S_COND, q->src, q->n_src);
    if (!e)
        e = and_hosts(&prog, INET_DIAG_BC_D_COND, q->dst, q->n_dst);
    if (e)
        return e;
    if (prog.len > len)
        return TW_EBADOPT;
    memcpy(buf, prog.b, prog.len);
    return (int)prog.len;
}

/* ---- the live socket ------------------------------------------------------- */

int tw__nl_open(struct tw_source *src)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -errno;
    int sz = NL_RCVBUF;
    /* FORCE needs CAP_NET_ADMIN; otherwise take what rmem_max allows */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    src->nl_fd = fd;
    src->nl_compat = -1;
    src->seq = (uint32_t)getpid() << 8; /* distinct from other sockets' replies in a trace */
    return 0;
}

void tw__nl_close(struct tw_source *src)
{
    if (src->nl_fd >= 0)
        close(src->nl_fd);
    src->nl_fd = -1;
    free(src->rbuf);
    src->rbuf = NULL;
}

/* The next request's sequence number; never 0, which the walker reads as "any". */
static uint32_t next_seq(struct tw_source *src)
{
    if (!++src->seq)
        ++src->seq;
    return src->seq;
}

/* Send one dump request: legacy (family AF_UNSPEC) or SOCK_DIAG_BY_FAMILY. */
static int send_req(struct tw_source *src, bool legacy, int family, unsigned states,
                    const void *bc, int bclen, uint32_t seq)
{
    char buf[2048];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = seq;
    if (legacy) {
        nlh->nlmsg_type = TCPDIAG_GETSOCK;
        struct inet_diag_req *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
        r->idiag_family = AF_UNSPEC;
        r->idiag_states = states;
    } else {
        nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
        struct inet_diag_req_v2 *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
        r->sdiag_family = (uint8_t)family;
        r->sdiag_protocol = IPPROTO_TCP;
        r->idiag_states = states;
    }
    if (bclen > 0)
        mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, (size_t)bclen, bc);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    ssize_t n = sendto(src->nl_fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa));
    if (n < 0)
        return -errno;
    return 0;
}

/*
 * Receive one dump to its end.  Returns 0, a negative error, or the
 * callback's stop value (positive).  *got_data tells whether any socket
 * message arrived (so a failed legacy request can be retried).
 */
static int recv_dump(struct tw_source *src, const struct tw_query *q, tw_sock_cb cb, void *arg,
                     uint32_t seq)
{
    if (!src->rbuf && !(src->rbuf = malloc(NL_RECV_LEN)))
        return -ENOMEM;
    uint8_t *rbuf = src->rbuf;
    for (;;) {
        ssize_t n = recv(src->nl_fd, rbuf, NL_RECV_LEN, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == ENOBUFS ? TW_EDUMPINTR : -errno;
        }
        if (n == 0)
            return TW_ETRUNCATED;
        if (src->record_fd >= 0 && write(src->record_fd, rbuf, (size_t)n) != n)
            return -errno ? -errno : -EIO;
        int cbr = 0;
        int w = walk_buf(rbuf, (size_t)n, q, cb, arg, seq, &cbr, NULL, true);
        if (w == 1)
            return 0;
        if (w == 2)
            return cbr; /* the rest of this dump is skipped by its sequence number */
        if (w < 0)
            return w;
    }
}

int tw__nl_dump(struct tw_source *src, const struct tw_query *q, tw_sock_cb cb, void *arg)
{
    uint8_t bc[1024];
    int bclen = tw__bc_compile(q, bc, sizeof(bc));
    if (bclen < 0) {
        snprintf(src->errmsg, sizeof(src->errmsg), "filter too large for the kernel");
        return bclen;
    }
    unsigned states = q->states & TW_STATES_ALL;
    if (!states || !(q->want_v4 || q->want_v6))
        return 0;
    bool both = q->want_v4 && q->want_v6;

    if (both && src->nl_compat != 0) {
        uint32_t seq = next_seq(src);
        int e = send_req(src, true, AF_UNSPEC, states, bc, bclen, seq);
        if (!e)
            e = recv_dump(src, q, cb, arg, seq);
        if (e == -EINVAL || e == -ENOENT || e == -EOPNOTSUPP || e == -EPROTONOSUPPORT) {
            src->nl_compat = 0; /* kernel without the legacy request: per family */
        } else {
            if (!e)
                src->nl_compat = 1;
            return e;
        }
    }
    static const int fams[2] = {AF_INET, AF_INET6};
    for (int i = 0; i < 2; i++) {
        if ((fams[i] == AF_INET && !q->want_v4) || (fams[i] == AF_INET6 && !q->want_v6))
            continue;
        uint32_t seq = next_seq(src);
        int e = send_req(src, false, fams[i], states, bc, bclen, seq);
        if (!e)
            e = recv_dump(src, q, cb, arg, seq);
        if (e == -ENOENT && fams[i] == AF_INET6)
            continue; /* no IPv6 in this kernel */
        if (e)
            return e;
    }
    return 0;
}

/* ---- replay ---------------------------------------------------------------- */

int tw__nl_replay(struct tw_source *src, const char *file, const struct tw_query *q,
                  tw_sock_cb cb, void *arg)
{
    char *buf;
    size_t got;
    int e = twx_read_file(file, (size_t)1 << 31, &buf, &got);
    if (e) {
        snprintf(src->errmsg, sizeof(src->errmsg), "%s: %s", file, tw_strerror(e));
        return e;
    }
    bool done = false;
    int cbr = 0;
    e = tw_parse_diag_buf(buf, got, q, cb, arg, &done, &cbr);
    free(buf);
    if (e < 0) {
        snprintf(src->errmsg, sizeof(src->errmsg), "%s: %s", file, tw_strerror(e));
        return e;
    }
    if (e > 0)
        return e;
    if (!done) {
        snprintf(src->errmsg, sizeof(src->errmsg), "%s: dump ends without NLMSG_DONE", file);
        return TW_ETRUNCATED;
    }
    return 0;
}
