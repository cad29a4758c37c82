/*
 * source.c — opening, dispatching and recording socket sources.
 *
 * One entry point (tw_source_dump) for the four kinds of source, so that
 * the report, the tests and the fuzzers never care where sockets come from.
 * AUTO prefers netlink and falls back to /proc when the netlink socket
 * cannot be created (no inet_diag, a sandbox that forbids it).  Fixtures
 * are directories: a recorded netlink dump (sock_diag.bin) or /proc-style
 * files (net/tcp, net/tcp6), next to the kernel files that tw_kernel_read
 * reads from the same directory.  The BPF iterator (src_bpf.c) is never
 * chosen by AUTO: it needs privileges and costs a program load, and only
 * the exact reuse verdict sets it apart (see twkit-stat(1), --source).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

const char *tw_source_kind_name(enum tw_source_kind kind)
{
    switch (kind) {
    case TW_SOURCE_NETLINK:
        return "netlink";
    case TW_SOURCE_PROC:
        return "proc";
    case TW_SOURCE_FIXTURE:
        return "fixture";
    case TW_SOURCE_BPF:
        return "bpf";
    default:
        return "auto";
    }
}

static bool exists(const char *dir, const char *rel)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return access(p, F_OK) == 0;
}

int tw_source_open(enum tw_source_kind kind, const char *path, struct tw_source **out)
{
    *out = NULL;
    if (kind < TW_SOURCE_AUTO || kind > TW_SOURCE_BPF)
        return TW_EBADOPT;
    struct tw_source *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->nl_fd = -1;
    s->record_fd = -1;
    s->kind = kind;
    if (path && !(s->path = strdup(path))) {
        free(s);
        return -ENOMEM;
    }
    int e = 0;
    switch (kind) {
    case TW_SOURCE_AUTO:
        s->kind = TW_SOURCE_NETLINK;
        if (tw__nl_open(s) < 0) {
            s->kind = TW_SOURCE_PROC;
            free(s->path);
            s->path = NULL;
        }
        break;
    case TW_SOURCE_NETLINK:
        e = tw__nl_open(s);
        break;
    case TW_SOURCE_PROC:
        break;
    case TW_SOURCE_BPF:
        e = tw__bpf_open(s);
        break;
    case TW_SOURCE_FIXTURE:
        if (!path) {
            e = TW_EBADOPT;
        } else if (!exists(path, "sock_diag.bin") && !exists(path, "net/tcp")) {
            struct stat st; /* the directory itself missing, or a file */
            e = stat(path, &st) < 0 ? -errno : !S_ISDIR(st.st_mode) ? -ENOTDIR : -ENOENT;
        }
        break;
    }
    if (e) {
        tw_source_close(s);
        return e;
    }
    *out = s;
    return 0;
}

void tw_source_close(struct tw_source *src)
{
    if (!src)
        return;
    tw__nl_close(src);
    tw__bpf_close(src);
    if (src->record_fd >= 0)
        close(src->record_fd);
    free(src->path);
    free(src);
}

enum tw_source_kind tw_source_kind(const struct tw_source *src)
{
    return src->kind;
}

const char *tw_source_errmsg(const struct tw_source *src)
{
    return src->errmsg;
}

int tw_source_dump(struct tw_source *src, const struct tw_query *q, tw_sock_cb cb, void *arg)
{
    struct tw_query all;
    if (!q) {
        tw_query_init(&all);
        q = &all;
    }
    src->errmsg[0] = '\0';
    int e;
    switch (src->kind) {
    case TW_SOURCE_NETLINK:
        e = tw__nl_dump(src, q, cb, arg);
        if (e < 0 && !src->errmsg[0])
            snprintf(src->errmsg, sizeof(src->errmsg), "netlink sock_diag dump: %s",
                     tw_strerror(e));
        return e;
    case TW_SOURCE_PROC:
        return tw__proc_dump(src, src->path, q, cb, arg);
    case TW_SOURCE_BPF:
        e = tw__bpf_dump(src, q, cb, arg);
        if (e < 0 && !src->errmsg[0])
            snprintf(src->errmsg, sizeof(src->errmsg), "BPF iterator walk: %s", tw_strerror(e));
        return e;
    case TW_SOURCE_FIXTURE: {
        char p[4096];
        snprintf(p, sizeof(p), "%s/sock_diag.bin", src->path);
        if (access(p, F_OK) == 0)
            return tw__nl_replay(src, p, q, cb, arg);
        return tw__proc_dump(src, src->path, q, cb, arg);
    }
    default:
        return TW_EBADOPT;
    }
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int outfd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (outfd < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    char buf[65536];
    int e = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = -errno;
            break;
        }
        if (n == 0)
            break;
        if (write(outfd, buf, (size_t)n) != n) {
            e = -EIO;
            break;
        }
    }
    close(in);
    if (close(outfd) < 0 && !e)
        e = -errno;
    return e;
}

int tw_source_record(struct tw_source *src, const char *dir)
{
    char p[4096], q[4096];
    int e = twx_mkdir_p(dir);
    if (e)
        return e;
    switch (src->kind) {
    case TW_SOURCE_NETLINK:
        snprintf(p, sizeof(p), "%s/sock_diag.bin", dir);
        if (src->record_fd >= 0)
            close(src->record_fd);
        src->record_fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        return src->record_fd < 0 ? -errno : 0;
    case TW_SOURCE_PROC:
        snprintf(p, sizeof(p), "%s/net", dir);
        if ((e = twx_mkdir_p(p)))
            return e;
        for (int i = 0; i < 2; i++) {
            const char *rel = i ? "net/tcp6" : "net/tcp";
            snprintf(q, sizeof(q), "%s/%s", dir, rel);
            e = copy_file(twx_path(p, sizeof(p), src->path, rel), q);
            if (e && !(i == 1 && e == -ENOENT))
                return e;
        }
        return 0;
    case TW_SOURCE_BPF:
        return -EOPNOTSUPP; /* the records are decoded as they come: nothing to keep */
    default:
        return TW_EBADOPT;
    }
}
