/*
 * bpf_load.h — what libtwkit's BPF users (the bpf socket source, the live
 * table) share while they load their programs: libbpf's last message,
 * kept for the reason of a failure, and that reason's wording.  Built only
 * with TWKIT_BPF (it needs libbpf).
 */
#ifndef TWKIT_LIB_BPF_LOAD_H
#define TWKIT_LIB_BPF_LOAD_H

#include <bpf/libbpf.h>

#include "twx/bpfcaps.h"

/* Keep libbpf's last non-debug message from now on (this thread); returns
 * the print function to give back to tw__bpf_log_end(). */
libbpf_print_fn_t tw__bpf_log_begin(void);
void tw__bpf_log_end(libbpf_print_fn_t old);
/* Replace the kept message (a test's forced failure says what it is). */
void tw__bpf_log_set(const char *msg);

/*
 * The reason for a failure e (-errno) at `step` ("opening", "loading",
 * "attaching", ...) of `what` ("the eBPF iterator"), with libbpf's last
 * message: a refusal (EPERM, EACCES) names the capabilities.  Sets w and
 * returns e (or -EINVAL when e is 0).
 */
int tw__bpf_load_why(struct twx_why *w, int e, const char *what, const char *step);

#endif /* TWKIT_LIB_BPF_LOAD_H */
