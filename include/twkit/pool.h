/*
 * twkit/pool.h — tw_pool, a protocol-agnostic TCP connection pool.
 *
 * Reusing a connection instead of opening a new one per request is the most
 * effective cure for client-side TIME_WAIT pressure: a pool of N connections
 * leaves at most N TIME_WAIT sockets behind, however many requests it carries.
 * tw_pool gives C programs what Go's http.Transport, libcurl's connection
 * cache, nginx's upstream keepalive and HikariCP give theirs, for any
 * request/response protocol over TCP:
 *
 *   - a per-destination cap and a total cap on open connections; callers over
 *     a cap wait in FIFO order until a deadline, then get TW_EWAITTIMEOUT
 *     (which is not a connect timeout: that is -ETIMEDOUT);
 *   - an idle cap per destination, an idle timeout, a maximum lifetime with
 *     jitter, a maximum number of uses per connection, LIFO or FIFO reuse;
 *   - a liveness check (non-blocking recv(MSG_PEEK)) before an idle
 *     connection is handed out: one the peer closed, reset or wrote to while
 *     idle is closed instead, so it is never handed out;
 *   - non-blocking connect with a timeout, source-address binding through
 *     IP_BIND_ADDRESS_NO_PORT, optional per-socket IP_LOCAL_PORT_RANGE;
 *   - statistics per destination (TW_POOL_STATS_MAP).
 *
 * Usage:
 *
 *     struct tw_pool_opts o;
 *     struct tw_pool *pool;
 *     struct tw_pool_dest *dest;
 *     struct tw_pool_conn c;
 *
 *     tw_pool_opts_init(&o);
 *     o.max_per_dest = 8;
 *     if (tw_pool_new(&o, &pool) < 0) ...
 *     if (tw_pool_dest(pool, (struct sockaddr *)&sin, sizeof(sin), NULL, 0,
 *                      &dest) < 0) ...
 *     for (each request) {
 *         int err = tw_pool_get(pool, dest, TW_POOL_WAIT_DEFAULT, &c);
 *         if (err < 0) ...                     // tw_strerror(err)
 *         ok = send_request_and_read_reply(c.fd);
 *         tw_pool_put(pool, &c, ok ? TW_POOL_REUSE : TW_POOL_DISCARD);
 *     }
 *     tw_pool_free(pool);
 *
 * Threads.  Every function may be called from any thread at any time, except
 * tw_pool_free(), which must be the last call on the pool (after every other
 * thread is done with it).  A lease (struct tw_pool_conn) belongs to the
 * thread that holds it; it may be handed to another thread, but one lease
 * must not be used by two threads at once.  The pool has one mutex, held
 * only for list and counter updates: connect, the liveness check and close
 * run outside it.
 *
 * Hidden threads: none.  Expired idle connections are closed lazily, when
 * tw_pool_get()/tw_pool_put() touch their destination, and by
 * tw_pool_reap(), which a program that leaves a destination unused for long
 * may call from a timer.
 *
 * Signals: a wait in tw_pool_get() is not interrupted by signals (it keeps
 * waiting until its deadline); connect's poll() is restarted after EINTR
 * with the remaining time.
 *
 * Errors: 0 or a negative code (twkit/error.h); tw_strerror() names it.
 * The library never prints.
 */
#ifndef TWKIT_POOL_H
#define TWKIT_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <twkit/common.h>
#include <twkit/error.h>

TW_BEGIN_DECLS

struct tw_pool;      /* opaque: the pool */
struct tw_pool_dest; /* opaque: one destination of a pool, owned by the pool */

/* ---- options ------------------------------------------------------------ */

/* Which idle connection tw_pool_get() hands out first. */
enum tw_pool_order {
    TW_POOL_LIFO = 0, /* most recently returned: the rest age out (default) */
    TW_POOL_FIFO = 1, /* least recently returned: spreads use over all */
};

/* Flags for tw_pool_opts.flags. */
#define TW_POOL_NODELAY   0x1u /* set TCP_NODELAY on each new socket */
#define TW_POOL_KEEPALIVE 0x2u /* set SO_KEEPALIVE on each new socket */
#define TW_POOL_NONBLOCK  0x4u /* hand out sockets in O_NONBLOCK mode
                                  (default: blocking, as after connect(2)) */
#define TW_POOL_FLAGS_ALL (TW_POOL_NODELAY | TW_POOL_KEEPALIVE | TW_POOL_NONBLOCK)

