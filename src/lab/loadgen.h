/*
 * loadgen.h — what the files of `twkit lab load` share: its options, the
 * per-thread state and counters, and the engine's life cycle.  What both
 * engines share and the life cycle are loadgen.c, the epoll engine
 * loadgen_epoll.c, the tw_pool workers loadgen_pool.c, the command
 * (options, messages, output) cmd_load.c.  Internal to src/lab.
 */
#ifndef TWKIT_LAB_LOADGEN_H
#define TWKIT_LAB_LOADGEN_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lab/msg.h"
#include "twx/errclass.h"
#include "twx/hist.h"
#include "twx/http.h"

#define LG_MAX_DST 16
#define LG_MAX_SRC 64
#define LG_BUF 8192

enum lg_close { LG_CLOSE_CLIENT, LG_CLOSE_SERVER, LG_CLOSE_RST };
enum lg_bind { LG_BIND_NOPORT, LG_BIND_PORT };

/* What the engine runs (filled by cmd_load.c before lg_start). */
struct lg_opts {
    struct sockaddr_in dst[LG_MAX_DST];
    int ndst;
    struct in_addr src[LG_MAX_SRC];
    int nsrc;
    enum lg_bind bind;
    int threads, conc;
    double rate;          /* requests/s; 0 = closed loop */
    uint64_t count;       /* request budget; 0 = unlimited (time bound) */
    double duration;      /* seconds */
    unsigned rpc;         /* requests per connection; 0 = unlimited */
    enum lg_close close;
    bool stop_eana;       /* stop at the first EADDRNOTAVAIL or EADDRINUSE */
    bool pool;            /* reuse through tw_pool */
    double timeout;       /* per connect / request, seconds */
    char host[64];
    char path[256];
};

extern struct lg_opts lg;

/* The body framing of one response being read. */
struct lg_body {
    enum twx_http_body kind;
    int64_t left;
    struct twx_http_chunked ch;
};

struct lg_slot;

/* One engine thread (or one pool worker): its slots and counters. */
struct lg_thread {
    pthread_t th;
    int id, ep;
    int nslots;
    struct lg_slot *slots;
    int *free_stack, nfree;
    int *idle_stack, nidle;
    int nbackoff;
    double rate;          /* this thread's share */
    uint64_t generated;   /* arrivals generated (open loop) */
    uint64_t pending;     /* arrivals waiting for a connection */
    bool budget_done;
    struct twx_hist hconn, hreq;
    _Atomic uint64_t attempted, connected, requests, err[TWX_EC_MAX];
    _Atomic bool finished; /* the thread has returned */
};

extern struct lg_thread *lg_th;
extern int lg_nth;
extern uint64_t lg_t0;    /* twx_now_ns() when the load began */
extern char lg_req[512], lg_req_close[512];
extern size_t lg_req_len, lg_req_close_len;
extern uint64_t lg_end;   /* lg_t0 + --duration */
extern _Atomic int lg_halt; /* stop generating (exhaustion, signal: lg_stop) */

/* ---- shared by the engine and the pool workers ----------------------------- */

static inline void lg_inc(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Take one request from the budget: false when it is spent, time is up or
 * the load was stopped (then the stop time is noted, see lg_load_s). */
bool lg_take(struct lg_thread *t, uint64_t now);
/* Count a failure of class cls (and note the first EADDRNOTAVAIL/INUSE). */
void lg_record_err(struct lg_thread *t, int cls, uint64_t now);
/* Note a non-2xx response (the first one is kept for the result). */
void lg_note_http_error(const struct twx_http_msg *m, const char *head);
/* Start reading the body of the response whose head m is. */
void lg_body_start(struct lg_body *b, const struct twx_http_msg *m);
/* Feed body bytes: 1 complete, 0 more, -1 malformed. */
int lg_body_feed(struct lg_body *b, const char *buf, size_t n);

void *lg_epoll_worker(void *arg);    /* loadgen_epoll.c */
/* Give an epoll thread its nslots slots and its epoll fd: 0, or -1 out of memory. */
int lg_epoll_setup(struct lg_thread *t, int nslots);

void *lg_pool_worker(void *arg);     /* loadgen_pool.c */
/* Set up the pool workers (loadgen_pool.c): 0 or -1 with err. */
int lg_pool_setup(char *err, size_t errlen);
void lg_pool_free(void);

/* ---- life cycle (cmd_load.c) --------------------------------------------------- */

/* Start the threads; 0 or -1 with a reason. */
int lg_start(char *err, size_t errlen);
/* Every thread has returned. */
bool lg_finished(void);
/* Stop offering load (a signal, a fatal message). */
void lg_stop(void);
/* Wait for the threads and free them; fills r (r->http_reason is malloc'd). */
void lg_finish(struct lab_load_result *r);
/* Counters so far. */
void lg_counts(struct lab_counts *c);

#endif /* TWKIT_LAB_LOADGEN_H */
