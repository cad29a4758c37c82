/*
 * explain.h — what the files of `twkit explain` share.
 *
 * A *run* is one variant of one scenario: two fresh hosts (client and
 * server: private network namespaces from twx/topo, each with a tun device),
 * twkit relaying every IP packet between the two tun descriptors (the
 * *wire*, wire.c), the applications' sockets held by twkit itself (app.c),
 * and the kernel's view of the one 4-tuple read with sock_diag after every
 * step (diag.c).  Everything that happens is recorded as *events* on one
 * timeline; the renderers (ladder.c, svg.c, pcapng.c, json.c) only read the
 * finished run.
 *
 * Every run uses the same 4-tuple: client 198.18.0.1:40000 (2001:2::1 with
 * -6) to server 198.18.0.2:80 (2001:2::2), so that a new connection
 * reopens the tuple of the old one, as the scenarios need.
 */
#ifndef TWKIT_EXPLAIN_H
#define TWKIT_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <twkit/kernel.h>

#include "twx/topo.h"

enum { XH_CLIENT, XH_SERVER, XH_N };

#define X_CLIENT_PORT 40000
#define X_SERVER_PORT 80

/* Lane states: the kernel's TCP states (linux/tcp_states.h numbers, as
 * sock_diag reports them), plus two of twkit's for "no socket". */
enum {
    XS_NONE = 0,       /* no socket on the tuple and no listener: CLOSED */
    XS_LISTEN_ONLY = 100, /* no socket on the tuple, the listener is up */
};
const char *x_state_name(int st); /* "TIME_WAIT", "CLOSED", "LISTEN" */

/* TCP flags */
enum { XF_FIN = 0x01, XF_SYN = 0x02, XF_RST = 0x04, XF_PSH = 0x08, XF_ACK = 0x10 };
/* "SYN,ACK" */
const char *x_flags_str(uint8_t flags, char *buf, size_t len);

/* What the wire did with a segment: passed it, dropped it, held it (to
 * deliver it later), delivered it twice at once, or delivered it and then
 * a copy again later (x_replay). */
enum x_fate { XW_PASS, XW_DROP, XW_HOLD, XW_DUP, XW_REPLAY };

struct xseg {
    int id;
    int from;                /* XH_CLIENT or XH_SERVER */
    int conn;                /* incarnation of the tuple it belongs to (0, 1, ..) */
    uint8_t flags;
    uint32_t seq, ack;       /* as sent */
    uint32_t rseq, rack;     /* relative to the ISNs of its connection */
    uint16_t len, win;
    bool has_ts;
    uint32_t tsval, tsecr;
    uint16_t mss;            /* 0: no MSS option */
    bool retrans;            /* same seq and flags as an earlier segment of the sender */
    uint8_t *pkt;            /* the IP packet as sent */
    size_t pktlen;
    uint64_t sent_ns;
    enum x_fate fate;
    int n_deliv;             /* 0 (dropped or still held), 1, or 2 (duplicated) */
    uint64_t deliv_ns[2];
    int64_t moved;           /* the wire added this to seq before delivering (0: none) */
    int64_t moved_ack;       /* ... and this to ack */
    uint8_t *dpkt;           /* the packet as delivered, when the wire changed it */
    size_t dpktlen;
};

enum x_ev_kind {
    XE_SEND,     /* a host's kernel sent a segment (seg) */
    XE_DELIVER,  /* the wire delivered it to the other host (seg) */
    XE_APP,      /* an application call on host (text, result) */
    XE_STATE,    /* the host's socket on the tuple changed state */
    XE_NOTE,     /* something twkit did or measured (text) */
};

struct xev {
    enum x_ev_kind kind;
    uint64_t t_ns;           /* since the start of the run */
    int host;                /* -1: the wire / twkit */
    int seg;                 /* XE_SEND, XE_DELIVER: the segment */
    int from, to;            /* XE_STATE: lane states */
    int64_t expires_ms;      /* TIME_WAIT's idiag_expires after the event, ms; -1 */
    int64_t expires_before;  /* XE_DELIVER to a TIME_WAIT socket: before it; -1 */
    int cause;               /* XE_STATE: the event it followed (-1: a timer) */
    char text[96];           /* XE_APP: "close()"; XE_NOTE */
    char result[64];         /* XE_APP: "0", "EADDRNOTAVAIL", "6 bytes \"hello\\n\"" */
    char narr[320];          /* the step's one sentence (empty: not a step of its own) */
    int step;                /* step number in the diagram (0: part of another row) */
    bool timer;              /* XE_SEND: sent by a kernel timer, not at once in
                              * answer to something twkit did */
};

