/*
 * opt.c — builds getopt_long tables and the OPTIONS part of --help from
 * one option table per subcommand.
 */
#include <string.h>

#include "opt.h"

void opt_build(const struct opt_spec *specs, size_t n, struct option *longs, char *shorts)
{
    char *s = shorts;
    *s++ = '+'; /* stop at the first non-option */
    for (size_t i = 0; i < n; i++) {
        longs[i].name = specs[i].lng;
        longs[i].has_arg = specs[i].arg ? required_argument : no_argument;
        longs[i].flag = NULL;
        longs[i].val = specs[i].val;
        if (specs[i].val < 256) {
            *s++ = (char)specs[i].val;
            if (specs[i].arg)
                *s++ = ':';
        }
    }
    *s = '\0';
    memset(&longs[n], 0, sizeof(longs[n]));
}

void opt_help(FILE *f, const struct opt_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char left[64];
        if (specs[i].val < 256)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", specs[i].val, specs[i].lng,
                     specs[i].arg ? " " : "", specs[i].arg ? specs[i].arg : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", specs[i].lng, specs[i].arg ? " " : "",
                     specs[i].arg ? specs[i].arg : "");
        if (strlen(left) > 24)
            fprintf(f, "  %s\n  %-24s %s\n", left, "", specs[i].help);
        else
            fprintf(f, "  %-24s %s\n", left, specs[i].help);
    }
}
