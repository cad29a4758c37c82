/*
 * doctor_apply.c — turning doctor's justified changes into a sysctl.d
 * drop-in and, with --apply, into live settings that --rollback restores
 * exactly.
 *
 * Safety is the point of this file:
 *   - only settings in doctor's allow-list, with values in the kernel's
 *     accepted range, are ever written (tw_doctor_change_safe);
 *   - every file is written atomically (unnamed temporary file, fsync,
 *     rename), so an interrupted run leaves the old file or the new one,
 *     never half of one;
 *   - the previous values and the previous drop-in are recorded in a state
 *     file *before* anything changes, so a crash at any later point can be
 *     rolled back;
 *   - if the kernel rejects a value, the values already set are restored and
 *     nothing else is touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/doctor.h>
#include <twkit/error.h>

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

static int split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen)
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
    int e = split_path(path, dir, sizeof(dir), base, sizeof(base));
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

/* Files doctor reads back (its drop-in, its state) are small. */
#define DOCTOR_FILE_MAX (4u << 20)

/* ---- the drop-in ----------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
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
static void sb_comment(struct sbuf *b, const char *text)
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
        sb_add(b, "# %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ' || *p == '\n')
            p++;
    }
}

char *tw_doctor_dropin_text(const struct tw_doctor_result *r, const char *label)
{
    struct sbuf b = {0};
    sb_add(&b, "# %s: written by twkit doctor %s\n", TW_DOCTOR_DROPIN, TW_VERSION);
    if (label && *label)
        sb_add(&b, "# Network namespace: %s\n", label);
    sb_add(&b, "# Only the changes the findings justify; each names its finding.\n"
               "# After `twkit doctor --apply`, `twkit doctor --rollback` undoes it.\n");
    if (!r || !r->n_changes)
        sb_add(&b, "#\n# No change is justified: nothing to set.\n");
    for (size_t i = 0; r && i < r->n_changes; i++) {
        const struct tw_sysctl_change *c = &r->changes[i];
        const struct tw_finding *f = NULL;
        for (size_t j = 0; j < r->n && !f; j++)
            if (r->f[j].has_change && !strcmp(r->f[j].change.key, c->key) &&
                !strcmp(r->f[j].id, c->finding))
                f = &r->f[j];
        sb_add(&b, "\n");
        char *line = NULL;
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
        sb_add(&b, "# Previous value: %s\n", c->current);
        sb_add(&b, "%s = %s\n", c->key, c->value);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- apply and rollback ---------------------------------------------------- */

static const char *rooted(char *buf, size_t len, const char *root, const char *path)
{
    if (!root || !*root || !strcmp(root, "/"))
        snprintf(buf, len, "%s", path);
    else
        snprintf(buf, len, "%s%s", root, path);
    return buf;
}

static int netns_inode(unsigned long long *ino)
{
    struct stat st;
    if (stat("/proc/thread-self/ns/net", &st) < 0 && stat("/proc/self/ns/net", &st) < 0)
        return -errno;
    *ino = (unsigned long long)st.st_ino;
    return 0;
}

struct saved {
    char key[64];
    char value[128];
};

/* Restore n saved values; returns the first error (all are tried). */
static int restore(const char *proc_root, const struct saved *sv, size_t n, char *err,
                   size_t errlen)
{
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        int e = tw_sysctl_write(proc_root, sv[i].key, sv[i].value);
        if (e && !first) {
            first = e;
            snprintf(err, errlen, "could not restore %s = %s: %s", sv[i].key, sv[i].value,
                     tw_strerror(e));
        }
    }
    return first;
}

