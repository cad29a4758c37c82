/*
 * doctor_write.c — the files `twkit doctor` writes: the sysctl.d drop-in
 * text, the atomic writer every file of doctor goes through, and the check
 * that keeps a namespace's values out of the files the host loads at boot.
 *
 * Every file is written atomically (an unnamed temporary file, fsync,
 * rename, fsync of the directory), so an interrupted run leaves the old
 * file or the new one, never half of one.  A drop-in meant for a namespace
 * says so in its header, and tw_doctor_boot_path lets the command refuse to
 * write one where systemd-sysctl or `sysctl --system` would read it at boot
 * (tw_doctor_boot_explain says which, or why a file near there is not read).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor_int.h"

#ifndef TW_VERSION
#define TW_VERSION "?"
#endif

/* ---- atomic files ---------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tw__doctor_split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dlen, ".");
        snprintf(base, blen, "%s", path);
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1; /* "/" */
        if (n >= dlen)
            return -ENAMETOOLONG;
        memcpy(dir, path, n);
        dir[n] = '\0';
        snprintf(base, blen, "%s", slash + 1);
    }
    return *base ? 0 : -EISDIR;
}

int tw_doctor_write_atomic(const char *path, const char *text, size_t len, unsigned mode)
{
    char dir[4096], base[256], tmp[4400];
    int e = tw__doctor_split_path(path, dir, sizeof(dir), base, sizeof(base));
    if (e)
        return e;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    snprintf(tmp, sizeof(tmp), "%s/.%s.twkit-XXXXXX", dir, base);

    /* Unnamed first: nothing to clean up if we die before the link. */
    bool named = false;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        fd = mkstemp(tmp);
        if (fd < 0) {
            e = -errno;
            close(dfd);
            return e;
        }
        named = true;
    }
    e = write_all(fd, text, len);
    if (!e && fchmod(fd, mode) < 0)
        e = -errno;
    if (!e && fsync(fd) < 0)
        e = -errno;
    if (!e && !named) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        /* a fresh name for the link: mkstemp then unlink gives one */
        int t = mkstemp(tmp);
        if (t < 0) {
            e = -errno;
        } else {
            close(t);
            unlink(tmp);
            if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
                e = -errno;
            else
                named = true;
        }
    }
    if (close(fd) < 0 && !e)
        e = -errno;
    if (!e && rename(tmp, path) < 0)
        e = -errno;
    if (e && named)
        unlink(tmp);
    if (!e && fsync(dfd) < 0 && errno != EINVAL)
        e = -errno;
    close(dfd);
    return e;
}

/* ---- the drop-in ----------------------------------------------------------- */

void tw__sb_add(struct tw__sbuf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        int need = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (need < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->n + (size_t)need < b->cap) {
            b->n += (size_t)need;
            return;
        }
        size_t cap = (b->cap ? b->cap : 1024);
        while (cap <= b->n + (size_t)need)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Comment text: one "# " line per 76 columns at most, never a raw newline. */
static void sb_comment(struct tw__sbuf *b, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n > 76) {
            size_t cut = 76;
            while (cut > 20 && p[cut] != ' ')
                cut--;
            n = cut;
        }
        tw__sb_add(b, "# %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ' || *p == '\n')
            p++;
    }
}

