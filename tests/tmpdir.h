/*
 * tmpdir.h — temporary directories for unit tests: one made per test under
 * /tmp with a recognisable name, and removed with everything in it.  The
 * remover refuses any path it did not make, so a bug cannot delete more.
 * Header-only (static functions).
 */
#ifndef TWKIT_TESTS_TMPDIR_H
#define TWKIT_TESTS_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TW_TEST_TMP_PREFIX "/tmp/twkit-test-"

/* Make /tmp/twkit-test-TAG-XXXXXX into buf; returns buf, or NULL (errno set). */
static inline char *tw_test_tmpdir(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, TW_TEST_TMP_PREFIX "%s-XXXXXX", tag);
    return mkdtemp(buf);
}

static inline int tw__test_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* Remove dir and what is in it; only directories tw_test_tmpdir made. */
static inline void tw_test_rmtree(const char *dir)
{
    if (dir && !strncmp(dir, TW_TEST_TMP_PREFIX, strlen(TW_TEST_TMP_PREFIX)) && !strstr(dir, ".."))
        nftw(dir, tw__test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* TWKIT_TESTS_TMPDIR_H */
