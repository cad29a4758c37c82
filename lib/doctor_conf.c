/*
 * doctor_conf.c — the sysctl configuration files, as `sysctl --system` and
 * systemd-sysctl read them (sysctl.d(5)).
 *
 * doctor needs to know what is *configured*, not only what runs: a
 * `tcp_tw_recycle` line left over from an old tuning guide makes every boot
 * log an error and tells the reader something false; a low
 * `tcp_fin_timeout` shows the belief it was written in; a malformed line is
 * silently skipped at boot.  The parser is strict about what it accepts and
 * reports every line it skips, so it is also the fuzzing target
 * (fuzz/fuzz_sysctl_conf.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/doctor.h>
#include <twkit/error.h>

#include "internal.h"

/* ---- the line parser ---------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool key_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == '/' || c == '*' || c == ':' || c == '@';
}

/*
 * sysctl.d(5): "either '/' or '.' may be used as separators ... if the first
 * separator is a slash, remaining slashes and dots are swapped".
 */
static void normalise_key(char *k)
{
    size_t sep = strcspn(k, "./");
    if (k[sep] != '/')
        return;
    for (char *p = k; *p; p++) {
        if (*p == '/')
            *p = '.';
        else if (*p == '.')
            *p = '/';
    }
}

static int parse_line(const char *s, size_t n, unsigned lineno, tw_sysctl_entry_cb on_entry,
                      tw_sysctl_problem_cb on_problem, void *arg)
{
    struct tw_sysctl_entry e;
    size_t i = 0;

    while (i < n && is_space(s[i]))
        i++;
    if (i == n || s[i] == '#' || s[i] == ';')
        return 0;
    if (memchr(s, '\0', n))
        return on_problem ? on_problem(lineno, "NUL byte in line", arg) : 0;
    const char *eq = memchr(s + i, '=', n - i);
    if (!eq)
        return on_problem ? on_problem(lineno, "no '=' in line", arg) : 0;

    memset(&e, 0, sizeof(e));
    e.line = lineno;
    size_t ks = i, ke = (size_t)(eq - s);
    if (s[ks] == '-') {
        e.ignore_err = true;
        ks++;
    }
    while (ks < ke && is_space(s[ks]))
        ks++;
    while (ke > ks && is_space(s[ke - 1]))
        ke--;
    if (ke == ks)
        return on_problem ? on_problem(lineno, "empty key", arg) : 0;
    if (ke - ks >= sizeof(e.key))
        return on_problem ? on_problem(lineno, "key too long", arg) : 0;
    for (size_t j = ks; j < ke; j++)
        if (!key_char_ok(s[j]))
            return on_problem ? on_problem(lineno, "bad character in key", arg) : 0;
    memcpy(e.key, s + ks, ke - ks);
    normalise_key(e.key);

    size_t vs = (size_t)(eq - s) + 1, ve = n;
    while (vs < ve && is_space(s[vs]))
        vs++;
    while (ve > vs && is_space(s[ve - 1]))
        ve--;
    if (ve - vs >= sizeof(e.value))
        return on_problem ? on_problem(lineno, "value too long", arg) : 0;
    memcpy(e.value, s + vs, ve - vs);
    return on_entry ? on_entry(&e, arg) : 0;
}

int tw_sysctl_conf_parse(const char *buf, size_t len, tw_sysctl_entry_cb on_entry,
                         tw_sysctl_problem_cb on_problem, void *arg)
{
    unsigned lineno = 0;
    size_t pos = 0;

    if (!buf)
        return 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        lineno++;
        int rc = parse_line(buf + pos, end - pos, lineno, on_entry, on_problem, arg);
        if (rc)
            return rc;
        pos = end + 1;
    }
    return 0;
}

/* ---- the collection ----------------------------------------------------- */

struct load_ctx {
    struct tw_sysctl_conf *c;
    const char *path;
};

/* The conf's own copy of path (entries of one file share it). */
static const char *intern(struct tw_sysctl_conf *c, const char *path)
{
    if (c->n_paths && !strcmp(c->paths[c->n_paths - 1], path))
        return c->paths[c->n_paths - 1];
    char *dup = strdup(path);
    void *p = dup ? realloc(c->paths, (c->n_paths + 1) * sizeof(*c->paths)) : NULL;
    if (!p) {
        free(dup);
        return NULL;
    }
    c->paths = p;
    c->paths[c->n_paths++] = dup;
    return dup;
}

static int add_problem(struct tw_sysctl_conf *c, const char *file, unsigned line,
                       const char *msg)
{
    const char *f = intern(c, file);
    if (!f)
        return -ENOMEM;
    if (c->n_problems == c->cap_problems) {
        size_t cap = c->cap_problems ? c->cap_problems * 2 : 8;
        void *p = realloc(c->p, cap * sizeof(*c->p));
        if (!p)
            return -ENOMEM;
        c->p = p;
        c->cap_problems = cap;
    }
    struct tw_sysctl_problem *pr = &c->p[c->n_problems++];
    memset(pr, 0, sizeof(*pr));
    pr->file = f;
    pr->line = line;
    snprintf(pr->msg, sizeof(pr->msg), "%s", msg);
    return 0;
}

