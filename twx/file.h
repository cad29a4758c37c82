/*
 * twx/file.h — whole-file reads and writes (internal tier; compiled into
 * libtwkit too, hidden).  Kernel files, fixtures, recordings and the
 * doctor's sysctl.d files are all small and read whole; writes that others
 * may read at the same moment (a textfile for node_exporter, a sysctl.d
 * drop-in) are atomic: a temporary file in the same directory, fsync, then
 * rename.
 */
#ifndef TWX_FILE_H
#define TWX_FILE_H

#include <stddef.h>

/* Join root and a relative path into buf ("/proc" when root is NULL). */
const char *twx_path(char *buf, size_t len, const char *root, const char *rel);
/* Read a whole small file into buf (NUL-terminated, cut at len - 1 bytes).
 * Returns the length read or -errno. */
int twx_read_small(const char *path, char *buf, size_t len);
/* Read a whole regular file of at most max bytes into *out (malloc'd,
 * NUL-terminated; *len without the NUL).  Returns 0, -EFBIG (larger),
 * -EINVAL (not a regular file) or -errno. */
int twx_read_file(const char *path, size_t max, char **out, size_t *len);
/* mkdir -p with mode 0755.  Returns 0 or -errno. */
int twx_mkdir_p(const char *dir);
/* Write len bytes to path atomically (temporary file in the same directory,
 * fsync, rename) with the given mode.  Returns 0 or -errno; on failure
 * path is untouched and no temporary file is left. */
int twx_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Remove path and everything below it (files, directories; symlinks are
 * removed, not followed).  Best effort: what cannot be removed stays. */
void twx_rm_tree(const char *path);

#endif /* TWX_FILE_H */
