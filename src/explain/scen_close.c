/*
 * scen_close.c — the scenarios about how a connection ends: the four-way
 * close (close), the lost final ACK that TIME_WAIT exists to answer
 * (lost-ack, reason 1 of RFC 9293 §3.6.1's wait), both sides closing at
 * once (simultaneous), and the reset that skips TIME_WAIT (rst).  Each has
 * a variant with TIME_WAIT and one without (SOCK_DESTROY, or SO_LINGER 0).
 */
#include <errno.h>
#include <string.h>

#include "explain.h"

/* ---- close ------------------------------------------------------------------------ */

static void close_common(struct xrun *r)
{
    xs_open(r);
    xs_request(r, "hello");
    xs_close_client_first(r, false);
    x_expect_path(r, XH_CLIENT, "ESTABLISHED FIN_WAIT1 FIN_WAIT2 TIME_WAIT");
    x_expect_path(r, XH_SERVER, "ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    xs_expect_tw_length(r, XH_CLIENT);
}

static void close_with(struct xrun *r)
{
    close_common(r);
    int err = x_bind_probe(r, XH_CLIENT);
    x_say(r, r->last_app, "A new socket cannot bind() port %u: the TIME_WAIT socket still "
          "holds it (EADDRINUSE, inet_csk_get_port).", r->port[XH_CLIENT]);
    x_expect(r, err == EADDRINUSE, xs_errname(err),
             "bind() of the client's port fails with EADDRINUSE while TIME_WAIT holds it");
    if (r->wait) {
        x_note(r, -1, "waiting for TIME_WAIT to end",
               "twkit waits, reading the socket with sock_diag every 250 ms "
               "(SOCK_DIAG_BY_FAMILY).");
        int64_t ms = x_wait_gone(r, XH_CLIENT, 75000);
        int gone = -1;
        for (int i = r->n_ev - 1; i >= 0 && gone < 0; i--)
            if (r->ev[i].kind == XE_STATE && r->ev[i].host == XH_CLIENT)
                gone = i;
        double life = gone < 0 ? -1
                               : (double)(r->ev[gone].t_ns - r->tw_entry_ns[XH_CLIENT]) / 1e9;
        x_say(r, gone, "The TIME_WAIT socket is gone %.1f s after it was made: its 60 s timer "
              "expired (tw_timer_handler); the kernel's timer wheel fires so long a timer up "
              "to an eighth late (kernel/time/timer.c). Now the tuple is free.", life);
        char got[48];
        snprintf(got, sizeof(got), "%.1f s", life);
        x_expect(r, ms >= 0 && life > 59.9 && life < 67.8, got,
                 "the TIME_WAIT socket disappears 60 s after it was made (the timer "
                 "wheel may add up to 7.5 s)");
        err = x_bind_probe(r, XH_CLIENT);
        x_say(r, r->last_app, "bind() of port %u succeeds now.", r->port[XH_CLIENT]);
        x_expect(r, err == 0, xs_errname(err), "bind() succeeds once TIME_WAIT has ended");
    }
    x_counters_end(r);
    x_expect_counter(r, XH_CLIENT, TW_C_TW, 1);
    x_expect_counter(r, XH_SERVER, TW_C_TW, 0);
}

static void close_without(struct xrun *r)
{
    close_common(r);
    x_destroy(r, XH_CLIENT);
    x_say(r, r->last_app, "twkit removes the client's TIME_WAIT socket with SOCK_DESTROY, "
          "as `ss -K` does (sock_diag_destroy, tcp_abort): it is forgotten 60 s early.");
    x_expect(r, r->lane[XH_CLIENT] == XS_NONE, x_state_name(r->lane[XH_CLIENT]),
             "SOCK_DESTROY removes the TIME_WAIT socket");
    int err = x_bind_probe(r, XH_CLIENT);
    x_say(r, r->last_app, "bind() of port %u succeeds at once: nothing remembers the "
          "connection (inet_csk_get_port). lost-ack and old-duplicate show what that costs.",
          r->port[XH_CLIENT]);
    x_expect(r, err == 0, xs_errname(err), "bind() of the client's port succeeds at once");
    x_counters_end(r);
    x_expect_counter(r, XH_CLIENT, TW_C_TW, 1);
}

static const struct xvariant close_v[] = {
    {"with-time-wait", "with TIME_WAIT", {{NULL}}, close_with},
    {"without-time-wait", "without TIME_WAIT (SOCK_DESTROY)", {{NULL}}, close_without},
};

const struct xscen x_scen_close = {
    "close", "the four-way close: the active closer waits in TIME_WAIT for 60 s", close_v, 2,
};

/* ---- lost-ack --------------------------------------------------------------------- */

static void lost_ack(struct xrun *r, bool destroy)
{
    xs_open(r);
    int rule = x_rule(r, XH_CLIENT, 0xff, XF_ACK, false, 6 /* TIME_WAIT */, XW_DROP);
    xs_close_client_first(r, true);
    int drop = r->rule[rule].seg;
    x_say_seg(r, drop, false, "The wire drops the client's last ACK: the server, in LAST_ACK, "
              "cannot know that its FIN arrived (RFC 9293 §3.6).");
    x_expect(r, drop >= 0, drop >= 0 ? "dropped" : "no such ACK",
             "the client acknowledges the FIN from TIME_WAIT, and the wire drops that ACK");
    if (destroy) {
        x_destroy(r, XH_CLIENT);
        x_say(r, r->last_app, "twkit removes the client's TIME_WAIT socket with SOCK_DESTROY "
              "before the server tries again (sock_diag_destroy, tcp_abort).");
    }
    int fin0 = drop < 0 ? -1 : x_find_seg(r, XH_SERVER, XF_FIN, XF_FIN, 0);
    int rt = x_wait_seg(r, XH_SERVER, XF_FIN, XF_FIN, 3000);
    double rto = rt < 0 || fin0 < 0 ? 0
                                    : (double)(r->seg[rt].sent_ns - r->seg[fin0].sent_ns) / 1e6;
    x_say_seg(r, rt, false, "No ACK came: %.0f ms after its FIN, the server's retransmission "
              "timer sends it again (tcp_retransmit_timer, RFC 9293 §3.8.1).", rto);
    char got[48];
    snprintf(got, sizeof(got), rt < 0 ? "no retransmission" : "after %.0f ms", rto);
    x_expect(r, rt >= 0 && r->seg[rt].retrans && rto >= 200, got,
             "the server sends its FIN again after its retransmission timeout (>= 200 ms)");
    int dv = x_deliv_ev(r, rt);
    int answer = rt < 0 ? -1 : x_find_seg(r, XH_CLIENT, 0, 0, rt + 1);
    if (!destroy) {
        if (dv >= 0)
            x_say(r, dv, "The TIME_WAIT socket is still there to answer: it acknowledges the "
                  "FIN again and restarts its 60 s timer (%lld ms -> %lld ms left; "
                  "tcp_timewait_state_process).", (long long)r->ev[dv].expires_before,
                  (long long)r->ev[dv].expires_ms);
        x_say_seg(r, answer, true, "This ACK gets through: the server's side closes cleanly "
                  "(tcp_rcv_state_process, tcp_done).");
        bool acked = answer >= 0 && r->seg[answer].flags == XF_ACK;
        x_expect(r, acked, acked ? "ACK" : "no ACK",
                 "the TIME_WAIT socket answers the repeated FIN with an ACK");
        snprintf(got, sizeof(got), "%lld ms -> %lld ms",
                 dv < 0 ? -1LL : (long long)r->ev[dv].expires_before,
                 dv < 0 ? -1LL : (long long)r->ev[dv].expires_ms);
        x_expect(r, dv >= 0 && r->ev[dv].expires_ms > r->ev[dv].expires_before &&
                        r->ev[dv].expires_ms > 59000,
                 got, "the repeated FIN restarts the TIME_WAIT timer at 60 s");
        x_expect_path(r, XH_SERVER, "ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
        int err = x_sock_error(r, XH_SERVER);
        x_say(r, r->last_app, "The server's application finds no error: the connection "
              "ended cleanly (SO_ERROR is 0: sock_error).");
        x_expect(r, err == 0, xs_errname(err), "the server's application sees no error");
        x_counters_end(r);
        x_expect_counter(r, XH_CLIENT, TW_C_OUT_RSTS, 0);
    } else {
        if (dv >= 0)
            x_say(r, dv, "No socket holds the tuple any more: the client's kernel answers the "
                  "FIN with a reset (tcp_v%s_send_reset, RFC 9293 §3.5.2).", x_v(r));
        x_say_seg(r, answer, true, "The reset aborts the server's connection, still in "
                  "LAST_ACK (tcp_reset, RFC 9293 §3.5.3).");
        bool rst = answer >= 0 && (r->seg[answer].flags & XF_RST);
        x_expect(r, rst, rst ? "RST" : "no RST",
                 "without TIME_WAIT the repeated FIN gets a reset");
        int err = x_sock_error(r, XH_SERVER);
        x_say(r, r->last_app, "The server's application gets ECONNRESET for a connection that "
              "had ended well (sock_error): the reason TIME_WAIT answers late FINs.");
        x_expect(r, err == ECONNRESET, xs_errname(err),
                 "the server's application sees ECONNRESET");
        x_counters_end(r);
        x_expect_counter(r, XH_CLIENT, TW_C_OUT_RSTS, 1);
    }
}

static void lost_ack_with(struct xrun *r)
{
    lost_ack(r, false);
}

static void lost_ack_without(struct xrun *r)
{
    lost_ack(r, true);
}

static const struct xvariant lost_ack_v[] = {
    {"with-time-wait", "with TIME_WAIT", {{NULL}}, lost_ack_with},
    {"without-time-wait", "without TIME_WAIT (SOCK_DESTROY)", {{NULL}}, lost_ack_without},
};

const struct xscen x_scen_lost_ack = {
    "lost-ack", "the last ACK is lost: TIME_WAIT answers the repeated FIN", lost_ack_v, 2,
};

/* ---- simultaneous ----------------------------------------------------------------- */

static void simultaneous(struct xrun *r, bool destroy)
{
    xs_open(r);
    int hc = x_rule(r, XH_CLIENT, XF_FIN, XF_FIN, false, 0, XW_HOLD);
    int hs = x_rule(r, XH_SERVER, XF_FIN, XF_FIN, false, 0, XW_HOLD);
    x_close(r, XH_CLIENT);
    x_say(r, r->last_app, "The client's application closes: FIN_WAIT1 (tcp_close). The wire "
          "holds the FIN.");
    x_close(r, XH_SERVER);
    x_say(r, r->last_app, "Before that FIN arrives the server's application closes too: both "
          "sides are in FIN_WAIT1 (tcp_close), and the wire holds both FINs.");
    int fc = r->rule[hc].seg, fs = r->rule[hs].seg;
    x_release(r, fc, false);
    x_release(r, fs, false);
    x_drain(r);
    x_say_seg(r, fc, true, "The wire lets both FINs go at once. The server gets a FIN that "
              "does not acknowledge its own: it acknowledges it and enters CLOSING (tcp_fin, "
              "RFC 9293 §3.6, case 3).");
    x_say_seg(r, fs, true, "The same on the client: CLOSING (tcp_fin).");
    int ac = x_find_seg(r, XH_CLIENT, 0xff, XF_ACK, fs);
    int as = x_find_seg(r, XH_SERVER, 0xff, XF_ACK, fs);
    x_say_seg(r, ac, true, "Its FIN acknowledged, the server enters TIME_WAIT: it closed "
              "actively too (tcp_time_wait).");
    x_say_seg(r, as, true, "And so does the client: both sides wait 60 s (tcp_time_wait).");
    x_expect(r, fc >= 0 && fs >= 0, fc >= 0 && fs >= 0 ? "both held" : "missing",
             "the wire holds both FINs and releases them together");
    x_expect_path(r, XH_CLIENT, "ESTABLISHED FIN_WAIT1 CLOSING TIME_WAIT");
    x_expect_path(r, XH_SERVER, "ESTABLISHED FIN_WAIT1 CLOSING TIME_WAIT");
    xs_expect_tw_length(r, XH_CLIENT);
    xs_expect_tw_length(r, XH_SERVER);
    if (destroy) {
        x_destroy(r, XH_CLIENT);
        x_say(r, r->last_app, "twkit removes the client's TIME_WAIT socket (SOCK_DESTROY: "
              "sock_diag_destroy)...");
        x_destroy(r, XH_SERVER);
        x_say(r, r->last_app, "...and the server's (tcp_abort).");
    }
    int err = x_bind_probe(r, XH_CLIENT);
    if (destroy) {
        x_say(r, r->last_app, "Port %u is free at once (inet_csk_get_port).", r->port[XH_CLIENT]);
        x_expect(r, err == 0, xs_errname(err), "bind() of the client's port succeeds");
    } else {
        x_say(r, r->last_app, "Port %u stays taken: EADDRINUSE (inet_csk_get_port).",
              r->port[XH_CLIENT]);
        x_expect(r, err == EADDRINUSE, xs_errname(err),
                 "bind() of the client's port fails with EADDRINUSE");
    }
    x_counters_end(r);
    x_expect_counter(r, XH_CLIENT, TW_C_TW, 1);
    x_expect_counter(r, XH_SERVER, TW_C_TW, 1);
}

static void simultaneous_with(struct xrun *r)
{
    simultaneous(r, false);
}

static void simultaneous_without(struct xrun *r)
{
    simultaneous(r, true);
}

static const struct xvariant simultaneous_v[] = {
    {"with-time-wait", "with TIME_WAIT", {{NULL}}, simultaneous_with},
    {"without-time-wait", "without TIME_WAIT (SOCK_DESTROY)", {{NULL}}, simultaneous_without},
};

const struct xscen x_scen_simultaneous = {
    "simultaneous", "both sides close at once: CLOSING, then TIME_WAIT on both",
    simultaneous_v, 2,
};

/* ---- rst -------------------------------------------------------------------------- */

/* The client's last bytes are lost once; it closes right after sending them. */
static int last_words(struct xrun *r)
{
    xs_open(r);
    int rule = x_rule(r, XH_CLIENT, 0, 0, true, 0, XW_DROP);
    x_send(r, XH_CLIENT, "bye");
    x_say(r, r->last_app, "The client's application sends its last 3 bytes (tcp_sendmsg)...");
    x_say_seg(r, r->rule[rule].seg, false, "...and the wire drops them: only the client's retransmission "
              "queue still holds them (RFC 9293 §3.8.1).");
    return r->rule[rule].seg;
}

static void rst_close(struct xrun *r)
{
    char buf[64];
    int lost = last_words(r);
    int s0 = r->n_seg;
    x_close(r, XH_CLIENT);
    x_say(r, r->last_app, "It closes at once with an ordinary close(): the kernel keeps the "
          "unacknowledged bytes and sends its FIN after them (tcp_close).");
    x_wait_acked(r, XH_CLIENT, 2000);
    int fin = x_find_seg(r, XH_CLIENT, XF_FIN, XF_FIN, s0);
    x_say_seg(r, fin, true, "The FIN arrives before the bytes it follows: the server keeps it "
              "aside and asks again for the missing bytes with a duplicate ACK "
              "(tcp_data_queue_ofo).");
    int again = lost < 0 ? -1 : x_find_seg(r, XH_CLIENT, 0, 0, fin + 1);
    while (again >= 0 && !r->seg[again].len)
        again = x_find_seg(r, XH_CLIENT, 0, 0, again + 1);
    x_say_seg(r, again, false, "The client's kernel sends the lost bytes again although its "
              "application has closed: close() does not throw data away "
              "(tcp_retransmit_skb).");
    x_say_seg(r, again, true, "Now the server has every byte up to the FIN: CLOSE_WAIT "
              "(tcp_ofo_queue, tcp_fin).");
    int n = x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "The server's application reads all 3 bytes (tcp_recvmsg)...");
    x_expect(r, n == 3 && !strcmp(buf, "bye"), n == 3 ? "3 bytes" : "missing",
             "the server's application gets the client's last bytes");
    n = x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "...then the end of the data: a clean close (RFC 9293 §3.6).");
    x_expect(r, n == 0, n == 0 ? "0" : xs_errname(-n), "then recv() returns 0, the end of data");
    s0 = r->n_seg;
    x_close(r, XH_SERVER);
    x_say(r, r->last_app, "The server closes: LAST_ACK (tcp_close).");
    int fin2 = x_find_seg(r, XH_SERVER, XF_FIN, XF_FIN, s0);
    x_say_seg(r, fin2, true, "The client enters TIME_WAIT (tcp_time_wait).");
    x_expect_path(r, XH_CLIENT, "ESTABLISHED FIN_WAIT1 FIN_WAIT2 TIME_WAIT");
    x_counters_end(r);
    x_expect_counter(r, XH_CLIENT, TW_C_TW, 1);
}

