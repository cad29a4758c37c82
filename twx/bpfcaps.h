/*
 * twx/bpfcaps.h — what a twkit BPF user (the bpf socket source, the live
 * table, trace) needs to say why it cannot load its programs (internal
 * tier; compiled into libtwkit too, hidden).  None of it needs libbpf, so
 * it builds where twkit is built without BPF.
 */
#ifndef TWX_BPFCAPS_H
#define TWX_BPFCAPS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Is capability cap (CAP_*) in this thread's effective set?  false when
 * capget() fails. */
bool twx_has_cap(int cap);

/* What this process lacks to load programs that read kernel memory (root,
 * or CAP_BPF and CAP_PERFMON): "CAP_BPF and CAP_PERFMON", "CAP_BPF",
 * "CAP_PERFMON", or NULL when it has them or capget() cannot tell (then the
 * kernel decides). */
const char *twx_bpf_caps_missing(void);

/* The body of a libbpf print callback that keeps a one-line reason: format
 * the message, drop trailing newlines and spaces, and keep it in dst
 * (len bytes) unless nothing is left. */
void twx_bpf_log_keep(char *dst, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* A reason and its -errno, kept by a module for its *_why() function. */
struct twx_why {
    char msg[512];
    int err;
};
/* Set w to err and the formatted reason; returns err. */
int twx_why_set(struct twx_why *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* TWX_BPFCAPS_H */
