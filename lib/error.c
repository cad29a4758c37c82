/*
 * error.c — messages and names for libtwkit's error codes.
 *
 * The library reports failures as negative numbers only (see twkit/error.h);
 * this file turns them into text for the command and for library users.
 * twkit's own codes come from the TW_ERRNO_MAP table so that code, name and
 * message are written once.
 */
#include <errno.h>
#include <string.h>

#include <twkit/error.h>

const char *tw_strerror(int err)
{
    switch (err) {
#define TW__ERR_MSG(name, val, msg) case name: return msg;
        TW_ERRNO_MAP(TW__ERR_MSG)
#undef TW__ERR_MSG
    case 0:
        return "success";
    default:
        break;
    }
    if (err < 0 && err > -4000)
        return strerror(-err);
    return "unknown error";
}

const char *tw_err_name(int err)
{
    switch (err) {
#define TW__ERR_NAME(name, val, msg) case name: return #name;
        TW_ERRNO_MAP(TW__ERR_NAME)
#undef TW__ERR_NAME
    case 0:
        return "OK";
    default:
        break;
    }
    if (err < 0 && err > -4000) {
        const char *n = strerrorname_np(-err);
        return n ? n : "EUNKNOWN";
    }
    return "EUNKNOWN";
}