struct xconn {
    uint32_t isn[XH_N];
    bool have_isn[XH_N];
    uint32_t nxt[XH_N];      /* the next sequence number each side will send */
    uint32_t acked[XH_N];    /* the highest ACK each side got from the other */
    bool have_acked[XH_N];
};

/* A wire rule: the nth segment (1-based, counting matches) from host `from`
 * whose flags & mask == value (and with data, if data; sent in TCP state
 * `state`, if not 0) gets `fate`. */
struct xrule {
    int from;
    uint8_t mask, value;
    bool data;
    int state;
    int nth;
    enum x_fate fate;
    int seen;
    int seg;                 /* the segment it caught (-1 none yet) */
    bool done;
};

struct xexpect {
    bool ok;
    char what[160];          /* "the client enters TIME_WAIT" */
    char got[96];            /* what the kernel did */
};

struct xcount {              /* a counter delta of one host */
    int host;
    enum tw_counter_id id;
    int64_t delta;
};

#define X_MAX_EV 512
#define X_MAX_SEG 192
#define X_MAX_RULE 8
#define X_MAX_EXP 24
#define X_MAX_CONN 4
#define X_MAX_COUNT 32

struct xscen;
struct xvariant;

struct xrun {
    const struct xscen *sc;
    const struct xvariant *v;
    int family;              /* AF_INET or AF_INET6 */
    bool wait;               /* --wait: wait out TIME_WAIT where the script says */
    int sigfd;               /* signals that stop the run (a signalfd), or -1 */
    int interrupted;         /* the signal that stopped it */
    char addr[XH_N][48];
    uint16_t port[XH_N];
    char err[256];           /* a runtime error (the run could not go on) */
    bool failed;

    /* live resources (closed by x_run_end) */
    struct twx_topo topo;
    int tun[XH_N], diag[XH_N];
    int listener;            /* server's listening socket */
    int fd[XH_N];            /* the application's socket on the tuple */
    uint64_t t0;

    /* the record */
    struct xev ev[X_MAX_EV];
    int n_ev;
    struct xseg seg[X_MAX_SEG];
    int n_seg;
    struct xconn conn[X_MAX_CONN];
    int n_conn;
    struct xrule rule[X_MAX_RULE];
    int n_rule;
    int held[X_MAX_SEG];     /* segments the wire holds, in order */
    int n_held;
    struct xexpect exp[X_MAX_EXP];
    int n_exp;
    struct xcount count[X_MAX_COUNT];
    int n_count;
    struct tw_counters c0[XH_N];
    bool counted;            /* x_counters_end ran */
    int lane[XH_N];          /* current lane states */
    int64_t lane_expires[XH_N];
    bool server_had_socket;  /* the server's lane had a socket on the tuple */
    uint64_t tw_entry_ns[XH_N];   /* when the host's socket entered TIME_WAIT (0: not) */
    char pending_narr[XH_N][320]; /* narration for the next segment the host sends */
    int n_steps;
    int last_app;            /* the event of the last application call (app.c) */
    int connect_ev;          /* the last connect() call (xs_open) */
    int burst_cause;         /* wire.c: what the packets read now answer (-1: a timer) */
    uint64_t wall0_ns;       /* wall clock at t0 (pcapng) */
    char kernel[65];
};

/* ---- scenarios (scenarios.c) --------------------------------------------- */

struct xvariant {
    const char *name;        /* "with-time-wait" */
    const char *title;       /* "with TIME_WAIT" */
    const char *sysctl[XH_N][4]; /* "net.ipv4.tcp_timestamps=0" (ipv4 names; mapped) */
    void (*script)(struct xrun *r);
};

struct xscen {
    const char *name;        /* "lost-ack" */
    const char *summary;     /* one line for --list */
    const struct xvariant *variants;
    int n_variants;
};

/* Pieces the scripts share (scenarios.c), narrated. */
/* Listen (if not yet), connect, accept: 0 or connect()'s errno. */
int xs_open(struct xrun *r);
/* The client sends data and the server reads it. */
void xs_request(struct xrun *r, const char *data);
/* The client closes first, the server reads the end of data and closes
 * (or shutdown(SHUT_WR) when keep: the server keeps its socket). */
