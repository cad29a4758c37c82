/*
 * twx/errclass.h — the classes a network client sorts its failures into
 * (internal tier; not installed).  The lab's load generator counts every
 * failed connect, send or receive by class; the classes have stable names
 * ("EADDRNOTAVAIL") that appear in JSON keys, CSV headers and the lab's
 * process messages, so the one table below is the only place they are
 * spelt.  Besides errno values there are classes for what the peer did:
 * closed early (EOF), sent malformed HTTP (EBADMSG), answered non-2xx
 * (HTTP_STATUS).
 */
#ifndef TWX_ERRCLASS_H
#define TWX_ERRCLASS_H

/* X(id, name): in the order they are printed. */
#define TWX_ERRCLASS_MAP(X)                                                         \
    X(TWX_EC_ADDRNOTAVAIL, "EADDRNOTAVAIL") /* connect(): no free local port */      \
    X(TWX_EC_ADDRINUSE, "EADDRINUSE")       /* bind(): the port is taken */          \
    X(TWX_EC_CONNREFUSED, "ECONNREFUSED")                                           \
    X(TWX_EC_CONNRESET, "ECONNRESET")                                               \
    X(TWX_EC_TIMEDOUT, "ETIMEDOUT")                                                 \
    X(TWX_EC_PIPE, "EPIPE")                                                         \
    X(TWX_EC_UNREACH, "EHOSTUNREACH")       /* also ENETUNREACH */                  \
    X(TWX_EC_MFILE, "EMFILE")               /* also ENFILE */                       \
    X(TWX_EC_EOF, "EOF")                    /* peer closed before a whole response */ \
    X(TWX_EC_BADMSG, "EBADMSG")             /* malformed HTTP from the peer */      \
    X(TWX_EC_HTTP, "HTTP_STATUS")           /* a response other than 2xx */         \
    X(TWX_EC_OTHER, "OTHER")                /* any other errno */

enum twx_errclass {
#define TWX__EC_ENUM(id, name) id,
    TWX_ERRCLASS_MAP(TWX__EC_ENUM)
#undef TWX__EC_ENUM
    TWX_EC_MAX
};

/* The class of an errno value (positive, as errno holds it). */
enum twx_errclass twx_errclass_of(int err);
/* Its name; "OTHER" for a value outside the enum. */
const char *twx_errclass_name(int cls);
/* The class named name (exact, case-sensitive), or -1. */
int twx_errclass_find(const char *name);

#endif /* TWX_ERRCLASS_H */
