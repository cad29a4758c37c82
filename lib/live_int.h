/*
 * live_int.h — what the two halves of the live table (live.c, live_bpf.c)
 * share inside the library.
 */
#ifndef TWKIT_LIVE_INT_H
#define TWKIT_LIVE_INT_H

#include <stdint.h>

#include <twkit/live.h>

struct tw__live_rows {
    struct tw_live_row *v;
    size_t n, cap;
};

/*
 * How a table tells server-side connections from client-side ones (the rule
 * of twkit stat's report): a local port that listens, or one outside the
 * ephemeral range [lo, hi] below an unprivileged remote port.  The table's
 * listening ports are sticky (every port that listened while it lived), so
 * a reconciliation walk classifies with the table's bits, not its own.
 */
struct tw__live_side {
    uint64_t bits[65536 / 64]; /* listening local ports */
    uint16_t lo, hi;           /* ip_local_port_range */
};

int tw__live_rows_push(struct tw__live_rows *r, const struct tw_live_row *row);
void tw__live_rows_finish(struct tw__live_rows *r);
/* ip_local_port_range of the current namespace */
int tw__live_port_range(uint16_t *lo, uint16_t *hi);
/* side->bits |= the ports listening now in the current namespace (a walk) */
int tw__live_listeners(struct tw__live_side *side);
/* The rows of a sock_diag walk of the current namespace, classified with
 * side (its bits are or'ed with the listeners the walk sees); side NULL:
 * the current listeners and range. */
int tw__live_walk(struct tw__live_rows *r, const struct tw__live_side *side, char *err,
                  size_t errlen);
/*
 * A reconciliation's comparison: a, the table's rows before the walk; t,
 * the walk's; b, the table's after it; ea, eb (NULL: not known): each
 * destination's events so far (rows of state 0, n = events) read with a
 * and with b.  A row is drift (pushed to out, n = the table's count, truth =
 * the walk's) when a and b agree, the walk differs from them, and the
 * destination's events between the reads (eb - ea) are fewer than the
 * difference: each event moves one socket, and a socket the walk saw or
 * missed because of events accounts for at most one of the difference.
 * Rows that moved or that the events explain are counted in *unsettled when
 * the walk is not already between a and b.  Returns the sum of |table -
 * walk| over out.
 */
int64_t tw__live_compare(const struct tw__live_rows *a, const struct tw__live_rows *t,
                         const struct tw__live_rows *b, const struct tw__live_rows *ea,
                         const struct tw__live_rows *eb, struct tw__live_rows *out,
                         uint64_t *unsettled);

/*
 * The census (live_census.c): the table's totals against the kernel's own
 * counts for the namespace.  inuse: full sockets (the table: every counted
 * state); tw: timewait minisocks; estab: ESTABLISHED + CLOSE_WAIT.
 */
struct tw__census {
    int sockstat, sockstat6, snmp; /* procfs files of the table's namespace */
};
struct tw__census_k {
    int64_t inuse, tw, estab;
    /* the table's side only: of its inuse, how many are not hashed yet
     * (connect()s in their port search, which under port pressure takes
     * milliseconds: LIVE_PENDING) */
    int64_t inuse_unhashed;
};
/* open the files in the current namespace: 0 or -errno */
int tw__census_open(struct tw__census *c);
void tw__census_close(struct tw__census *c);
int tw__census_read(struct tw__census *c, struct tw__census_k *k);
/* 0: the table's totals (from `totals`) agree with the kernel's; 1: they
 * disagreed in every try, `what` says how; -errno: no check could be made */
int tw__census_check(struct tw__census *c, int (*totals)(void *arg, struct tw__census_k *t),
                     void *arg, char *what, size_t len);

#endif