/*
 * Pool options.  Always fill with tw_pool_opts_init() first, then change
 * fields: later versions may append fields, which get their defaults there.
 * A limit of 0 means "no limit" unless the field says otherwise.
 * tw_pool_new() copies the struct; it is not referenced afterwards.
 */
struct tw_pool_opts {
    unsigned max_per_dest;       /* open connections per destination, leased
                                    + idle + connecting (default 0: none) */
    unsigned max_total;          /* open connections in the whole pool
                                    (default 0: none) */
    unsigned max_idle_per_dest;  /* idle connections kept per destination;
                                    more are closed on put (default 8; 0 =
                                    keep none, i.e. no reuse; values above
                                    max_per_dest act as max_per_dest) */
    uint32_t idle_timeout_ms;    /* close connections idle this long
                                    (default 60000; 0: never) */
    uint32_t max_lifetime_ms;    /* close connections this old, at their
                                    next get or put or reap (default 0) */
    uint32_t lifetime_jitter_ms; /* each connection's lifetime is
                                    max_lifetime_ms minus a random 0..jitter,
                                    so that a batch does not expire at once
                                    (default 0; must be <= max_lifetime_ms) */
    uint32_t max_uses;           /* leases per connection, then it is closed
                                    on put (default 0: unlimited) */
    uint32_t connect_timeout_ms; /* non-blocking connect deadline
                                    (default 3000; 0: the kernel's own,
                                    i.e. SYN retries, about 2 minutes) */
    uint32_t wait_timeout_ms;    /* how long tw_pool_get() waits for a
                                    connection when a cap is reached
                                    (default 5000; 0: fail at once) */
    enum tw_pool_order order;    /* LIFO (default) or FIFO reuse */
    unsigned flags;              /* TW_POOL_* flags (default 0) */
    uint16_t port_range_lo;      /* IP_LOCAL_PORT_RANGE on each socket
                                    (Linux 6.3+): ephemeral ports are drawn
                                    from lo..hi within the netns range.  */
    uint16_t port_range_hi;      /* Both 0 (default): not set.  Both must be
                                    non-zero with lo <= hi otherwise. */
};

/* Fill *opts with the defaults above.  opts must not be NULL. */
TW_EXTERN void tw_pool_opts_init(struct tw_pool_opts *opts);

/* ---- statistics --------------------------------------------------------- */

/*
 * X(name, kind, help): every statistic, in a fixed order.  kind is
 * TW_POOL_COUNTER (only grows) or TW_POOL_GAUGE (current value).  Renderers
 * (the lab, the exporter) iterate this table instead of naming fields.
 *
 * They add up, per destination and for the pool:
 *   leases   == connects + reuses
 *   connects == idle + leased + sum of every close_* counter
 *   open     == idle + leased + connecting
 * (a connect in progress is counted in connects only once it succeeded).
 */
#define TW_POOL_COUNTER 0
#define TW_POOL_GAUGE   1
#define TW_POOL_STATS_MAP(X)                                                   \
    X(leases, TW_POOL_COUNTER, "successful tw_pool_get calls")                 \
    X(connects, TW_POOL_COUNTER, "connections opened")                         \
    X(reuses, TW_POOL_COUNTER, "leases served by an existing connection")      \
    X(connect_errors, TW_POOL_COUNTER, "connect attempts that failed")         \
    X(connect_timeouts, TW_POOL_COUNTER, "connect attempts that timed out")    \
    X(waits, TW_POOL_COUNTER, "get calls that found a cap reached")            \
    X(wait_timeouts, TW_POOL_COUNTER, "get calls that gave up waiting")        \
    X(close_idle_timeout, TW_POOL_COUNTER, "closed: idle too long")            \
    X(close_lifetime, TW_POOL_COUNTER, "closed: maximum lifetime reached")     \
    X(close_max_uses, TW_POOL_COUNTER, "closed: maximum uses reached")         \
    X(close_dead, TW_POOL_COUNTER, "closed: failed the liveness check")        \
    X(close_error, TW_POOL_COUNTER, "closed: discarded by the caller")         \
    X(close_over_cap, TW_POOL_COUNTER, "closed: over the idle or total cap")   \
    X(close_shutdown, TW_POOL_COUNTER, "closed: pool closed or freed")         \
    X(open, TW_POOL_GAUGE, "connections open (idle+leased+connecting)")        \
    X(idle, TW_POOL_GAUGE, "idle connections")                                 \
    X(leased, TW_POOL_GAUGE, "connections leased to callers")                  \
    X(connecting, TW_POOL_GAUGE, "connects in progress")                       \
    X(waiting, TW_POOL_GAUGE, "callers waiting on a cap")

