/*
 * twx/msg.h — the one way every part of the twkit command speaks to the
 * user on stderr (internal tier; not installed): "twkit: <message>".
 * Library code never prints; it returns errors that these turn into words.
 * The formatted message is escaped as a whole (twx_esc): pass outside
 * strings raw, and put no newline in a message.
 */
#ifndef TWX_MSG_H
#define TWX_MSG_H

#include <stdarg.h>

/* "twkit: " + message + newline on stderr. */
void twx_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "twkit: warning: " + message + newline on stderr. */
void twx_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A usage error: the message, then "Try 'twkit CMD --help'." (cmd NULL or
 * "": "Try 'twkit --help'.").  Returns 2, the usage exit status.
 */
int twx_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void twx_vmsg(const char *prefix, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif /* TWX_MSG_H */