int tw_doctor_apply(const struct tw_doctor_apply_opts *o, const struct tw_doctor_result *r,
                    char *errbuf, size_t errlen)
{
    char dropin[4096], state[4096], prev[4200], dummy[8];
    struct saved *sv = NULL;
    char *text = NULL, *old = NULL;
    size_t oldlen = 0;
    struct sbuf st = {0};
    int e = 0;

    if (!errbuf || !errlen)
        errbuf = dummy, errlen = sizeof(dummy);
    errbuf[0] = '\0';
    if (!r || !r->n_changes)
        return 0;
    for (size_t i = 0; i < r->n_changes; i++) {
        if (!tw_doctor_change_safe(r->changes[i].key, r->changes[i].value)) {
            snprintf(errbuf, errlen, "refusing to write %s = %s: not a setting doctor manages "
                                     "or out of range",
                     r->changes[i].key, r->changes[i].value);
            return -EINVAL;
        }
    }
    if (geteuid() != 0) {
        snprintf(errbuf, errlen, "--apply needs root (CAP_NET_ADMIN to set net.* sysctls, "
                                 "write access to /etc/sysctl.d)");
        return -EPERM;
    }
    rooted(dropin, sizeof(dropin), o ? o->root : NULL, TW_DOCTOR_DROPIN);
    rooted(state, sizeof(state), o ? o->root : NULL, TW_DOCTOR_STATE);
    snprintf(prev, sizeof(prev), "%s.dropin", state);
    const char *proc_root = o ? o->proc_root : NULL;

    if (access(state, F_OK) == 0) {
        snprintf(errbuf, errlen, "%s exists: an earlier --apply was not rolled back (run "
                                 "`twkit doctor --rollback` first)",
                 state);
        return -EEXIST;
    }
    unsigned long long ino = 0;
    if ((e = netns_inode(&ino))) {
        snprintf(errbuf, errlen, "cannot identify the network namespace: %s", tw_strerror(e));
        return e;
    }

    /* 1. the previous values */
    sv = calloc(r->n_changes, sizeof(*sv));
    if (!sv)
        return -ENOMEM;
    for (size_t i = 0; i < r->n_changes; i++) {
        snprintf(sv[i].key, sizeof(sv[i].key), "%s", r->changes[i].key);
        e = tw_sysctl_read(proc_root, sv[i].key, sv[i].value, sizeof(sv[i].value));
        if (e < 0) {
            snprintf(errbuf, errlen, "cannot read %s: %s", sv[i].key, tw_strerror(e));
            goto out;
        }
        if (strchr(sv[i].value, '\n')) {
            snprintf(errbuf, errlen, "unexpected multi-line value in %s", sv[i].key);
            e = TW_EMALFORMED;
            goto out;
        }
    }
    e = twx_read_file(dropin, DOCTOR_FILE_MAX, &old, &oldlen);
    if (e && e != -ENOENT) {
        snprintf(errbuf, errlen, "cannot read %s: %s", dropin, tw_strerror(e));
        goto out;
    }
    bool had_dropin = e == 0;
    text = tw_doctor_dropin_text(r, o ? o->label : NULL);
    if (!text) {
        e = -ENOMEM;
        goto out;
    }

    /* 2. record them, before anything changes */
    char sdir[4096], base[256];
    if ((e = split_path(state, sdir, sizeof(sdir), base, sizeof(base))) || (e = twx_mkdir_p(sdir))) {
        snprintf(errbuf, errlen, "cannot create %s: %s", sdir, tw_strerror(e));
        goto out;
    }
    if (had_dropin && (e = tw_doctor_write_atomic(prev, old, oldlen, 0600))) {
        snprintf(errbuf, errlen, "cannot save the previous drop-in to %s: %s", prev,
                 tw_strerror(e));
        goto out;
    }
    sb_add(&st, "# twkit doctor rollback state: written by --apply, read by --rollback\n");
    sb_add(&st, "netns %llu\n", ino);
    sb_add(&st, "dropin %s %s\n", had_dropin ? "saved" : "absent", dropin);
    for (size_t i = 0; i < r->n_changes; i++)
        sb_add(&st, "sysctl %s %s\n", sv[i].key, sv[i].value);
    if (st.oom) {
        e = -ENOMEM;
        goto out;
    }
    if ((e = tw_doctor_write_atomic(state, st.p, st.n, 0600))) {
        snprintf(errbuf, errlen, "cannot write %s: %s", state, tw_strerror(e));
        if (had_dropin)
            unlink(prev);
        goto out;
    }

    /* 3. the live values; undo on the first refusal */
    for (size_t i = 0; i < r->n_changes; i++) {
        e = tw_sysctl_write(proc_root, r->changes[i].key, r->changes[i].value);
        if (e) {
            char rerr[256] = "";
            snprintf(errbuf, errlen, "the kernel rejected %s = %s (%s); nothing was changed",
                     r->changes[i].key, r->changes[i].value, tw_strerror(e));
            if (restore(proc_root, sv, i, rerr, sizeof(rerr))) {
                snprintf(errbuf, errlen, "the kernel rejected %s = %s (%s), and %s; run "
                                         "`twkit doctor --rollback`",
                         r->changes[i].key, r->changes[i].value, tw_strerror(e), rerr);
                goto out; /* keep the state file: rollback can still finish the job */
            }
            unlink(state);
            if (had_dropin)
                unlink(prev);
            if (e == -EINVAL || e == -ERANGE)
                e = -EINVAL;
            goto out;
        }
    }

    /* 4. the drop-in */
    char ddir[4096];
    if ((e = split_path(dropin, ddir, sizeof(ddir), base, sizeof(base))) ||
        (e = twx_mkdir_p(ddir)) || (e = tw_doctor_write_atomic(dropin, text, strlen(text), 0644))) {
        char rerr[256] = "";
        snprintf(errbuf, errlen, "cannot write %s: %s; values restored", dropin, tw_strerror(e));
        if (restore(proc_root, sv, r->n_changes, rerr, sizeof(rerr)) == 0) {
            unlink(state);
            if (had_dropin)
                unlink(prev);
        }
        goto out;
    }
    e = 0;
out:
    free(sv);
    free(text);
    free(old);
    free(st.p);
    return e;
}

