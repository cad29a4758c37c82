/*
 * errclass.c — errno values to the failure classes of twx/errclass.h, and
 * the classes' names both ways.  Names come from the one X-macro table so
 * that writers and readers of the classes cannot disagree.
 */
#include "twx/errclass.h"

#include <errno.h>
#include <string.h>

static const char *const names[] = {
#define TWX__EC_NAME(id, name) name,
    TWX_ERRCLASS_MAP(TWX__EC_NAME)
#undef TWX__EC_NAME
};

enum twx_errclass twx_errclass_of(int err)
{
    switch (err) {
    case EADDRNOTAVAIL: return TWX_EC_ADDRNOTAVAIL;
    case EADDRINUSE: return TWX_EC_ADDRINUSE;
    case ECONNREFUSED: return TWX_EC_CONNREFUSED;
    case ECONNRESET: return TWX_EC_CONNRESET;
    case ETIMEDOUT: return TWX_EC_TIMEDOUT;
    case EPIPE: return TWX_EC_PIPE;
    case EHOSTUNREACH:
    case ENETUNREACH: return TWX_EC_UNREACH;
    case EMFILE:
    case ENFILE: return TWX_EC_MFILE;
    case EBADMSG: return TWX_EC_BADMSG;
    default: return TWX_EC_OTHER;
    }
}

const char *twx_errclass_name(int cls)
{
    if (cls < 0 || cls >= TWX_EC_MAX)
        return "OTHER";
    return names[cls];
}

int twx_errclass_find(const char *name)
{
    for (int i = 0; name && i < TWX_EC_MAX; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}
