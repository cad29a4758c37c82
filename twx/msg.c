/*
 * msg.c — stderr messages of the twkit command, in one wording: every
 * message starts with "twkit: ", a usage error ends with the hint that
 * names the command's --help.  Kept in the internal tier so that the
 * command, the lab's child programs and the option parser say things the
 * same way.
 *
 * Messages name things from outside twkit (namespace and process names,
 * paths, option values), so the whole formatted message goes through
 * twx_esc: a control byte in a name reaches the terminal as \xNN, and a
 * newline cannot forge a second message line.  Messages therefore never
 * carry a newline of their own.
 */
#include <stdio.h>
#include <stdlib.h>

#include "twx/msg.h"
#include "twx/text.h"

void twx_vmsg(const char *prefix, const char *fmt, va_list ap)
{
    char *raw = NULL, *esc = NULL;
    if (vasprintf(&raw, fmt, ap) < 0)
        raw = NULL;
    if (raw)
        esc = twx_esc_dup(raw);
    fprintf(stderr, "twkit: %s%s\n", prefix, esc ? esc : "(out of memory)");
    free(esc);
    free(raw);
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
