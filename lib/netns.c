/*
 * netns.c — finding, listing and entering network namespaces.
 *
 * Containers hosts have many namespaces, and TIME_WAIT pressure is per
 * namespace (sysctls, tcp_max_tw_buckets, sockstat and the socket tables
 * all are).  twkit reaches a namespace the way ip-netns(8) and nsenter(1)
 * do: an nsfs file (/run/netns/NAME or /proc/PID/ns/net) and setns(2).
 * Listing deduplicates by the namespace inode, names first, so each
 * namespace is reported once under its most useful label.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/netns.h>

#include "internal.h"

static const char *netns_run_dir(void)
{
    const char *d = getenv("TW_NETNS_RUN_DIR"); /* for tests */
    return d && *d ? d : "/run/netns";
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int open_path(const char *path, struct tw_netns *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? TW_ENONETNS : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    out->fd = fd;
    out->inode = st.st_ino;
    out->dev = st.st_dev;
    return 0;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    int n = twx_read_small(path, buf, len);
    if (n <= 0) {
        snprintf(buf, len, "?");
        return;
    }
    if (buf[n - 1] == '\n')
        buf[n - 1] = '\0';
}

int tw_netns_open(const char *spec, struct tw_netns *out)
{
    char path[4096];
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (!spec || !*spec)
        return TW_EBADOPT;
    if (spec[0] == '/') {
        snprintf(path, sizeof(path), "%s", spec);
        snprintf(out->label, sizeof(out->label), "%s", spec);
    } else if (all_digits(spec)) {
        uint64_t pid;
        if (tw_parse_u64(spec, 1, 0x7fffffff, &pid))
            return TW_EBADOPT;
        out->pid = (pid_t)pid;
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
        char comm[32];
        comm_of(out->pid, comm, sizeof(comm));
        snprintf(out->label, sizeof(out->label), "pid %d (%s)", (int)pid, comm);
    } else {
        if (strchr(spec, '/') || !strcmp(spec, ".") || !strcmp(spec, "..") ||
            strlen(spec) >= sizeof(out->name))
            return TW_EBADOPT;
        snprintf(path, sizeof(path), "%s/%s", netns_run_dir(), spec);
        snprintf(out->name, sizeof(out->name), "%s", spec);
        snprintf(out->label, sizeof(out->label), "%s", spec);
    }
    return open_path(path, out);
}

int tw_netns_host(struct tw_netns *out)
{
    int e = tw_netns_open("1", out);
    if (e) {
        char comm[32];
        comm_of(2, comm, sizeof(comm));
        if (strcmp(comm, "kthreadd"))
            return e;
        if ((e = tw_netns_open("2", out)))
            return e;
    }
    out->pid = 0;
    snprintf(out->label, sizeof(out->label), "host");
    return 0;
}

int tw_netns_current(struct tw_netns *out)
{
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    int e = open_path("/proc/thread-self/ns/net", out);
    if (e)
        return e;
    out->pid = getpid();
    snprintf(out->label, sizeof(out->label), "current");
    return 0;
}

int tw_netns_enter(const struct tw_netns *ns)
{
    if (!ns || ns->fd < 0)
        return TW_EBADOPT;
    if (setns(ns->fd, CLONE_NEWNET) < 0)
        return -errno;
    return 0;
}

void tw_netns_release(struct tw_netns *ns)
{
    if (ns && ns->fd >= 0) {
        close(ns->fd);
        ns->fd = -1;
    }
}

struct nslist {
    struct tw_netns *v;
    size_t n, cap;
};

static bool seen(const struct nslist *l, const struct tw_netns *ns)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].inode == ns->inode && l->v[i].dev == ns->dev)
            return true;
    return false;
}

static int push(struct nslist *l, struct tw_netns *ns)
{
    if (seen(l, ns)) {
        tw_netns_release(ns);
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct tw_netns *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            tw_netns_release(ns);
            return -ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *ns;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tw_netns_list(struct tw_netns **out, size_t *n)
{
    struct nslist l = {0};
    int e = 0;
    *out = NULL;
    *n = 0;
    /* the namespace of pid 1 first: "host" */
    struct tw_netns ns;
    if (tw_netns_host(&ns) == 0) {
        if ((e = push(&l, &ns)))
            goto fail;
    }
    DIR *d = opendir(netns_run_dir());
    if (d) {
        char *names[4096];
        size_t nn = 0;
        struct dirent *de;
        while ((de = readdir(d)) && nn < TW__ARRAY_LEN(names)) {
            if (de->d_name[0] == '.')
                continue;
            names[nn++] = strdup(de->d_name);
        }
        closedir(d);
        qsort(names, nn, sizeof(names[0]), cmp_name);
        for (size_t i = 0; i < nn; i++) {
            if (names[i] && tw_netns_open(names[i], &ns) == 0) {
                /* a named namespace that is also the host's keeps "host" */
                if (!e)
                    e = push(&l, &ns);
            }
            free(names[i]);
        }
        if (e)
            goto fail;
    }
    d = opendir("/proc");
    if (!d) {
        e = -errno;
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!all_digits(de->d_name))
            continue;
        if (tw_netns_open(de->d_name, &ns) == 0) /* vanished processes are skipped */
            if ((e = push(&l, &ns)))
                break;
    }
    closedir(d);
    if (e)
        goto fail;
    *out = l.v;
    *n = l.n;
    return 0;
fail:
    tw_netns_list_free(l.v, l.n);
    return e;
}

void tw_netns_list_free(struct tw_netns *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tw_netns_release(&list[i]);
    free(list);
}
