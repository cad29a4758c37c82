/*
 * twkit/live.h — the live table: counts of sockets per destination and
 * state, kept current in the kernel by events (eBPF), so that a periodic
 * reader pays for the number of destinations, not of sockets.
 *
 * A table follows the network namespace it is opened in.  It is seeded by
 * one walk of the socket table, then kept by TIME_WAIT timer events and
 * full-socket state changes.  Counted: every TCP socket of the namespace
 * except request sockets and SYN_RECV children, keyed by (local address,
 * remote address, remote port, state) — listeners with remote ::/0 port 0,
 * timewait minisocks under their substate (TIME_WAIT or FIN_WAIT2), and a
 * server's connections (the side rule of twkit stat: see tw_live_row)
 * without ports, one row per client address, so that a busy server does
 * not make the table as big as the socket table.  The listening ports
 * that tell the sides apart are those that listened while the table
 * lived; a change of ip_local_port_range seeds a new table.  A connect()
 * shows from the moment it is hashed, as sock_diag shows it (its
 * retransmit timer's start), not during its port search.
 *
 * Never a wrong number: an event the kernel could not record (a full map,
 * recursion) is counted as lost and the table is seeded again before the
 * next read; tw_live_reconcile() compares the table with a sock_diag walk
 * and seeds again when they differ.  When a table cannot be had at all,
 * tw_live_open() fails and tw_live_why() says why; the caller then walks.
 *
 * A timewait minisock in FIN_WAIT2 that receives the peer's FIN becomes
 * TIME_WAIT and re-arms its timer, but when the new expiry falls in the
 * same timer-wheel bucket (the usual case: the bucket at 60 s spans
 * seconds) the kernel moves no timer and no timer event fires.  The table
 * sees the change on the FIN itself, freed with the minisock as its
 * receiver (the kfree_skb tracepoint's rx_sk, Linux 6.11 and later).  On an
 * older kernel (stats.tw_fin_seen false) such a minisock stays counted as
 * FIN_WAIT2 until a reconciliation; the sum of the two states per
 * destination, the ports they hold, stays exact.
 *
 * Events the kernel does not deliver.  Measured on Linux 6.18 (this machine
 * kind): now and then the kernel runs a whole softirq without running any
 * BPF tracing program in it (no state change, timer or packet of that
 * softirq reaches them, and no recursion miss is recorded) while tracefs
 * shows its events; in one load (clients on loopback that close at once,
 * servers that close 2 s later) about one run of 750 connections in two
 * loses the FIN_WAIT1 -> FIN_WAIT2 -> CLOSE of one connection.  Nothing on
 * record says so, so every read checks the table's totals against the
 * kernel's own counts for the namespace (lib/live_census.c: hashed full
 * sockets, timewait minisocks, CurrEstab); when they disagree in every try
 * the read counts a census miss (stats.census_misses) and seeds a new
 * table (when three new tables in a row disagree at their first read, the
 * counts do not mean what the census takes them to mean: it turns itself
 * off, stats.census_off).  A lost change that the same socket's next event overwrites (it
 * moves the entry from the state recorded in it) heals by itself; one that
 * changes no total (a socket that stays in FIN_WAIT1 on the table while the
 * kernel has it in FIN_WAIT2) shows as drift at a reconciliation, which
 * then seeds again.
 */
#ifndef TWKIT_LIVE_H
#define TWKIT_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <twkit/common.h>
#include <twkit/sock.h>

struct tw_live;

struct tw_live_opts {
    uint32_t max_tw;     /* timewait minisocks tracked; 0 = 2M */
    uint32_t max_socks;  /* unused: a full socket's entry lives in the socket */
    uint32_t max_dests;  /* destinations (each with its states); 0 = 65536 */
};

/*
 * One (destination, state) and its count.  A client-side row is (local
 * address, remote address, remote port); a server-side row (server = 1: the
 * local port listens, or is outside ip_local_port_range and below the
 * remote port, as twkit stat tells them apart) folds the connections of
 * one client address to one local address, whatever their ports: rport 0.
 */
struct tw_live_row {
    struct tw_addr laddr, raddr;
    uint16_t rport;
    uint8_t state;
    uint8_t server;     /* 1: a server-side row (rport 0) */
    int64_t n;          /* the table's count */
    int64_t truth;      /* reconciliation only: the walk's count */
};

struct tw_live_stats {
    uint64_t seeds;           /* tables seeded (1 + re-seeds) */
    uint64_t lost_events;     /* events the kernel side could not record, all tables */
    uint64_t census_misses;   /* reads where the totals disagreed with the kernel's (see above) */
    bool census_off;          /* three new tables in a row disagreed at once: no more checks */
    uint64_t reconciliations;
    uint64_t drift_rows;      /* rows that differed at the last reconciliation */
    int64_t drift_abs;        /* sum of |table - walk| at the last reconciliation */
    uint64_t drift_total;     /* rows that differed, all reconciliations */
    uint64_t unsettled;       /* rows that changed during the last reconciliation's walk,
                               * or whose difference its events explain */
    uint64_t tw_born, tw_died, seeded; /* the current table's event counts */
    uint64_t tw_fin;          /* FIN_WAIT2 minisocks seen becoming TIME_WAIT by their FIN */
    bool tw_fin_seen;         /* false: this kernel cannot show that change (see above) */
    double seed_seconds;      /* the last seed's walk */
    double reconcile_seconds; /* the last reconciliation's walk */
    char reseed_reason[512];  /* why the last re-seed happened ("" none) */
};

/* Are a and b rows of the same destination (addresses, port, side)?  The
 * rows tw_live_read() gives keep each destination's states together. */
TW_EXTERN bool tw_live_row_same_dest(const struct tw_live_row *a, const struct tw_live_row *b);

/* Open (load, attach, seed) in the current network namespace: 0, or a
 * negative errno with the reason for tw_live_why(). */
TW_EXTERN int tw_live_open(const struct tw_live_opts *o, struct tw_live **out);
/* Why the last tw_live_open() in this thread failed (or why it would). */
TW_EXTERN int tw_live_why(char *why, size_t len);
/*
 * The counts now, sorted by destination then state, zero rows left out.
 * Seeds the table again first if events were lost.  *rows is malloc'd.
 */
TW_EXTERN int tw_live_read(struct tw_live *l, struct tw_live_row **rows, size_t *n);
/*
 * Compare the table with a sock_diag walk of the same namespace (the
 * caller must be in it).  *rows: the rows that differ (n = table, truth =
 * the walk), empty when the table is right.  A row whose count changed
 * during the walk is not drift (counted in stats.unsettled), nor is one
 * whose difference the events on its destination during the walk explain
 * (the table counts them: each moves one socket, so a connection born and
 * gone within the walk shows in the walk only), nor are rows
 * that differ while the table knows it is wrong (events lost on record, or
 * its totals off from the kernel's own counts when the walks are over):
 * those seed a new table for the lost events.  Drift seeds the table
 * again.
 */
TW_EXTERN int tw_live_reconcile(struct tw_live *l, struct tw_live_row **rows, size_t *n);
/* The per-(destination, state) counts of a sock_diag walk, as tw_live_read
 * gives them (what a caller without a table reads instead). */
TW_EXTERN int tw_live_walk(struct tw_live_row **rows, size_t *n);
TW_EXTERN void tw_live_stats(const struct tw_live *l, struct tw_live_stats *st);
TW_EXTERN void tw_live_close(struct tw_live *l);

#endif /* TWKIT_LIVE_H */
