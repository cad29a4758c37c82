/*
 * stat.h — the renderers of `twkit stat` (human table, JSON; Prometheus is
 * metrics.h, shared with `twkit export`).
 * Each takes finished reports and writes them; none computes anything.
 */
#ifndef TWKIT_STAT_H
#define TWKIT_STAT_H

#include <stdio.h>

#include <twkit/twkit.h>

#include "twx/json.h"

struct stat_ns {
    char *label;        /* malloc'd: "host", a namespace name, "pid N (comm)", a path,
                           "fixture DIR" (raw: the human view escapes it) */
    uint64_t inode;
    struct tw_report *r;
    struct tw_counters counters; /* TcpExt/Tcp, read for --prom */
    bool have_counters;
};

struct stat_view {
    unsigned top;       /* rows per table */
    bool color;
};

void stat_render_table(FILE *f, const struct stat_ns *ns, const struct stat_view *v);
void stat_render_json(struct twx_json *j, const struct stat_ns *ns, const struct stat_view *v);

/* --record DIR (stat_record.c): check that DIR is new or empty (else a message
 * and TW_EXIT_RUNTIME) and make a temporary sibling *tmp to record into;
 * then stat_record_end renames it onto DIR (ok) or removes it. */
int stat_record_begin(const char *dir, char **tmp);
int stat_record_end(const char *dir, char *tmp, bool ok);

/* Destinations worth printing: all above TW_PRESSURE_HIGH, at least top. */
size_t stat_pressure_rows(const struct tw_report *r, unsigned top);

#endif
