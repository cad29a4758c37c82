/*
 * main.c — the twkit command: dispatch to a subcommand, global --help and
 * --version, and the message helpers every subcommand uses.
 *
 * Each subcommand lives in its own file (cmd_<name>.c, or a folder) and is
 * an `int cmd_<name>(argc, argv)` returning one of the documented exit
 * codes in tool.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

bool tool_color;

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "twkit: %s", prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void tool_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

void tool_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

int tool_usage_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
    if (cmd && *cmd)
        fprintf(stderr, "Try 'twkit %s --help'.\n", cmd);
    else
        fprintf(stderr, "Try 'twkit --help'.\n");
    return TW_EXIT_USAGE;
}

void tool_color_init(const char *when, FILE *out)
{
    if (!when || !strcmp(when, "auto")) {
        const char *nc = getenv("NO_COLOR");
        tool_color = isatty(fileno(out)) && !(nc && *nc) &&
                     !(getenv("TERM") && !strcmp(getenv("TERM"), "dumb"));
    } else {
        tool_color = !strcmp(when, "always");
    }
}

struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
};

static const struct command commands[] = {
    {"stat", cmd_stat, "TCP sockets and TIME_WAIT pressure of a host, now"},
    {"doctor", cmd_doctor, "audit TIME_WAIT-related kernel settings against the load"},
    {"lab", cmd_lab, "reproduce port exhaustion in namespaces and measure fixes"},
    {"watch", cmd_watch, "the stat picture, live"},
    {"export", cmd_export, "Prometheus metrics per destination"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: twkit COMMAND [OPTIONS]\n"
            "\n"
            "See, explain and fix TCP TIME_WAIT pressure on Linux.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (commands[i].fn)
            fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "Options:\n"
            "  -h, --help     this help\n"
            "  -V, --version  version\n"
            "\n"
            "Examples:\n"
            "  twkit stat                 the picture of this host\n"
            "  twkit stat --netns all     every network namespace, each apart\n"
            "  twkit stat --help          options of one command\n"
            "\n"
            "Exit status: 0 ok, 1 runtime error, 2 usage error.\n"
            "See twkit(1) and twkit-stat(1).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TW_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return TW_EXIT_OK;
    }
    if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
        printf("twkit %s\n", TW_VERSION);
        return TW_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(name, commands[i].name) && commands[i].fn)
            return commands[i].fn(argc - 1, argv + 1);
    }
    tool_err("unknown command '%s'", name);
    fprintf(stderr, "Try 'twkit --help'.\n");
    return TW_EXIT_USAGE;
}
