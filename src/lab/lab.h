/*
 * lab.h — what the files of `twkit lab` share: the entry points of the
 * backend and load-generator sub-modes, the topology (namespaces owned by
 * forked holder processes), the error kinds the load generator counts, the
 * latency histogram and small helpers.  Internal to src/lab.
 */
#ifndef TWKIT_LAB_H
#define TWKIT_LAB_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "twx/clock.h"

/* ---- sub-modes (also runnable alone: `twkit lab backend|load`) ---------- */

int lab_backend_main(int argc, char **argv);
int lab_load_main(int argc, char **argv);

/* ---- error kinds counted by the load generator -------------------------- */

#define LAB_ERR_MAP(X)                                                          \
    X(LAB_E_ADDRNOTAVAIL, "EADDRNOTAVAIL")                                      \
    X(LAB_E_ADDRINUSE, "EADDRINUSE")                                            \
    X(LAB_E_CONNREFUSED, "ECONNREFUSED")                                        \
    X(LAB_E_CONNRESET, "ECONNRESET")                                            \
    X(LAB_E_TIMEDOUT, "ETIMEDOUT")                                              \
    X(LAB_E_PIPE, "EPIPE")                                                      \
    X(LAB_E_UNREACH, "EHOSTUNREACH")                                            \
    X(LAB_E_MFILE, "EMFILE")                                                    \
    X(LAB_E_EOF, "EOF")               /* peer closed before a whole response */ \
    X(LAB_E_BADMSG, "EBADMSG")        /* malformed HTTP from the peer */        \
    X(LAB_E_HTTP, "HTTP_STATUS")      /* a response other than 2xx */           \
    X(LAB_E_OTHER, "OTHER")

enum lab_err {
#define LAB__E(id, name) id,
    LAB_ERR_MAP(LAB__E)
#undef LAB__E
    LAB_E_MAX
};

const char *lab_err_name(int kind);
/* Map an errno value to its kind. */
int lab_err_kind(int err);

/* ---- latency histogram (microseconds, ~6 % resolution) ------------------- */

#define LAB_HIST_BUCKETS 1024

struct lab_hist {
    uint64_t b[LAB_HIST_BUCKETS];
    uint64_t n, max, sum;
};

void lab_hist_add(struct lab_hist *h, uint64_t us);
void lab_hist_merge(struct lab_hist *into, const struct lab_hist *from);
/* Value at quantile q (0..1), upper edge of its bucket, clamped to max. */
uint64_t lab_hist_quantile(const struct lab_hist *h, double q);

/* ---- helpers --------------------------------------------------------------- */

/* "198.18.0.2:8001" -> sockaddr; 0 or -1. */
int lab_parse_hostport(const char *s, struct sockaddr_in *out);
/* True for 127/8 and 198.18.0.0/15: the only places the lab sends traffic. */
bool lab_addr_allowed(struct in_addr a);

#endif /* TWKIT_LAB_H */