char *tw_doctor_dropin_text(const struct tw_doctor_result *r, const char *label,
                            enum tw_doctor_scope scope)
{
    struct tw__sbuf b = {0};
    char *line = NULL;
    if (scope == TW_DOCTOR_SCOPE_NETNS) {
        tw__sb_add(&b, "# sysctl settings for one network namespace: written by twkit doctor %s\n",
                   TW_VERSION);
        if (asprintf(&line, "Network namespace: %s", label && *label ? label : "?") < 0)
            line = NULL;
        sb_comment(&b, line ? line : "Network namespace: ?");
        free(line);
        sb_comment(&b, "For this namespace only. Do not put this file where the host's "
                       "`sysctl --system` reads (/etc/sysctl.d, /run/sysctl.d, /usr/lib/sysctl.d, "
                       "/etc/sysctl.conf): the host would take these values at boot. Load it "
                       "inside the namespace when it is set up (sysctl -p FILE, run there).");
    } else {
        tw__sb_add(&b, "# %s: written by twkit doctor %s\n", TW_DOCTOR_DROPIN, TW_VERSION);
        if (label && *label) { /* via sb_comment: a newline in a label stays a comment */
            if (asprintf(&line, "Network namespace: %s", label) < 0)
                b.oom = true;
            else
                sb_comment(&b, line);
            free(line);
        }
        tw__sb_add(&b, "# After `twkit doctor --apply`, `twkit doctor --rollback` undoes it.\n");
    }
    tw__sb_add(&b, "# Only the changes warn and crit findings justify; each names its finding.\n");
    if (!r || !r->n_changes)
        tw__sb_add(&b, "#\n# No change is justified: nothing to set.\n");
    for (size_t i = 0; r && i < r->n_changes; i++) {
        const struct tw_sysctl_change *c = &r->changes[i];
        const struct tw_finding *f = NULL;
        for (size_t j = 0; j < r->n && !f; j++)
            if (r->f[j].has_change && !strcmp(r->f[j].change.key, c->key) &&
                !strcmp(r->f[j].id, c->finding))
                f = &r->f[j];
        tw__sb_add(&b, "\n");
        if (asprintf(&line, "[%s] %s: %s", tw_severity_name(c->severity), c->finding,
                     f && f->summary ? f->summary : "") < 0) {
            b.oom = true;
            break;
        }
        sb_comment(&b, line);
        free(line);
        if (f && f->source) {
            if (asprintf(&line, "Source: %s", f->source) < 0) {
                b.oom = true;
                break;
            }
            sb_comment(&b, line);
            free(line);
        }
        if (asprintf(&line, "Previous value: %s", c->current) < 0) {
            b.oom = true;
            break;
        }
        sb_comment(&b, line);
        free(line);
        tw__sb_add(&b, "%s = %s\n", c->key, c->value);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}


/* ---- the host's boot configuration ------------------------------------------ */

/*
 * What reads sysctl files at boot: systemd-sysctl(8) reads *.conf files
 * directly in the first four directories (sysctl.d(5)); procps
 * `sysctl --system` reads *.conf files directly in all five, then
 * /etc/sysctl.conf (which Debian also links in as /etc/sysctl.d/99-sysctl.conf).
 * Neither reads a file without the .conf suffix, nor one in a subdirectory.
 */
static const char *const boot_dirs[] = {"/etc/sysctl.d", "/run/sysctl.d",
                                        "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
                                        "/lib/sysctl.d"};

/* path with symbolic links resolved: of the file if it exists, else of its
 * directory; else (the directory does not exist either) path made absolute,
 * as written. */
static bool resolve(const char *path, char *out)
{
    if (realpath(path, out))
        return true;
    char dir[PATH_MAX], base[256];
    if (tw__doctor_split_path(path, dir, sizeof(dir), base, sizeof(base)))
        return false;
    char rdir[PATH_MAX];
    if (realpath(dir, rdir))
        return snprintf(out, PATH_MAX, "%s/%s", strcmp(rdir, "/") ? rdir : "", base) < PATH_MAX;
    if (path[0] == '/')
        return snprintf(out, PATH_MAX, "%s", path) < PATH_MAX;
    char cwd[PATH_MAX];
    return getcwd(cwd, sizeof(cwd)) && snprintf(out, PATH_MAX, "%s/%s", cwd, path) < PATH_MAX;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && !strcmp(s + n - m, suf);
}

bool tw_doctor_boot_explain(const char *path, char *why, size_t len)
{
    char p[PATH_MAX], d[PATH_MAX], f[PATH_MAX];
    if (len)
        why[0] = '\0';
    if (!path || !*path)
        return false;
    if (!resolve(path, p)) {
        snprintf(why, len, "cannot tell where it lands (path too long), so it may be read at "
                 "boot");
        return true;
    }
    if (resolve("/etc/sysctl.conf", f) && !strcmp(p, f)) {
        snprintf(why, len, "procps `sysctl --system` reads /etc/sysctl.conf at boot");
        return true;
    }
    for (size_t i = 0; i < TW__ARRAY_LEN(boot_dirs); i++) {
        const char *dir = realpath(boot_dirs[i], d) ? d : boot_dirs[i];
        size_t n = strlen(dir);
        if (strncmp(p, dir, n) || p[n] != '/')
            continue;
        const char *who = i < 4 ? "systemd-sysctl and procps `sysctl --system` read"
                                : "procps `sysctl --system` reads";
        if (strchr(p + n + 1, '/')) {
            snprintf(why, len, "not read at boot: %s only the files directly in %s, not in "
                     "its subdirectories", who, boot_dirs[i]);
            return false;
        }
        if (!has_suffix(p + n + 1, ".conf")) {
            snprintf(why, len, "not read at boot: %s only the *.conf files in %s", who,
                     boot_dirs[i]);
            return false;
        }
        snprintf(why, len, "%s every *.conf file in %s at boot", who, boot_dirs[i]);
        return true;
    }
    return false;
}

bool tw_doctor_boot_path(const char *path)
{
    char why[8];
    return tw_doctor_boot_explain(path, why, sizeof(why));
}
