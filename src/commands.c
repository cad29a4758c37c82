/*
 * commands.c — the registry of twkit's commands.  main() dispatches through
 * it, `twkit --help` lists it, and the docs generator walks it to write
 * every man page's OPTIONS section and the exit-status table of twkit(1).
 * It names each command's descriptor directly, so leaving a command out of
 * the build is a link error.
 */
#include <string.h>

#include "tool.h"

const struct twx_cmd *const tool_commands[] = {
    &stat_command,
    &watch_command,
    &doctor_command,
    &lab_command,
    &explain_command,
    &export_command,
    &trace_command,
    NULL,
};

const struct twx_cmd *tool_find_command(const char *name)
{
    size_t n = strcspn(name, " ");
    for (const struct twx_cmd *const *c = tool_commands; *c; c++) {
        if (strlen((*c)->name) != n || strncmp((*c)->name, name, n))
            continue;
        if (!name[n])
            return *c;
        for (const struct twx_cmd *const *s = (*c)->subs; s && *s; s++)
            if (!strcmp((*s)->name, name))
                return *s;
        return NULL;
    }
    return NULL;
}