static void rst_linger(struct xrun *r)
{
    char buf[64];
    last_words(r);
    int s0 = r->n_seg;
    x_linger0(r, XH_CLIENT);
    x_say(r, r->last_app, "It closes at once with SO_LINGER {1, 0}: the kernel throws the "
          "unacknowledged bytes away, sends a reset instead of a FIN and forgets the "
          "connection. No TIME_WAIT (tcp_close, tcp_disconnect).");
    int rst = x_find_seg(r, XH_CLIENT, XF_RST, XF_RST, s0);
    x_say_seg(r, rst, true, "The reset's sequence number is not the next one the server "
              "expects (the bytes before it never came): the server answers with a challenge "
              "ACK instead of dying (RFC 5961 §3.2, tcp_send_challenge_ack).");
    int ch = rst < 0 ? -1 : x_find_seg(r, XH_SERVER, 0xff, XF_ACK, rst);
    x_say_seg(r, ch, true, "The client has no socket for the tuple: its kernel answers with a "
              "reset carrying exactly the acknowledged number (tcp_v%s_send_reset).", x_v(r));
    int rst2 = ch < 0 ? -1 : x_find_seg(r, XH_CLIENT, XF_RST, XF_RST, ch);
    x_say_seg(r, rst2, true, "That reset is exact: the server's connection is aborted "
              "(tcp_reset, RFC 9293 §3.5.3).");
    int n = x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "The server's application gets ECONNRESET (sock_error); the "
          "client's last 3 bytes are lost for good.");
    x_expect(r, n == -ECONNRESET, n < 0 ? xs_errname(-n) : "data",
             "the server's recv() fails with ECONNRESET and gets none of the lost bytes");
    x_expect_path(r, XH_CLIENT, "ESTABLISHED CLOSED");
    x_counters_end(r);
    x_expect_counter(r, XH_CLIENT, TW_C_TW, 0);
    x_expect_counter(r, XH_CLIENT, TW_C_ABORT_ON_DATA, 1);
    x_expect_counter(r, XH_SERVER, TW_C_ESTAB_RESETS, 1);
}

