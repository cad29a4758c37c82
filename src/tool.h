/*
 * tool.h — what the twkit command's files share: the subcommand entry
 * points, exit codes and message helpers.  The command uses libtwkit only
 * through include/twkit.
 */
#ifndef TWKIT_TOOL_H
#define TWKIT_TOOL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit status of every twkit subcommand (documented in twkit(1)). */
enum {
    TW_EXIT_OK = 0,      /* success */
    TW_EXIT_RUNTIME = 1, /* runtime error: kernel, namespace, permission, bad input data */
    TW_EXIT_USAGE = 2,   /* usage error: unknown option, bad option value */
};

/* Subcommands: argv[0] is the subcommand name.  Return an exit status. */
int cmd_stat(int argc, char **argv);
/* Defined by later subcommands; weak so a build without them still links. */
int cmd_doctor(int argc, char **argv) __attribute__((weak));
int cmd_lab(int argc, char **argv) __attribute__((weak));
int cmd_watch(int argc, char **argv) __attribute__((weak));
int cmd_export(int argc, char **argv) __attribute__((weak));

/* "twkit: " + message + newline on stderr. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message, "Try 'twkit CMD --help'.", returns TW_EXIT_USAGE. */
int tool_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "host" when the calling thread is in the host's network namespace, else
 * "current"; *inode (may be NULL) gets the namespace id, 0 if unknown. */
void tool_netns_label(char *buf, size_t len, uint64_t *inode);
/* Report a failure to open (entering false) or enter a namespace; returns
 * TW_EXIT_RUNTIME. */
int tool_netns_err(const char *spec, int err, bool entering);

/* Colour: decided once per run (--color, NO_COLOR, isatty). */
extern bool tool_color;
void tool_color_init(const char *when, FILE *out); /* "auto", "always", "never" */

#endif /* TWKIT_TOOL_H */
