/*
 * main.c — the twkit command: dispatch to a command from the registry
 * (commands.c), and the global --help and --version.
 *
 * Each command lives in its own file (cmd_<name>.c, or a folder) and is a
 * `struct twx_cmd` whose run function returns one of the exit statuses
 * documented in twkit(1).  A command with sub-commands ("lab load")
 * dispatches on its first argument before parsing its own options.
 */
#include <stdio.h>
#include <string.h>

#include "tool.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: twkit COMMAND [OPTIONS]\n"
               "\n"
               "See, explain and fix TCP TIME_WAIT pressure on Linux.\n"
               "\n"
               "Commands:\n");
    for (const struct twx_cmd *const *c = tool_commands; *c; c++)
        fprintf(f, "  %-8s %s\n", (*c)->name, (*c)->summary);
    fprintf(f, "\n"
               "Options:\n"
               "  -h, --help     this help\n"
               "  -V, --version  version\n"
               "\n"
               "Examples:\n"
               "  twkit stat                 the picture of this host\n"
               "  twkit stat --netns all     every network namespace, each apart\n"
               "  twkit stat --help          options of one command\n"
               "\n"
               "Exit status: 0 ok, 1 runtime error, 2 usage error; the table of every\n"
               "command's statuses is in twkit(1).\n");
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
    for (const struct twx_cmd *const *c = tool_commands; *c; c++) {
        if (strcmp(name, (*c)->name))
            continue;
        if ((*c)->subs && argc >= 3) {
            for (const struct twx_cmd *const *s = (*c)->subs; *s; s++) {
                const char *sub = strchr((*s)->name, ' ');
                if (sub && !strcmp(sub + 1, argv[2]))
                    return (*s)->run(argc - 2, argv + 2);
            }
        }
        return (*c)->run(argc - 1, argv + 1);
    }
    twx_err("unknown command '%s'", name);
    fprintf(stderr, "Try 'twkit --help'.\n");
    return TW_EXIT_USAGE;
}