void xs_close_client_first(struct xrun *r, bool keep);
/* "EADDRNOTAVAIL", or "0". */
const char *xs_errname(int e);
/* Relay until the client's TIME_WAIT is older than delay_ms (and a note). */
void xs_wait_reuse_delay(struct xrun *r, int delay_ms);
/* Expect the client's TIME_WAIT to start with the kernel's 60 s. */
void xs_expect_tw_length(struct xrun *r, int host);

/* The scenarios, one table each (scen_close.c, scen_reopen.c). */
extern const struct xscen x_scen_close, x_scen_lost_ack, x_scen_simultaneous, x_scen_rst,
    x_scen_old_duplicate, x_scen_syn_on_timewait;
extern const struct xscen *const x_scenarios[];
extern const int x_n_scenarios;
const struct xscen *x_scen_find(const char *name);

/* ---- a run (run.c) ------------------------------------------------------- */

/* Build the hosts for r (r->sc, r->v, r->family set); 0, or -errno with
 * r->err filled; status tells the caller whether it is a missing
 * privilege or device (X_ENOPRIV) or another error. */
#define X_ENOPRIV 1
int x_run_start(struct xrun *r, int *why);
/* Close every descriptor and remove the hosts (idempotent). */
void x_run_end(struct xrun *r);
uint64_t x_now(const struct xrun *r);
int x_event(struct xrun *r, enum x_ev_kind k, int host, int seg);
/* Read the host's socket on the tuple; record a state event when its lane
 * state changed.  cause: the event this sample follows (-1: none). */
