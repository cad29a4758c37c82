/*
 * doctor_apply.c — turning doctor's justified changes into live settings
 * that --rollback restores exactly, and, for the host only, into the
 * sysctl.d drop-in the host loads at boot.
 *
 * Safety is the point of this file:
 *   - only settings in doctor's allow-list, with values in the kernel's
 *     accepted range, are ever written (tw_doctor_change_safe);
 *   - the host's boot configuration is written only from the host's own
 *     network namespace: a namespace's values set live in that namespace,
 *     and its rollback state lives under /run, keyed by the namespace's
 *     cookie (never reused while the system runs), as long as it does;
 *   - the previous values (and the previous drop-in) are recorded in a state
 *     file *before* anything changes, so a crash at any later point can be
 *     rolled back;
 *   - if the kernel rejects a value, the values already set are restored and
 *     nothing else is touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/netns.h>

#include "doctor_int.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

const char *tw_doctor_scope_name(enum tw_doctor_scope s)
{
    return s == TW_DOCTOR_SCOPE_HOST ? "host" : s == TW_DOCTOR_SCOPE_NETNS ? "netns" : "auto";
}

int tw_doctor_scope_resolve(enum tw_doctor_scope want)
{
    if (want == TW_DOCTOR_SCOPE_NETNS)
        return TW_DOCTOR_SCOPE_NETNS;
    struct tw_netns cur, host;
    int e = tw_netns_current(&cur);
    if (e)
        return want == TW_DOCTOR_SCOPE_HOST ? e : TW_DOCTOR_SCOPE_NETNS;
    e = tw_netns_host(&host);
    bool same = !e && host.inode == cur.inode && host.dev == cur.dev;
    tw_netns_release(&cur);
    if (!e)
        tw_netns_release(&host);
    if (same)
        return TW_DOCTOR_SCOPE_HOST;
    if (want == TW_DOCTOR_SCOPE_HOST)
        return e ? e : TW_EFOREIGN;
    return TW_DOCTOR_SCOPE_NETNS; /* not provably the host's: never its boot files */
}

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

/* The namespace's cookie (5.14+): unique while the system runs, unlike inodes. */
static int netns_cookie(unsigned long long *cookie)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    uint64_t c = 0;
    socklen_t len = sizeof(c);
    int e = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) < 0 ? -errno : 0;
    close(fd);
    *cookie = c;
    return e;
}

/* Where this scope's state lives (and the saved drop-in, HOST only). */
static int state_path(const struct tw_doctor_apply_opts *o, int scope, char *buf, size_t len,
                      char *errbuf, size_t errlen)
{
    char rel[128];
    if (scope == TW_DOCTOR_SCOPE_HOST) {
        rooted(buf, len, o ? o->root : NULL, TW_DOCTOR_STATE);
        return 0;
    }
    unsigned long long id = 0;
    int e = netns_cookie(&id);
    if (e) { /* before 5.14: the inode, checked again at rollback */
        if ((e = netns_inode(&id))) {
            snprintf(errbuf, errlen, "cannot identify the network namespace: %s",
                     tw_strerror(e));
            return e;
        }
        snprintf(rel, sizeof(rel), "%s.netns-ino-%llu", TW_DOCTOR_NETNS_STATE, id);
    } else {
        snprintf(rel, sizeof(rel), "%s.netns-%llu", TW_DOCTOR_NETNS_STATE, id);
    }
    rooted(buf, len, o ? o->root : NULL, rel);
    return 0;
}

static int scope_of(const struct tw_doctor_apply_opts *o, char *errbuf, size_t errlen)
{
    int s = tw_doctor_scope_resolve(o ? o->scope : TW_DOCTOR_SCOPE_AUTO);
    if (s == TW_EFOREIGN)
        snprintf(errbuf, errlen, "refusing to write the host's boot configuration from "
                                 "another network namespace: the host would load these values "
                                 "at boot");
    else if (s < 0)
        snprintf(errbuf, errlen, "cannot tell whether this is the host's network namespace "
                                 "(%s): refusing to write its boot configuration",
                 tw_strerror(s));
    return s;
}

struct saved {
    char key[64];
    char value[256];
};

/* Write one value; "" (an empty port list) is written as a newline, which
 * clears the list (a write of 0 bytes changes nothing). */
static int write_value(const char *proc_root, const char *key, const char *value)
{
    return tw_sysctl_write(proc_root, key, *value ? value : "\n");
}

