/*
 * bpfcaps.c — the privilege check and the reason-keeping that every twkit
 * BPF user shares (the bpf socket source and the live table in libtwkit,
 * trace in the command).  libbpf's own failure text for a missing
 * privilege talks about memlock limits, so each user checks the
 * capabilities itself first and names what is missing; this is the one
 * place that reads them.
 */
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "twx/bpfcaps.h"

static int caps(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    memset(d, 0, 2 * sizeof(*d));
    return (int)syscall(SYS_capget, &h, d);
}

static bool has(const struct __user_cap_data_struct d[2], int cap)
{
    return (d[cap / 32].effective >> (cap % 32)) & 1;
}

bool twx_has_cap(int cap)
{
    struct __user_cap_data_struct d[2];
    return caps(d) == 0 && has(d, cap);
}

const char *twx_bpf_caps_missing(void)
{
    struct __user_cap_data_struct d[2];
    if (caps(d) != 0)
        return NULL; /* cannot tell: let the kernel decide */
    if (has(d, CAP_SYS_ADMIN) || (has(d, CAP_BPF) && has(d, CAP_PERFMON)))
        return NULL;
    return !has(d, CAP_BPF) && !has(d, CAP_PERFMON) ? "CAP_BPF and CAP_PERFMON"
           : !has(d, CAP_BPF)                        ? "CAP_BPF"
                                                     : "CAP_PERFMON";
}

void twx_bpf_log_keep(char *dst, size_t len, const char *fmt, va_list ap)
{
    char line[512];
    if (vsnprintf(line, sizeof(line), fmt, ap) <= 0)
        return;
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\n' || line[l - 1] == ' '))
        line[--l] = '\0';
    if (l)
        snprintf(dst, len, "%s", line);
}

int twx_why_set(struct twx_why *w, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
    va_end(ap);
    w->err = err;
    return err;
}