void x_sample(struct xrun *r, int host, int cause);
/* Set the one sentence of narration of event ev (ignored if ev < 0). */
void x_say(struct xrun *r, int ev, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for segment seg: its sending (arrival false) or first delivery. */
void x_say_seg(struct xrun *r, int seg, bool arrival, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The first segment from `from` at or after id `first` whose flags & mask ==
 * value: its id, or -1. */
int x_find_seg(const struct xrun *r, int from, uint8_t mask, uint8_t value, int first);
/* The event that recorded segment seg's sending / its (first) delivery: -1 none. */
int x_send_ev(const struct xrun *r, int seg);
int x_deliv_ev(const struct xrun *r, int seg);
/* "4" or "6": kernel function names differ by family (tcp_v4_send_reset). */
const char *x_v(const struct xrun *r);
/* Check that host's lane went exactly through the states named in `path`
 * ("ESTABLISHED FIN_WAIT1 FIN_WAIT2 TIME_WAIT"), starting from the first
 * time it entered the first one. */
bool x_expect_path(struct xrun *r, int host, const char *path);
/* Check a counter delta of a host. */
bool x_expect_counter(struct xrun *r, int host, enum tw_counter_id id, int64_t want);
/* Record an expectation. */
bool x_expect(struct xrun *r, bool ok, const char *got, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A run-time failure: the script cannot go on. */
void x_fail(struct xrun *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A note row (something twkit did), with its sentence. */
int x_note(struct xrun *r, int host, const char *text, const char *narr);
/* Snapshot counters now (start), and at the end record the deltas. */
void x_counters_begin(struct xrun *r);
void x_counters_end(struct xrun *r);
int64_t x_counter_delta(const struct xrun *r, int host, enum tw_counter_id id);

/* ---- the wire (wire.c) --------------------------------------------------- */

int x_rule(struct xrun *r, int from, uint8_t mask, uint8_t value, bool data, int state,
           enum x_fate fate);
/* Relay packets for ms milliseconds. */
void x_pump(struct xrun *r, int ms);
/* Relay until nothing is left to read at once (the kernel answers the
 * wire synchronously, so this settles every immediate consequence). */
void x_drain(struct xrun *r);
/* Relay until everything host has sent on the current connection has been
 * acknowledged by the other host; false after timeout_ms. */
bool x_wait_acked(struct xrun *r, int host, int timeout_ms);
/* Relay until a new segment from host matching flags (& mask == value)
 * is seen; its id, or -1 after timeout_ms. */
int x_wait_seg(struct xrun *r, int from, uint8_t mask, uint8_t value, int timeout_ms);
/* Deliver held segment seg now; with move, first shift its seq and ack into
 * the current connection's window (the segment's data then lands exactly
 * where the receiver expects its next byte). */
void x_release(struct xrun *r, int seg, bool move);
/* Deliver a copy of segment seg (already delivered once) again now, moved
 * into the current window with move: a replay. */
void x_replay(struct xrun *r, int seg, bool move);
/* Parse an IP packet into s (fields only).  0, or -1 if not TCP. */
int x_parse(const uint8_t *p, size_t n, struct xseg *s, size_t *tcp_off);
/* Recompute the TCP checksum of an IP packet in place. */
void x_tcp_csum(uint8_t *p, size_t n);

/* ---- applications (app.c) ------------------------------------------------ */

int x_listen(struct xrun *r);
/* connect() from the client (nonblocking; waits for the handshake on the
 * wire).  Returns 0 or the errno the kernel gave. */
int x_connect(struct xrun *r);
int x_accept(struct xrun *r);
int x_send(struct xrun *r, int host, const char *data);
/* recv() what is there; returns bytes, or -errno; buf gets the data. */
int x_recv(struct xrun *r, int host, char *buf, size_t len);
void x_close(struct xrun *r, int host);
void x_shutdown_wr(struct xrun *r, int host);
/* getsockopt(SO_ERROR): 0 or the pending error. */
int x_sock_error(struct xrun *r, int host);
void x_linger0(struct xrun *r, int host);
int x_destroy(struct xrun *r, int host);
/* bind() a fresh socket in host to the tuple's local address and port,
 * without SO_REUSEADDR: 0 or errno. */
int x_bind_probe(struct xrun *r, int host);
/* Wait until the host's socket on the tuple is gone (TIME_WAIT expired),
 * sampling every second; returns the time it took in ms or -1. */
int64_t x_wait_gone(struct xrun *r, int host, int timeout_ms);

/* ---- the kernel's view (diag.c) ------------------------------------------ */

struct xsock {
    bool found;
    int state;               /* TCP_* */
    int64_t expires_ms;      /* idiag_expires (TIME_WAIT: ms left) */
    uint64_t cookie;
};
int x_diag_get(struct xrun *r, int host, struct xsock *out);
int x_diag_destroy(struct xrun *r, int host);
int x_counters_read(struct xrun *r, int host, struct tw_counters *c);

/* ---- narration (narrate.c) ----------------------------------------------- */

/* Give every step its number and sentence (after the run). */
void x_narrate(struct xrun *r);

/* ---- the rows of a diagram (layout.c), shared by the ladder and SVG ------ */

/* One row per event in time order, except a state change that followed an
 * event directly: it is shown on that event's row. */
struct xrow {
    int ev;                  /* the event */
    int st[XH_N];            /* the state shown beside each lane (-1: none) */
    bool chg[XH_N];          /* ... and whether it changed on this row */
};

/* A segment's path through the rows. */
struct xarrow {
    int dep;                 /* row it left on (-1: none) */
    int arr[2], n_arr;       /* rows it arrived on */
    int end;                 /* last row it is in flight on (held to the end: n_rows) */
    bool c2s, held, drop;
    int knee;                /* the ladder's column for it */
};

struct xlayout {
    struct xrow *rows;
    int n_rows, cap;
    int *row_of;             /* event -> row, -1: shown on another row */
    struct xarrow *arr;      /* one per segment */
};

int x_layout(const struct xrun *r, struct xlayout *L);
void x_layout_free(struct xlayout *L);
/* Split text into lines of at most width characters (UTF-8), at spaces;
 * a character is never split.  Returns the number of lines; text beyond
 * max lines is not returned, so callers size max for their longest text
 * (length / width + 1).  width is at most X_WRAP_MAX, which fits a line of
 * four-byte characters. */
#define X_WRAP_MAX 120
#define X_WRAP_LINE (4 * X_WRAP_MAX + 1)
int x_wrap(const char *text, int width, char lines[][X_WRAP_LINE], int max);
/* "PSH,ACK seq=1 ack=1 len=3": sequence numbers relative to the ISNs. */
void x_seg_label(const struct xseg *s, char *buf, size_t len);

/* ---- renderers ----------------------------------------------------------- */

struct xview {
    bool ascii;
    bool color;
};
void x_render_ladder(FILE *f, const struct xrun *r, const struct xview *v);
int x_render_svg(FILE *f, const struct xrun *const *runs, int n);
int x_render_pcapng(FILE *f, const struct xrun *const *runs, int n);
/* Whether a diagram shows a call's result: always, but a plain 0 from
 * calls that cannot fail in a run (listen, connect, accept, close, ...). */
bool x_show_result(const struct xev *e);
struct twx_json;
void x_render_json_run(struct twx_json *j, const struct xrun *r);

#endif
