/*
 * src_bpf.c — the BPF iterator socket source (`--source bpf`).
 *
 * sock_diag cannot say whether connect() may take over a TIME_WAIT socket:
 * that needs the peer's timestamp (tw_ts_recent_stamp) and the time the
 * socket entered TIME_WAIT.  An iter/tcp program (bpf/sockiter.bpf.c) walks
 * the same socket table, reads them, applies the kernel's own test
 * (tcp_twsk_unique()) and writes one compact record per selected socket;
 * this file loads it, runs one walk per dump and turns the records into
 * the struct tw_sock every source yields, with TW_SOCK_F_REUSE_KNOWN (and
 * TW_SOCK_F_REUSABLE) set on every timewait minisock.  The walk costs what
 * a netlink dump costs (the kernel walks the same hash either way); it is
 * for exactness, not speed.
 *
 * Namespace.  The kernel binds an iterator to the network namespace of the
 * thread that creates the iterator fd, which happens at each dump; the
 * source remembers the namespace it was opened in and refuses to dump from
 * another, so that it keeps the rule of every source (bound at open).
 *
 * What it needs: a twkit built with the BPF programs (bpf/build.mk), the
 * kernel's BTF, CONFIG_HZ readable by libbpf (/proc/config.gz or
 * /boot/config-*), and CAP_BPF with CAP_PERFMON (or root).  Opening checks
 * them in that order and keeps the reason of a failure for
 * tw_source_bpf_why().  libbpf's messages are captured, never printed: the
 * library does not print.
 *
 * The record decoder (tw_parse_bpf_rec) is built in every configuration:
 * it is pure, and unit-tested.
 */
#include <errno.h>
#include <linux/types.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "bpf/sockiter.h"
#include "twkit_bpf_config.h"
#include "twx/bpfcaps.h"

/* ---- records ------------------------------------------------------------ */

