/*
 * tool_netns.c — what every subcommand says about network namespaces: the
 * label of the namespace it runs in ("host" or "current"), and one wording
 * for the errors of opening or entering one, naming the capability needed.
 * Kept here so that stat, doctor and later commands say the same thing.
 * (twx_err escapes the namespace's name, which may hold control bytes.)
 */
#include <errno.h>
#include <stdio.h>

#include <twkit/twkit.h>

#include "tool.h"

void tool_netns_label(char *buf, size_t len, uint64_t *inode)
{
    struct tw_netns cur, host;
    snprintf(buf, len, "current");
    if (inode)
        *inode = 0;
    if (tw_netns_current(&cur) != 0)
        return;
    if (inode)
        *inode = cur.inode;
    if (tw_netns_host(&host) == 0) {
        if (host.inode == cur.inode && host.dev == cur.dev)
            snprintf(buf, len, "host");
        tw_netns_release(&host);
    }
    tw_netns_release(&cur);
}

int tool_netns_err(const char *spec, int e, bool entering)
{
    if (e == TW_ENONETNS)
        twx_err("no network namespace '%s' (neither a name in /run/netns nor a running PID)", spec);
    else if (entering && (e == -EPERM || e == -EACCES))
        twx_err("entering network namespace '%s' needs CAP_SYS_ADMIN (run as root)", spec);
    else if (e == -EACCES || e == -EPERM)
        twx_err("cannot open network namespace '%s': permission denied (needs root, or "
                 "CAP_SYS_PTRACE for another user's process)",
                 spec);
    else if (e == TW_EBADOPT)
        twx_err("'%s' is not a namespace name, PID or path", spec);
    else
        twx_err("network namespace '%s': %s", spec, tw_strerror(e));
    return TW_EXIT_RUNTIME;
}