int tw_doctor_rollback(const struct tw_doctor_apply_opts *o, char *errbuf, size_t errlen)
{
    char state[4096], prev[4200], dummy[8];
    char *buf = NULL, *old = NULL;
    size_t len = 0, oldlen = 0;
    int e, first = 0;

    if (!errbuf || !errlen)
        errbuf = dummy, errlen = sizeof(dummy);
    errbuf[0] = '\0';
    rooted(state, sizeof(state), o ? o->root : NULL, TW_DOCTOR_STATE);
    snprintf(prev, sizeof(prev), "%s.dropin", state);
    const char *proc_root = o ? o->proc_root : NULL;

    e = twx_read_file(state, DOCTOR_FILE_MAX, &buf, &len);
    if (e == -ENOENT) {
        snprintf(errbuf, errlen, "nothing to roll back: %s does not exist", state);
        return e;
    }
    if (e) {
        snprintf(errbuf, errlen, "cannot read %s: %s", state, tw_strerror(e));
        return e;
    }
    if (geteuid() != 0) {
        snprintf(errbuf, errlen, "--rollback needs root (CAP_NET_ADMIN, write access to "
                                 "/etc/sysctl.d)");
        free(buf);
        return -EPERM;
    }

    /* Parse everything before changing anything. */
    unsigned long long ino = 0, want = 0;
    char dropin[4096] = "";
    int had = -1;
    struct saved *sv = NULL;
    size_t n = 0;
    unsigned lineno = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (!*line || *line == '#')
            continue;
        if (!strncmp(line, "netns ", 6)) {
            char *end;
            errno = 0;
            ino = strtoull(line + 6, &end, 10);
            if (errno || *end || end == line + 6)
                goto bad;
        } else if (!strncmp(line, "dropin saved ", 13) && line[13] == '/') {
            had = 1;
            snprintf(dropin, sizeof(dropin), "%s", line + 13);
        } else if (!strncmp(line, "dropin absent ", 14) && line[14] == '/') {
            had = 0;
            snprintf(dropin, sizeof(dropin), "%s", line + 14);
        } else if (!strncmp(line, "sysctl ", 7)) {
            char *key = line + 7, *sp = strchr(key, ' ');
            if (!sp || sp == key || (size_t)(sp - key) >= sizeof(sv->key) ||
                strlen(sp + 1) >= sizeof(sv->value))
                goto bad;
            *sp = '\0';
            /* the value came from the kernel; the key must be one doctor manages */
            if (!tw__doctor_managed(key))
                goto bad;
            void *p = realloc(sv, (n + 1) * sizeof(*sv));
            if (!p) {
                e = -ENOMEM;
                goto out;
            }
            sv = p;
            snprintf(sv[n].key, sizeof(sv[n].key), "%s", key);
            snprintf(sv[n].value, sizeof(sv[n].value), "%s", sp + 1);
            n++;
        } else {
            goto bad;
        }
    }
    if (!ino || had < 0)
        goto bad;
    if ((e = netns_inode(&want)))
        goto out;
    if (want != ino) {
        snprintf(errbuf, errlen, "%s was written in network namespace %llu, this is %llu: "
                                 "run the rollback there (--netns)",
                 state, ino, want);
        e = TW_EFOREIGN;
        goto out;
    }
    if (had == 1 && (e = twx_read_file(prev, DOCTOR_FILE_MAX, &old, &oldlen))) {
        snprintf(errbuf, errlen, "cannot read the saved drop-in %s: %s", prev, tw_strerror(e));
        goto out;
    }

    /* Restore: values, then the file, then forget the state. */
    first = restore(proc_root, sv, n, errbuf, errlen);
    if (had == 1)
        e = tw_doctor_write_atomic(dropin, old, oldlen, 0644);
    else
        e = unlink(dropin) < 0 && errno != ENOENT ? -errno : 0;
    if (e) {
        snprintf(errbuf, errlen, "cannot restore %s: %s", dropin, tw_strerror(e));
        goto out;
    }
    if (first) {
        e = first;
        goto out;
    }
    unlink(prev);
    if (unlink(state) < 0) {
        e = -errno;
        snprintf(errbuf, errlen, "cannot remove %s: %s", state, tw_strerror(e));
        goto out;
    }
    e = 0;
    goto out;
bad:
    snprintf(errbuf, errlen, "%s line %u: malformed rollback state", state, lineno);
    e = TW_EMALFORMED;
out:
    free(sv);
    free(buf);
    free(old);
    return e;
}
