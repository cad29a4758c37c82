/*
 * msg.c — stderr messages of the twkit command, in one wording: every
 * message starts with "twkit: ", a usage error ends with the hint that
 * names the command's --help.  Kept in the internal tier so that the
 * command, the lab's child programs and the option parser say things the
 * same way.
 */
#include <stdio.h>

#include "twx/msg.h"

void twx_vmsg(const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "twkit: %s", prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void twx_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    twx_vmsg("", fmt, ap);
    va_end(ap);
}

void twx_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    twx_vmsg("warning: ", fmt, ap);
    va_end(ap);
}

int twx_usage_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    twx_vmsg("", fmt, ap);
    va_end(ap);
    if (cmd && *cmd)
        fprintf(stderr, "Try 'twkit %s --help'.\n", cmd);
    else
        fprintf(stderr, "Try 'twkit --help'.\n");
    return 2;
}
