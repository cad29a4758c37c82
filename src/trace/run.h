/*
 * run.h — one run of `twkit trace`, as src/cmd_trace.c sets it up and
 * src/trace/run.c drives it: the attached probe, the namespaces whose
 * counters are cross-checked, and how to show the result.
 */
#ifndef TWKIT_TRACE_RUN_H
#define TWKIT_TRACE_RUN_H

#include <twkit/netns.h>

#include "trace.h"

/* A reading of one namespace: its counters and trace's births, together. */
struct trace_reading {
    uint64_t tw, killed, births;
    bool settled;
};

/* A namespace whose TcpExtTW is compared with trace's births. */
struct trace_watch {
    struct tw_netns ns;         /* fd, inode, label */
    uint32_t inode;
    bool enter;                 /* setns into it to read (not the home namespace) */
    struct trace_reading start, prev, last;
};

struct trace_run {
    struct trace_probe *probe;
    struct trace_cfg cfg;
    bool exact;
    const char *method_why;     /* why this method (JSON start line) */
    struct tw_netns home;       /* where twkit runs: returned to after reading */
    struct trace_watch *watch;
    size_t nwatch;
    struct trace_ns_check *checks;  /* nwatch of them */
    char scope[160];
    double interval, duration;  /* seconds; duration 0: until a signal */
    unsigned top;
    bool json, color, tty;
    unsigned shown;             /* views printed so far */
    struct trace_cgroups *cg;
};

/* Run until --duration or a signal; returns the exit status. */
int trace_run_loop(struct trace_run *r);

#endif /* TWKIT_TRACE_RUN_H */
