/*
 * names.c — the words `twkit trace` prints for what the kernel gives it as
 * numbers: errno names, destinations (IPv4 kept IPv4-mapped in the kernel's
 * rows), cgroup v2 ids (the inode numbers of cgroup directories, found by
 * walking the cgroup2 mount) and the container ids inside cgroup paths.
 * All of it is plain user-space code, tested without BPF.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace.h"

const char *trace_errno_name(unsigned err, char *buf, size_t len)
{
    const char *n = err < 4096 ? strerrorname_np((int)err) : NULL;
    if (n)
        snprintf(buf, len, "%s", n);
    else
        snprintf(buf, len, "E%u", err);
    return buf;
}

static bool is_v4(const struct trace_addr *a)
{
    static const unsigned char pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a->a, pre, 12);
}

char *trace_ip_str(const struct trace_addr *a, char *buf, size_t len, int *family)
{
    char t[INET6_ADDRSTRLEN];
    bool v4 = is_v4(a);
    if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a->a + 12 : a->a, t, sizeof(t)))
        snprintf(t, sizeof(t), "?");
    snprintf(buf, len, "%s", t);
    if (family)
        *family = v4 ? 4 : 6;
    return buf;
}

char *trace_addr_str(const struct trace_addr *a, char *buf, size_t len)
{
    if (a->kind == TRACE_DEST_LOCAL) {
        snprintf(buf, len, "local :%u", a->port);
        return buf;
    }
    char ip[INET6_ADDRSTRLEN];
    int fam;
    trace_ip_str(a, ip, sizeof(ip), &fam);
    snprintf(buf, len, fam == 6 ? "[%s]:%u" : "%s:%u", ip, a->port);
    return buf;
}

static bool hexc(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

char *trace_container_id(const char *path, char *buf, size_t len)
{
    const char *best = NULL;
    for (const char *p = path; p && *p; p++) {
        if (!hexc(*p) || (p > path && hexc(p[-1])))
            continue;
        size_t n = 0;
        while (hexc(p[n]))
            n++;
        if (n == 64)
            best = p;   /* the innermost one wins */
        p += n ? n - 1 : 0;
    }
    if (best)
        snprintf(buf, len, "%.12s", best);
    else if (len)
        buf[0] = '\0';
    return buf;
}

/* ---- cgroup ids ---------------------------------------------------------- */

struct cg_ent {
    uint64_t id;
    char *path;
};

struct trace_cgroups {
    char root[512];
    struct cg_ent *e;
    size_t n, cap;
    bool may_walk;
};

static struct trace_cgroups *g_walk;

static int walk_cb(const char *fpath, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    struct trace_cgroups *c = g_walk;
    if (flag != FTW_D)
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        struct cg_ent *e = realloc(c->e, cap * sizeof(*e));
        if (!e)
            return 1;
        c->e = e;
        c->cap = cap;
    }
    const char *rel = fpath + strlen(c->root);
    char *p = strdup(*rel ? rel : "/");
    if (!p)
        return 1;
    c->e[c->n].id = (uint64_t)st->st_ino;
    c->e[c->n].path = p;
    c->n++;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    const struct cg_ent *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void walk(struct trace_cgroups *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].path);
    c->n = 0;
    g_walk = c;
    nftw(c->root, walk_cb, 32, FTW_PHYS | FTW_MOUNT);
    g_walk = NULL;
    if (c->n)
        qsort(c->e, c->n, sizeof(*c->e), by_id);
}

/* Where cgroup v2 is mounted (the unified hierarchy), from mountinfo. */
static void find_root(char *buf, size_t len)
{
    snprintf(buf, len, "/sys/fs/cgroup");
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        char *sep = strstr(line, " - cgroup2 ");
        char mnt[512];
        if (sep && sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1) {
            snprintf(buf, len, "%s", mnt);
            break;
        }
    }
    fclose(f);
}

struct trace_cgroups *trace_cgroups_new(const char *root)
{
    struct trace_cgroups *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (root)
        snprintf(c->root, sizeof(c->root), "%s", root);
    else
        find_root(c->root, sizeof(c->root));
    size_t l = strlen(c->root);
    while (l > 1 && c->root[l - 1] == '/')
        c->root[--l] = '\0';
    c->may_walk = true;
    return c;
}

const char *trace_cgroups_path(struct trace_cgroups *c, uint64_t id)
{
    if (!c || !id)
        return NULL;
    for (int pass = 0; pass < 2; pass++) {
        struct cg_ent key = {.id = id};
        struct cg_ent *e = c->n ? bsearch(&key, c->e, c->n, sizeof(*c->e), by_id) : NULL;
        if (e)
            return e->path;
        if (pass || !c->may_walk)
            break;
        c->may_walk = false;
        walk(c);
    }
    return NULL;
}

void trace_cgroups_refresh_allowed(struct trace_cgroups *c)
{
    if (c)
        c->may_walk = true;
}

void trace_cgroups_free(struct trace_cgroups *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].path);
    free(c->e);
    free(c);
}
