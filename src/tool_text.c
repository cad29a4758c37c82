/*
 * tool_text.c — outside strings in the command's messages.  A namespace
 * name, a process name or a path given on the command line can hold
 * terminal control bytes; every stderr message and human view that prints
 * one takes it through tool_esc (twx_esc underneath), whole.
 */
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "twx/text.h"

const char *tool_esc(const char *s)
{
    static char *ring[4];
    static size_t cap[4];
    static unsigned next;
    unsigned i = next++ % 4;
    if (!s)
        return "(null)";
    size_t n = twx_esc_len(s);
    if (n > cap[i]) {
        char *b = realloc(ring[i], n);
        if (!b)
            return "(out of memory)";
        ring[i] = b;
        cap[i] = n;
    }
    return twx_esc(ring[i], n, s);
}
