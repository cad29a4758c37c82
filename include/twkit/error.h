/*
 * twkit/error.h — the one error convention of libtwkit.
 *
 * Every function that can fail returns 0 (or a non-negative count) on
 * success and a negative error code on failure; the library never prints.
 * Error codes are negative errno values (-ENOENT, -EPERM, ...) or one of the
 * twkit-specific codes below, which lie outside the errno range.
 *
 * tw_strerror() gives a message for any code, tw_err_name() its symbolic
 * name ("TW_EMALFORMED", "ENOENT").  Both return static strings.
 */
#ifndef TWKIT_ERROR_H
#define TWKIT_ERROR_H

#include <twkit/common.h>

TW_BEGIN_DECLS

/* X(name, value, message): the twkit-specific codes. */
#define TW_ERRNO_MAP(X)                                                        \
    X(TW_EMALFORMED, -4001, "malformed input")                                 \
    X(TW_ETRUNCATED, -4002, "truncated input")                                 \
    X(TW_EUNKSTATE, -4003, "unknown TCP state")                                \
    X(TW_ENONETNS, -4004, "no such network namespace")                         \
    X(TW_EBADOPT, -4005, "invalid option value")                               \
    X(TW_EDUMPINTR, -4006, "kernel dump interrupted")                          \
    X(TW_ECLOSED, -4007, "object already closed")                              \
    X(TW_EWAITTIMEOUT, -4008, "timed out waiting for a free slot")             \
    X(TW_EFOREIGN, -4009, "object does not belong to this owner")              \
    X(TW_EDOUBLE, -4010, "object already released")

enum tw_errno {
#define TW__ERR_ENUM(name, val, msg) name = val,
    TW_ERRNO_MAP(TW__ERR_ENUM)
#undef TW__ERR_ENUM
    TW_OK = 0
};

/* Message for err (negative errno or TW_E*); never NULL. */
TW_EXTERN const char *tw_strerror(int err);
/* Symbolic name for err ("TW_EMALFORMED", "EPERM", "OK"); never NULL. */
TW_EXTERN const char *tw_err_name(int err);

TW_END_DECLS

#endif /* TWKIT_ERROR_H */