/* Restore n saved values; returns the first error (all are tried). */
static int restore(const char *proc_root, const struct saved *sv, size_t n, char *err,
                   size_t errlen)
{
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        int e = write_value(proc_root, sv[i].key, sv[i].value);
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
    char dropin[4096], state[4096], prev[4200], dummy[8], sdir[4096], base[256];
    struct saved *sv = NULL;
    char *text = NULL, *old = NULL;
    size_t oldlen = 0;
    struct tw__sbuf st = {0};
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
                                 "write access to /etc/sysctl.d or /run/twkit)");
        return -EPERM;
    }
    int scope = scope_of(o, errbuf, errlen);
    if (scope < 0)
        return scope;
    bool host = scope == TW_DOCTOR_SCOPE_HOST;
    if ((e = state_path(o, scope, state, sizeof(state), errbuf, errlen)))
        return e;
    rooted(dropin, sizeof(dropin), o ? o->root : NULL, TW_DOCTOR_DROPIN);
    snprintf(prev, sizeof(prev), "%s.dropin", state);
    const char *proc_root = o ? o->proc_root : NULL;

    if (access(state, F_OK) == 0) {
        snprintf(errbuf, errlen, "%s exists: an earlier --apply was not rolled back (run "
                                 "`twkit doctor --rollback` first%s)",
                 state, host ? "" : ", with the same --netns");
        return -EEXIST;
    }
    unsigned long long ino = 0;
    if ((e = netns_inode(&ino))) {
        snprintf(errbuf, errlen, "cannot identify the network namespace: %s", tw_strerror(e));
        return e;
    }

    /* 1. the previous values (and drop-in) */
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
        if (strchr(sv[i].value, '\n') || (size_t)e >= sizeof(sv[i].value) - 1) {
            snprintf(errbuf, errlen, "unexpected value in %s (several lines, or too long)",
                     sv[i].key);
            e = TW_EMALFORMED;
            goto out;
        }
    }
    bool had_dropin = false;
    if (host) {
        e = twx_read_file(dropin, TW__DOCTOR_FILE_MAX, &old, &oldlen);
        if (e && e != -ENOENT) {
            snprintf(errbuf, errlen, "cannot read %s: %s", dropin, tw_strerror(e));
            goto out;
        }
        had_dropin = e == 0;
        text = tw_doctor_dropin_text(r, o ? o->label : NULL, TW_DOCTOR_SCOPE_HOST);
        if (!text) {
            e = -ENOMEM;
            goto out;
        }
    }

    /* 2. record them, before anything changes */
    if ((e = tw__doctor_split_path(state, sdir, sizeof(sdir), base, sizeof(base))) ||
        (e = twx_mkdir_p(sdir))) {
        snprintf(errbuf, errlen, "cannot create %s: %s", sdir, tw_strerror(e));
        goto out;
    }
    if (had_dropin && (e = tw_doctor_write_atomic(prev, old, oldlen, 0600))) {
        snprintf(errbuf, errlen, "cannot save the previous drop-in to %s: %s", prev,
                 tw_strerror(e));
        goto out;
    }
    tw__sb_add(&st, "# twkit doctor rollback state: written by --apply, read by --rollback\n");
    tw__sb_add(&st, "netns %llu\n", ino);
    if (host)
        tw__sb_add(&st, "dropin %s %s\n", had_dropin ? "saved" : "absent", dropin);
    else
        tw__sb_add(&st, "dropin none\n"); /* a namespace: no file the host loads */
    for (size_t i = 0; i < r->n_changes; i++)
        tw__sb_add(&st, "sysctl %s %s\n", sv[i].key, sv[i].value);
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
        e = write_value(proc_root, r->changes[i].key, r->changes[i].value);
        if (e) {
            char rerr[320] = "";
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

    /* 4. the drop-in (HOST only) */
    char ddir[4096];
    if (host &&
        ((e = tw__doctor_split_path(dropin, ddir, sizeof(ddir), base, sizeof(base))) ||
         (e = twx_mkdir_p(ddir)) || (e = tw_doctor_write_atomic(dropin, text, strlen(text), 0644)))) {
        char rerr[320] = "";
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
    int scope = scope_of(o, errbuf, errlen);
    if (scope < 0)
        return scope;
    if ((e = state_path(o, scope, state, sizeof(state), errbuf, errlen)))
        return e;
    snprintf(prev, sizeof(prev), "%s.dropin", state);
    const char *proc_root = o ? o->proc_root : NULL;

    e = twx_read_file(state, TW__DOCTOR_FILE_MAX, &buf, &len);
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
    int had = -1; /* 1 saved, 0 absent, 2 none (a namespace) */
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
        } else if (!strcmp(line, "dropin none")) {
            had = 2;
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
    if (!ino || had < 0 || (had == 2) != (scope == TW_DOCTOR_SCOPE_NETNS))
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
    if (had == 1 && (e = twx_read_file(prev, TW__DOCTOR_FILE_MAX, &old, &oldlen))) {
        snprintf(errbuf, errlen, "cannot read the saved drop-in %s: %s", prev, tw_strerror(e));
        goto out;
    }

    /* Restore: values, then the file, then forget the state. */
    first = restore(proc_root, sv, n, errbuf, errlen);
    e = 0;
    if (had == 1)
        e = tw_doctor_write_atomic(dropin, old, oldlen, 0644);
    else if (had == 0)
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
