/*
 * bpf_load.c — the reason a libtwkit BPF object did not load.  libbpf
 * reports through one process-wide print callback; while a source or the
 * live table loads, this keeps the callback's last non-debug line (per
 * thread) so that the failure's reason can quote the verifier or the
 * kernel instead of a bare errno, and words every such reason the same way.
 */
#include "twkit_bpf_config.h"

#if TWKIT_BPF

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bpf_load.h"

static __thread char g_log[256];

__attribute__((format(printf, 2, 0)))
static int log_cb(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level != LIBBPF_DEBUG)
        twx_bpf_log_keep(g_log, sizeof(g_log), fmt, ap);
    return 0;
}

libbpf_print_fn_t tw__bpf_log_begin(void)
{
    g_log[0] = '\0';
    return libbpf_set_print(log_cb);
}

void tw__bpf_log_end(libbpf_print_fn_t old)
{
    libbpf_set_print(old);
}

void tw__bpf_log_set(const char *msg)
{
    snprintf(g_log, sizeof(g_log), "%s", msg);
}

int tw__bpf_load_why(struct twx_why *w, int e, const char *what, const char *step)
{
    const char *sep = g_log[0] ? "; libbpf: " : "";
    if (e == -EPERM || e == -EACCES)
        return twx_why_set(w, e, "the kernel refused %s (%s): loading needs root, or CAP_BPF "
                                 "and CAP_PERFMON%s%s", what, strerror(-e), sep, g_log);
    return twx_why_set(w, e ? e : -EINVAL, "%s %s failed: %s%s%s", step, what,
                       strerror(e < 0 ? -e : EINVAL), sep, g_log);
}

#endif /* TWKIT_BPF */
