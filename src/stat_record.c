/*
 * stat_record.c — `twkit stat --record DIR`: a recording is written whole
 * into a directory of its own, or not at all.
 *
 * A replay (--fixture DIR) reads the socket dump and the kernel files it
 * finds in DIR; recording into a directory that already holds another
 * recording left both sets of files there, and a replay mixed the dump of
 * one namespace with the sysctls and counters of another.  So DIR must be
 * new or empty: the recording is made in a sibling temporary directory and
 * renamed onto DIR when it is complete, and removed when it is not.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stat.h"
#include "tool.h"
#include "twx/file.h"

/* 1 when dir holds any entry, 0 when empty, -errno when unreadable. */
static int non_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)))
        found = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return found;
}

int stat_record_begin(const char *dir, char **tmp)
{
    *tmp = NULL;
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            twx_err("--record %s: exists and is not a directory", dir);
            return TW_EXIT_RUNTIME;
        }
        int ne = non_empty(dir);
        if (ne != 0) {
            if (ne > 0)
                twx_err("--record %s: the directory is not empty; give a new or empty one "
                        "(a replay must not mix two recordings)", dir);
            else
                twx_err("--record %s: %s", dir, strerror(-ne));
            return TW_EXIT_RUNTIME;
        }
    } else if (errno != ENOENT) {
        twx_err("--record %s: %s", dir, strerror(errno));
        return TW_EXIT_RUNTIME;
    }
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    char *t = NULL;
    if (asprintf(&t, "%.*s.twkit-XXXXXX", (int)n, dir) < 0)
        return TW_EXIT_RUNTIME;
    /* the parent may not exist yet: --record a/b/c makes a/b */
    char *slash = strrchr(t, '/');
    if (slash && slash != t) {
        *slash = '\0';
        int e = twx_mkdir_p(t);
        *slash = '/';
        if (e) {
            twx_err("--record %s: %s", dir, strerror(-e));
            free(t);
            return TW_EXIT_RUNTIME;
        }
    }
    if (!mkdtemp(t)) {
        twx_err("--record %s: %s", dir, strerror(errno));
        free(t);
        return TW_EXIT_RUNTIME;
    }
    *tmp = t;
    return 0;
}

int stat_record_end(const char *dir, char *tmp, bool ok)
{
    int rc = 0;
    if (!tmp)
        return 0;
    if (ok && rename(tmp, dir) != 0) {
        twx_err("--record %s: %s%s", dir, strerror(errno),
                errno == ENOTEMPTY || errno == EEXIST ? " (something was written there meanwhile)"
                                                      : "");
        rc = TW_EXIT_RUNTIME;
        ok = false;
    }
    if (!ok)
        twx_rm_tree(tmp);
    free(tmp);
    return rc;
}