/* One snapshot of statistics: one uint64_t per TW_POOL_STATS_MAP entry. */
struct tw_pool_stats {
#define TW__POOL_STAT_FIELD(name, kind, help) uint64_t name;
    TW_POOL_STATS_MAP(TW__POOL_STAT_FIELD)
#undef TW__POOL_STAT_FIELD
};

/* ---- the pool ------------------------------------------------------------ */

/*
 * Create a pool.  opts NULL means the defaults.  On success *out owns a new
 * pool (free it with tw_pool_free()) and 0 is returned.
 *   TW_EBADOPT     an option is out of range: unknown flag or order,
 *                  lifetime_jitter_ms > max_lifetime_ms, a port range with
 *                  one end 0 or lo > hi
 *   -ENOPROTOOPT   port_range_* set but the kernel lacks IP_LOCAL_PORT_RANGE
 *   -EINVAL        out is NULL
 *   -ENOMEM, or another -errno from socket(2) or getrandom(2)
 */
TW_EXTERN int tw_pool_new(const struct tw_pool_opts *opts, struct tw_pool **out);

/*
 * Shut the pool down: close every idle connection, wake every waiting
 * tw_pool_get() (which returns TW_ECLOSED), make later gets fail with
 * TW_ECLOSED.  Leases still out stay valid; tw_pool_put() then closes their
 * connection and returns 0.  Statistics stay readable.
 * Returns 0, or TW_ECLOSED when the pool was already closed, -EINVAL for NULL.
 */
TW_EXTERN int tw_pool_close(struct tw_pool *pool);

/*
 * Close every connection (idle, and leased ones too: their leases become
 * invalid) and free the pool, its destinations and their statistics.
 * Must be the last call on the pool: no other thread may be inside a
 * tw_pool_* call on it.  NULL is a no-op.
 */
TW_EXTERN void tw_pool_free(struct tw_pool *pool);

/*
 * Find or add a destination: the pair (dst, src).  dst is an AF_INET or
 * AF_INET6 address with a non-zero port.  src, when not NULL, is the local
 * address to bind before connecting, of the same family and with port 0;
 * it is bound with IP_BIND_ADDRESS_NO_PORT so that the port is chosen at
 * connect() per 4-tuple (kernel-facts §5), not from the host-wide pool.
 * The same pair always gives the same handle; the handle belongs to the pool
 * and is valid until tw_pool_free().  Lookup is linear in the number of
 * destinations: look a destination up once and keep the handle.
 * Returns 0 and sets *out, or
 *   -EINVAL          NULL pool, dst or out; dstlen or srclen too short
 *   -EAFNOSUPPORT    not AF_INET/AF_INET6, or src's family differs
 *   TW_EBADOPT       dst port 0, or src port not 0
 *   TW_ECLOSED       the pool is closed
 *   -ENOMEM
 */
TW_EXTERN int tw_pool_dest(struct tw_pool *pool, const struct sockaddr *dst,
                           socklen_t dstlen, const struct sockaddr *src,
                           socklen_t srclen, struct tw_pool_dest **out);

/*
 * Format a destination as "dst:port" or "src->dst:port" (IPv6 addresses in
 * brackets) into buf, NUL-terminated, like snprintf.  Returns the length
 * the full text needs (excluding the NUL), or -EINVAL.
 */
TW_EXTERN int tw_pool_dest_format(const struct tw_pool_dest *dest, char *buf,
                                  size_t len);

/*
 * List the destinations: write up to n handles into out (in the order they
 * were added) and return how many the pool has (which may be more than n).
 * out may be NULL when n is 0.  Returns -EINVAL for a NULL pool.
 */
TW_EXTERN int tw_pool_dests(struct tw_pool *pool, struct tw_pool_dest **out,
                            size_t n);

/* ---- leases -------------------------------------------------------------- */

/*
 * A lease: one connection handed out by tw_pool_get().  The caller provides
 * the struct (often on its stack); the pool fills it.  The socket fd stays
 * owned by the pool: use it for I/O, never close(2) it, and give the lease
 * back with tw_pool_put() exactly once.  Do not change its O_NONBLOCK mode
 * or other socket options unless you discard the connection.
 * Fields starting with an underscore are private.
 */