uint32_t tw__jiffies_to_ms(int32_t j, uint32_t hz)
{
    if (j <= 0 || !hz)
        return 0;
    uint64_t v = (uint64_t)j;
    if (1000 % hz == 0)
        v *= 1000 / hz;                              /* HZ 100, 250, 1000 */
    else if (hz % 1000 == 0)
        v = (v + hz / 1000 - 1) / (hz / 1000);       /* HZ 2000...: round up, as the kernel */
    else
        v = (v * 1000 + hz - 1) / hz;                /* HZ 300: the kernel rounds up too */
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int tw_parse_bpf_rec(const void *buf, size_t len, struct tw_sock *out)
{
    struct sockiter_rec r;
    if (len < SOCKITER_REC_HEAD)
        return 0;
    memcpy(&r, buf, SOCKITER_REC_HEAD);
    size_t need;
    if (r.family == AF_INET)
        need = SOCKITER_REC_V4;
    else if (r.family == AF_INET6)
        need = SOCKITER_REC_V6;
    else
        return TW_EMALFORMED;
    if (len < need)
        return 0;
    if (r.state < 1 || r.state >= TW_STATE_MAX)
        return TW_EUNKSTATE;
    memcpy(&r.addr, (const uint8_t *)buf + SOCKITER_REC_HEAD, need - SOCKITER_REC_HEAD);
    memset(out, 0, sizeof(*out));
    out->state = r.state;
    out->timer = r.timer;
    out->lport = r.lport;
    out->rport = r.rport;
    out->flags = r.flags & (TW_SOCK_F_REUSE_KNOWN | TW_SOCK_F_REUSABLE);
    if (!(out->flags & TW_SOCK_F_REUSE_KNOWN))
        out->flags = 0; /* a verdict without "known" means nothing */
    out->ifindex = r.ifindex;
    out->expires_ms = tw__jiffies_to_ms(r.expires_j, r.hz);
    out->uid = r.uid;
    out->inode = r.inode;
    out->laddr.family = out->raddr.family = r.family;
    if (r.family == AF_INET) {
        out->laddr.u.w[0] = r.addr[0];
        out->raddr.u.w[0] = r.addr[1];
    } else {
        memcpy(out->laddr.u.w, &r.addr[0], 16);
        memcpy(out->raddr.u.w, &r.addr[4], 16);
    }
    return (int)need;
}

/* ---- why it may not work ------------------------------------------------- */

static __thread struct twx_why g_why;
#define set_why(err, ...) twx_why_set(&g_why, err, __VA_ARGS__)

/* 0, or -EPERM with the reason in g_why */
static __attribute__((unused)) int check_caps(void)
{
    const char *miss = twx_bpf_caps_missing();
    if (!miss)
        return 0;
    return set_why(-EPERM,
                   "the bpf source loads an eBPF iterator: it needs root, or CAP_BPF and "
                   "CAP_PERFMON (this process lacks %s)",
                   miss);
}

static int check_static(void)
{
#if !TWKIT_BPF
    return set_why(-EOPNOTSUPP, "this twkit has no BPF programs: %s", TWKIT_BPF_WHY);
#else
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return set_why(-ENOENT, "the kernel has no BTF (/sys/kernel/btf/vmlinux: %s); the "
                                "bpf source needs CONFIG_DEBUG_INFO_BTF",
                       strerror(errno));
    return check_caps();
#endif
}

int tw_source_bpf_why(char *why, size_t len)
{
    if (g_why.err) {
        snprintf(why, len, "%s", g_why.msg);
        return g_why.err;
    }
    int e = check_static();
    snprintf(why, len, "%s", e ? g_why.msg : "");
    g_why.err = 0;
    return e;
}

static __attribute__((unused)) int netns_id(uint64_t *dev, uint64_t *ino)
{
    struct stat st;
    if (stat("/proc/thread-self/ns/net", &st) != 0)
        return -errno;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

#if !TWKIT_BPF

int tw__bpf_open(struct tw_source *src)
{
    return check_static();
}

int tw__bpf_dump(struct tw_source *src, const struct tw_query *q, tw_sock_cb cb, void *arg)
{
    return -EOPNOTSUPP;
}

void tw__bpf_close(struct tw_source *src)
{
}

#else /* TWKIT_BPF */

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sockiter.skel.h"
#include "bpf_load.h"

#define READ_LEN (128u << 10)

struct tw__bpf {
    struct sockiter_bpf *skel;
    struct bpf_link *link;
    uint64_t ns_dev, ns_ino;   /* the namespace the source was opened in */
    uint8_t *buf;              /* READ_LEN + one record of carry */
};

int tw__bpf_open(struct tw_source *src)
{
    g_why.err = 0;
    int e = check_static();
    if (e)
        return e;
    struct tw__bpf *b = calloc(1, sizeof(*b));
    if (!b || !(b->buf = malloc(READ_LEN + SOCKITER_REC_V6))) {
        if (b)
            free(b);
        return set_why(-ENOMEM, "%s", strerror(ENOMEM));
    }
    src->bpf = b;
    if ((e = netns_id(&b->ns_dev, &b->ns_ino)))
        return set_why(e, "cannot identify the current network namespace: %s", strerror(-e));
    libbpf_print_fn_t old = tw__bpf_log_begin();
    const char *step = "opening";
    b->skel = sockiter_bpf__open();
    if (!b->skel) {
        e = -errno;
    } else {
        step = "loading";
        e = sockiter_bpf__load(b->skel);
    }
    if (!e) {
        step = "attaching";
        b->link = bpf_program__attach_iter(b->skel->progs.sockiter, NULL);
        if (!b->link)
            e = -errno;
    }
    tw__bpf_log_end(old);
    if (e)
        return tw__bpf_load_why(&g_why, e, "the eBPF iterator", step);
    if (!b->skel->kconfig || b->skel->kconfig->CONFIG_HZ <= 0)
        return set_why(-ENOENT, "the kernel's CONFIG_HZ is not readable (no /proc/config.gz "
                                "nor /boot/config-*): timer expiries cannot be converted");
    return 0;
}

void tw__bpf_close(struct tw_source *src)
{
    struct tw__bpf *b = src->bpf;
    if (!b)
        return;
    bpf_link__destroy(b->link);
    sockiter_bpf__destroy(b->skel);
    free(b->buf);
    free(b);
    src->bpf = NULL;
}

int tw__bpf_dump(struct tw_source *src, const struct tw_query *q, tw_sock_cb cb, void *arg)
{
    struct tw__bpf *b = src->bpf;
    uint64_t dev = 0, ino = 0;
    int e = netns_id(&dev, &ino);
    if (e)
        return e;
    if (dev != b->ns_dev || ino != b->ns_ino) {
        snprintf(src->errmsg, sizeof(src->errmsg),
                 "the bpf source was opened in another network namespace");
        return -EXDEV;
    }
    unsigned states = q->states;
    if (states & TW_STATE_BIT(TW_SYN_RECV))
        states |= TW_STATE_BIT(TW_NEW_SYN_RECV); /* as inet_diag_dump_icsk */
    struct sockiter_bpf__bss *c = b->skel->bss;
    c->cfg_states = states;
    c->cfg_fam = (q->want_v4 ? 1u : 0u) | (q->want_v6 ? 2u : 0u);
    c->cfg_sport_lo = q->sport_lo;
    c->cfg_sport_hi = q->sport_hi;
    c->cfg_dport_lo = q->dport_lo;
    c->cfg_dport_hi = q->dport_hi;
    c->cfg_listen_only = states == TW_STATE_BIT(TW_LISTEN);
    bool post = q->n_src || q->n_dst; /* prefixes are matched here */

    int fd = bpf_iter_create(bpf_link__fd(b->link));
    if (fd < 0) {
        e = -errno;
        snprintf(src->errmsg, sizeof(src->errmsg), "creating the BPF iterator: %s",
                 strerror(errno));
        return e;
    }
    size_t have = 0; /* bytes of an incomplete record carried over */
    int ret = 0;
    for (;;) {
        ssize_t n = read(fd, b->buf + have, READ_LEN);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && c->cfg_listen_only)
            break; /* the program ended the walk after the listeners */
        if (n < 0) {
            ret = -errno;
            snprintf(src->errmsg, sizeof(src->errmsg), "reading the BPF iterator: %s",
                     strerror(errno));
            break;
        }
        if (n == 0)
            break;
        size_t len = have + (size_t)n, off = 0;
        while (off < len) {
            struct tw_sock s;
            int k = tw_parse_bpf_rec(b->buf + off, len - off, &s);
            if (k == 0)
                break;
            if (k < 0) {
                snprintf(src->errmsg, sizeof(src->errmsg),
                         "BPF iterator record at byte %zu: %s", off, tw_strerror(k));
                ret = k;
                goto out;
            }
            off += (size_t)k;
            if (TW__UNLIKELY(post || !(q->states & TW_STATE_BIT(s.state))) &&
                !tw_query_match(q, &s))
                continue;
            int r = cb(&s, arg);
            if (r) {
                ret = r;
                goto out;
            }
        }
        have = len - off;
        if (have)
            memmove(b->buf, b->buf + off, have);
    }
    if (!ret && have) {
        snprintf(src->errmsg, sizeof(src->errmsg), "BPF iterator: %zu bytes of a record left",
                 have);
        ret = TW_ETRUNCATED;
    }
out:
    close(fd);
    return ret;
}

#endif /* TWKIT_BPF */
