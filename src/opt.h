/*
 * opt.h — one option table drives both getopt_long parsing and --help for
 * every subcommand (so the two cannot drift apart).
 */
#ifndef TWKIT_OPT_H
#define TWKIT_OPT_H

#include <getopt.h>
#include <stdio.h>

struct opt_spec {
    const char *lng;   /* long name without "--" */
    int val;           /* short letter, or a value >= 256 for long-only */
    const char *arg;   /* argument name, NULL for a flag */
    const char *help;  /* one line */
};

/* Build a getopt_long table and short string from specs (n entries).
 * longs must have n+1 slots, shorts 3*n+2 bytes. */
void opt_build(const struct opt_spec *specs, size_t n, struct option *longs, char *shorts);
/* Print the OPTIONS block of --help. */
void opt_help(FILE *f, const struct opt_spec *specs, size_t n);

#endif