static void rst_lost(struct xrun *r)
{
    char buf[64];
    xs_open(r);
    int rule = x_rule(r, XH_CLIENT, XF_RST, XF_RST, false, 0, XW_DROP);
    x_linger0(r, XH_CLIENT);
    x_say(r, r->last_app, "The client's application closes with SO_LINGER {1, 0}: a reset "
          "instead of a FIN, and no TIME_WAIT (tcp_disconnect).");
    x_say_seg(r, r->rule[rule].seg, false, "The wire drops the reset: the server cannot know "
              "that the connection is gone (RFC 9293 §3.5.1).");
    bool half = r->lane[XH_SERVER] == 1;
    x_expect(r, half, x_state_name(r->lane[XH_SERVER]),
             "the server stays ESTABLISHED: a half-open connection");
    int s0 = r->n_seg;
    x_send(r, XH_SERVER, "data\n");
    x_say(r, r->last_app, "The server, half-open (RFC 9293 §3.5.1), sends data on a "
          "connection that no longer exists.");
    int d = x_find_seg(r, XH_SERVER, 0, 0, s0);
    x_say_seg(r, d, true, "The client has no socket for the tuple: its kernel answers with a "
              "reset (tcp_v%s_send_reset, RFC 9293 §3.5.2).", x_v(r));
    int rst = d < 0 ? -1 : x_find_seg(r, XH_CLIENT, XF_RST, XF_RST, d);
    x_say_seg(r, rst, true, "The reset aborts the server's connection (tcp_reset).");
    int n = x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "Only now does the server's application learn that the client "
          "went away (sock_error).");
    x_expect(r, n == -ECONNRESET, n < 0 ? xs_errname(-n) : "data",
             "the server's recv() fails with ECONNRESET");
    x_counters_end(r);
    x_expect_counter(r, XH_CLIENT, TW_C_TW, 0);
    x_expect_counter(r, XH_CLIENT, TW_C_OUT_RSTS, 2);
}

static const struct xvariant rst_v[] = {
    {"with-time-wait", "close(): a FIN, TIME_WAIT, nothing lost", {{NULL}}, rst_close},
    {"without-time-wait", "SO_LINGER {1, 0}: a reset, data lost, no TIME_WAIT", {{NULL}},
     rst_linger},
    {"rst-lost", "SO_LINGER {1, 0} and the reset is lost: half-open", {{NULL}}, rst_lost},
};

const struct xscen x_scen_rst = {
    "rst", "SO_LINGER 0: a reset instead of TIME_WAIT, and what it costs", rst_v, 3,
};