struct tw_pool_conn {
    int fd;                     /* the connected socket (-1 after put) */
    uint32_t uses;              /* this is the connection's uses-th lease:
                                   1 = new connection, > 1 = reused */
    uint64_t idle_ns;           /* how long it sat idle before this lease
                                   (0 for a new connection; resolution of
                                   CLOCK_MONOTONIC_COARSE, a few ms) */
    struct tw_pool_dest *dest;  /* its destination */
    uint64_t _tag;              /* private: identifies the pool */
    uint32_t _slot;             /* private: connection slot */
    uint32_t _gen;              /* private: slot generation, 0 after put */
};

/* tw_pool_get() wait argument: use the pool's wait_timeout_ms. */
#define TW_POOL_WAIT_DEFAULT (-1)

/*
 * Lease a connection to dest: a live idle one if there is one (LIFO or
 * FIFO), else a new one.  Expired idle connections of dest met on the way
 * are closed.  If the per-destination or total cap is reached, an idle
 * connection of another destination is closed to make room under the total
 * cap; if there is none, the caller waits, in FIFO order with the other
 * waiters it competes with, for a connection to come back or a slot to free
 * up, at most wait_ms milliseconds (TW_POOL_WAIT_DEFAULT: the pool's
 * wait_timeout_ms; 0: do not wait).  The connect that follows a wait has its
 * own connect_timeout_ms.
 * Returns 0 and fills *conn, or
 *   TW_EWAITTIMEOUT  a cap was reached and no connection became free in time
 *   TW_ECLOSED       the pool is closed (or was closed while waiting)
 *   TW_EFOREIGN      dest belongs to another pool
 *   -ETIMEDOUT       connect did not complete within connect_timeout_ms
 *   -ECONNREFUSED, -ENETUNREACH, -EHOSTUNREACH, -EADDRNOTAVAIL (out of
 *                    ephemeral ports), -EMFILE, ... : socket(2), bind(2),
 *                    setsockopt(2) or connect(2) failed
 *   -EINVAL          NULL pool, dest or conn, or wait_ms < -1
 *   -ENOMEM
 * On failure *conn is set to fd -1 and is not a lease.
 */
TW_EXTERN int tw_pool_get(struct tw_pool *pool, struct tw_pool_dest *dest,
                          int wait_ms, struct tw_pool_conn *conn);

/* tw_pool_put() how: */
#define TW_POOL_DISCARD 0 /* the connection is not reusable: close it */
#define TW_POOL_REUSE   1 /* the request completed cleanly and nothing is
                             left unread: keep the connection for reuse */

/*
 * Give a lease back.  With TW_POOL_REUSE the connection goes to a caller
 * waiting for its destination or becomes idle, unless it has reached
 * max_uses or its lifetime, or the idle cap is full, or a caller of another
 * destination waits for room under the total cap: then it is closed.  With
 * TW_POOL_DISCARD it is closed (counted as close_error).  On success the
 * lease is cleared (fd -1) and must not be used again.
 * Returns 0, or
 *   TW_EDOUBLE   the lease was already given back (the same struct, or a
 *                copy of it); nothing is done
 *   TW_EFOREIGN  the lease does not come from this pool (or was never
 *                filled); nothing is done
 *   -EINVAL      NULL pool or conn, or how is not DISCARD/REUSE
 * After tw_pool_close() the connection is closed and 0 is returned.
 */
TW_EXTERN int tw_pool_put(struct tw_pool *pool, struct tw_pool_conn *conn,
                          int how);

/* Same as tw_pool_put(pool, conn, TW_POOL_DISCARD). */
TW_EXTERN int tw_pool_discard(struct tw_pool *pool, struct tw_pool_conn *conn);

/*
 * Close every idle connection, in every destination, that is past its idle
 * timeout or lifetime.  Returns how many were closed (>= 0), or -EINVAL.
 * Cost: O(idle connections).
 */
TW_EXTERN int tw_pool_reap(struct tw_pool *pool);

/* ---- statistics ---------------------------------------------------------- */

/* Snapshot one destination's statistics into *st.  Returns 0 or -EINVAL. */
TW_EXTERN int tw_pool_dest_stats(const struct tw_pool_dest *dest,
                                 struct tw_pool_stats *st);

/* Snapshot the sum over all destinations into *st.  Returns 0 or -EINVAL. */
TW_EXTERN int tw_pool_stats(struct tw_pool *pool, struct tw_pool_stats *st);

TW_END_DECLS

#endif /* TWKIT_POOL_H */