static int on_entry(const struct tw_sysctl_entry *e, void *arg)
{
    struct load_ctx *x = arg;
    struct tw_sysctl_conf *c = x->c;

    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        void *p = realloc(c->e, cap * sizeof(*c->e));
        if (!p)
            return -ENOMEM;
        c->e = p;
        c->cap = cap;
    }
    const char *f = intern(c, x->path);
    if (!f)
        return -ENOMEM;
    c->e[c->n] = *e;
    c->e[c->n].file = f;
    c->n++;
    return 0;
}

static int on_problem(unsigned line, const char *msg, void *arg)
{
    struct load_ctx *x = arg;
    return add_problem(x->c, x->path, line, msg);
}

#define CONF_MAX_BYTES (4u << 20) /* a sysctl file larger than this is not one */

int tw_sysctl_conf_load_file(struct tw_sysctl_conf *c, const char *path)
{
    char msg[128];
    char *buf;
    size_t len;
    int e = twx_read_file(path, CONF_MAX_BYTES, &buf, &len);
    if (e == -EINVAL || e == -EFBIG)
        return add_problem(c, path, 0, "not a regular file of sane size");
    if (e == -ENOMEM)
        return e;
    if (e) {
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(-e));
        return add_problem(c, path, 0, msg);
    }
    c->n_files++;
    struct load_ctx x = {c, path};
    int rc = tw_sysctl_conf_parse(buf, len, on_entry, on_problem, &x);
    free(buf);
    return rc;
}

struct conf_file {
    char name[256];
    char *path; /* malloc'd */
};

static int cmp_conf_file(const void *a, const void *b)
{
    return strcmp(((const struct conf_file *)a)->name, ((const struct conf_file *)b)->name);
}

static bool ends_with_conf(const char *n)
{
    size_t l = strlen(n);
    return l > 5 && !strcmp(n + l - 5, ".conf") && n[0] != '.';
}

int tw_sysctl_conf_load(struct tw_sysctl_conf *c, const char *root)
{
    static const char *const dirs[] = {"/etc/sysctl.d", "/run/sysctl.d",
                                       "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
                                       "/lib/sysctl.d"};
    struct conf_file *files = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    char path[4200];

    if (!root || !strcmp(root, "/"))
        root = "";
    for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
        if (snprintf(path, sizeof(path), "%s%s", root, dirs[d]) >= (int)sizeof(path)) {
            rc = add_problem(c, dirs[d], 0, "--root path too long to read it");
            goto out;
        }
        DIR *dir = opendir(path);
        if (!dir) {
            if (errno != ENOENT && errno != ENOTDIR) {
                char msg[128];
                snprintf(msg, sizeof(msg), "cannot list: %s", strerror(errno));
                if ((rc = add_problem(c, path, 0, msg)))
                    goto out;
            }
            continue;
        }
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (!ends_with_conf(de->d_name) || strlen(de->d_name) >= sizeof(files->name))
                continue;
            bool dup = false; /* an earlier directory wins for the same name */
            for (size_t i = 0; i < n && !dup; i++)
                dup = !strcmp(files[i].name, de->d_name);
            if (dup)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                void *p = realloc(files, cap * sizeof(*files));
                if (!p) {
                    closedir(dir);
                    rc = -ENOMEM;
                    goto out;
                }
                files = p;
            }
            snprintf(files[n].name, sizeof(files[n].name), "%s", de->d_name);
            if (asprintf(&files[n].path, "%s/%s", path, de->d_name) < 0) {
                closedir(dir);
                rc = -ENOMEM;
                goto out;
            }
            n++;
        }
        closedir(dir);
    }
    if (n)
        qsort(files, n, sizeof(*files), cmp_conf_file);
    for (size_t i = 0; i < n; i++)
        if ((rc = tw_sysctl_conf_load_file(c, files[i].path)))
            goto out;
    snprintf(path, sizeof(path), "%s/etc/sysctl.conf", root);
    /* Debian links /etc/sysctl.d/99-sysctl.conf to it: read it once. */
    bool seen = false;
    struct stat a, b;
    if (stat(path, &a) == 0) {
        for (size_t i = 0; i < n && !seen; i++)
            seen = stat(files[i].path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
        if (!seen)
            rc = tw_sysctl_conf_load_file(c, path);
    } else if (errno != ENOENT) {
        rc = tw_sysctl_conf_load_file(c, path); /* records why it is unreadable */
    }
out:
    for (size_t i = 0; i < n; i++)
        free(files[i].path);
    free(files);
    return rc;
}

void tw_sysctl_conf_release(struct tw_sysctl_conf *c)
{
    if (!c)
        return;
    free(c->e);
    free(c->p);
    for (size_t i = 0; i < c->n_paths; i++)
        free(c->paths[i]);
    free(c->paths);
    memset(c, 0, sizeof(*c));
}

const struct tw_sysctl_entry *tw_sysctl_conf_find(const struct tw_sysctl_conf *c,
                                                  const char *key)
{
    if (!c)
        return NULL;
    for (size_t i = c->n; i-- > 0;)
        if (!strcmp(c->e[i].key, key))
            return &c->e[i];
    return NULL;
}
