/*
 * scen_reopen.c — the scenarios about a new connection on the tuple of an
 * old one: an old duplicate segment of the first connection reaching the
 * second (old-duplicate: reason 2 of RFC 9293 §3.6.1's wait, and what
 * PAWS adds), and a new SYN meeting a TIME_WAIT socket, on the server (it
 * takes the TIME_WAIT over: RFC 6191) or on the client (tcp_tw_reuse and
 * tcp_tw_reuse_delay).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "explain.h"

/* Check that the new connection's ISN of host is the old one's next
 * sequence number + 65535 + 2, as tcp_timewait_state_process and
 * tcp_twsk_unique set it when a TIME_WAIT socket is taken over. */
static void expect_isn_above(struct xrun *r, int host, bool want)
{
    char got[64] = "no second connection";
    bool ok = false;
    if (r->n_conn >= 2 && r->conn[1].have_isn[host]) {
        uint32_t d = r->conn[1].isn[host] - r->conn[0].nxt[host];
        snprintf(got, sizeof(got), "new ISN - old snd_nxt = %u", d);
        ok = (d == 65537) == want;
    }
    x_expect(r, ok, got, want ? "the %s's new ISN is the old connection's snd_nxt + 65537"
                              : "the %s's new ISN is a fresh one, not snd_nxt + 65537",
             host ? "server" : "client");
}

/* tcp_tw_reuse_delay of the client host, ms (1000 where the kernel has no
 * such sysctl: 6.13 and older reuse after about a second). */
static int reuse_delay(struct xrun *r)
{
    int fd = twx_topo_open(&r->topo, XH_CLIENT, "/proc/sys/net/ipv4/tcp_tw_reuse_delay",
                           O_RDONLY);
    if (fd < 0)
        return 1000;
    char buf[32] = "";
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 1000;
    buf[n] = 0;
    return atoi(buf) > 0 ? atoi(buf) : 1000;
}

/* ---- old-duplicate ---------------------------------------------------------------- */

/* The first connection: its data segment is held by the wire (and arrives
 * through the retransmission); then the ordinary close.  Returns the held
 * segment. */
static int first_connection(struct xrun *r)
{
    char buf[64];
    xs_open(r);
    int rule = x_rule(r, XH_CLIENT, 0, 0, true, 0, XW_HOLD);
    x_send(r, XH_CLIENT, "x=1");
    x_say(r, r->last_app, "The client's application sends a command, \"x=1\" (tcp_sendmsg)...");
    int held = r->rule[rule].seg;
    x_say_seg(r, held, false, "...and the wire holds the segment, as a slow path through the "
              "network might: it will become an old duplicate (RFC 9293 §3.4.3).");
    int rt = x_wait_seg(r, XH_CLIENT, XF_PSH, XF_PSH, 3000); /* the data again */
    double rto = rt < 0 || held < 0 ? 0
                                    : (double)(r->seg[rt].sent_ns - r->seg[held].sent_ns) / 1e6;
    x_say_seg(r, rt, false, "No ACK came: %.0f ms later the client's retransmission timer "
              "sends the bytes again (tcp_retransmit_timer).", rto);
    x_say_seg(r, rt, true, "This copy arrives: the server queues \"x=1\" and acknowledges it "
              "(tcp_data_queue).");
    x_expect(r, rt >= 0 && r->seg[rt].retrans, rt >= 0 ? "retransmitted" : "no",
             "the client retransmits the held bytes after its timeout");
    x_wait_acked(r, XH_CLIENT, 1000);
    int n = x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "The server's application runs the command once (tcp_recvmsg).");
    x_expect(r, n == 3, n == 3 ? "3 bytes" : "missing", "the server reads \"x=1\" once");
    xs_close_client_first(r, false);
    return held;
}

static void od_with(struct xrun *r)
{
    int held = first_connection(r);
    int rc = xs_open(r);
    x_say(r, r->connect_ev, "A new connect() to the same server, from port %u, fails with "
          "EADDRNOTAVAIL: the client's TIME_WAIT socket still holds the tuple "
          "(__inet_hash_connect).", r->port[XH_CLIENT]);
    x_expect(r, rc == EADDRNOTAVAIL, xs_errname(rc),
             "while TIME_WAIT holds the tuple, connect() cannot take it");
    x_release(r, held, false);
    x_drain(r);
    x_say_seg(r, held, true, "The old duplicate arrives at last, %.0f ms late. No connection "
              "has the tuple on the server: the listener answers with a reset "
              "(tcp_v%s_send_reset).", held < 0 || !r->seg[held].n_deliv ? 0.0
              : (double)(r->seg[held].deliv_ns[0] - r->seg[held].sent_ns) / 1e6, x_v(r));
    int rst = held < 0 ? -1 : x_find_seg(r, XH_SERVER, XF_RST, XF_RST, held);
    x_say_seg(r, rst, true, "The reset's sequence number is not the one the TIME_WAIT socket "
              "expects, so it is ignored (tcp_timewait_state_process): TIME_WAIT stays.");
    x_expect(r, rst >= 0, rst >= 0 ? "RST" : "no RST",
             "the old duplicate reaches no connection: the server answers with a reset");
    x_expect(r, r->lane[XH_CLIENT] == 6, x_state_name(r->lane[XH_CLIENT]),
             "the client's TIME_WAIT survives the reset");
    x_counters_end(r);
    x_expect_counter(r, XH_SERVER, TW_C_OUT_RSTS, 1);
}

static void od_reuse(struct xrun *r)
{
    char buf[64];
    int delay = reuse_delay(r);
    int held = first_connection(r);
    int rc1 = xs_open(r);
    x_say(r, r->connect_ev, "A new connect() from port %u fails at once: tcp_tw_reuse=1 lets "
          "connect() take over a TIME_WAIT socket, but only one older than "
          "tcp_tw_reuse_delay, %d ms (tcp_twsk_unique).", r->port[XH_CLIENT], delay);
    xs_wait_reuse_delay(r, delay);
    int rc2 = xs_open(r);
    x_say(r, r->connect_ev, "Now connect() takes the TIME_WAIT socket over (TWRecycled). The new "
          "connection starts 65537 above the old one's sequence numbers, and the server's "
          "timestamps go on rising, so PAWS can tell old segments from new ones.");
    x_expect(r, rc1 == EADDRNOTAVAIL, xs_errname(rc1),
             "connect() fails while TIME_WAIT is younger than tcp_tw_reuse_delay");
    x_expect(r, rc2 == 0, xs_errname(rc2), "connect() takes TIME_WAIT over after the delay");
    expect_isn_above(r, XH_CLIENT, true);
    x_release(r, held, true);
    x_drain(r);
    x_say_seg(r, held, true, "The old duplicate arrives, its sequence numbers moved by the wire "
              "into the new window (what 2^32 wraps at high speed do, RFC 7323 §5). Its "
              "timestamp is older than the server's TS.Recent: PAWS drops it and the server "
              "sends a duplicate ACK (tcp_paws_discard).");
    int n = x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "The server's application gets nothing, recv() fails with EAGAIN: "
          "the old bytes never reach it (tcp_recvmsg).");
    x_expect(r, n == -EAGAIN, n < 0 ? xs_errname(-n) : "data",
             "the old duplicate does not reach the server's application");
    x_counters_end(r);
    x_expect_counter(r, XH_CLIENT, TW_C_TW_RECYCLED, 1);
    x_expect_counter(r, XH_SERVER, TW_C_PAWS_ESTAB, 1);
}

static void od_without(struct xrun *r)
{
    char buf[64];
    int held = first_connection(r);
    x_destroy(r, XH_CLIENT);
    x_say(r, r->last_app, "twkit removes the client's TIME_WAIT socket (SOCK_DESTROY). "
          "Timestamps are off in this run (tcp_timestamps=0 on the client): no PAWS either.");
    int rc = xs_open(r);
    x_say(r, r->connect_ev, "connect() takes the tuple at once: nothing remembers the old "
          "connection (__inet_check_established).");
    x_expect(r, rc == 0, xs_errname(rc), "without TIME_WAIT, connect() takes the tuple at once");
    x_release(r, held, true);
    x_drain(r);
    x_say_seg(r, held, true, "The old duplicate arrives, its sequence numbers moved by the wire "
              "into the new window (what 2^32 wraps at high speed do, RFC 7323 §5). Nothing "
              "tells it from new data: the server accepts it (tcp_data_queue).");
    int ack = held < 0 ? -1 : x_find_seg(r, XH_SERVER, 0xff, XF_ACK, held);
    x_say_seg(r, ack, true, "The client gets an ACK for bytes it never sent on this "
              "connection: it answers with an ACK of its own (RFC 9293 §3.10.7.4). The two "
              "sides now disagree about the byte stream.");
    int n = x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "The server's application runs \"x=1\" a second time, on a "
          "connection where the client never sent it (tcp_recvmsg): the reason TIME_WAIT "
          "outlives old segments (RFC 9293 §3.6.1).");
    x_expect(r, n == 3 && !strcmp(buf, "x=1"), n == 3 ? "\"x=1\"" : xs_errname(-n),
             "without TIME_WAIT and timestamps, the stale bytes reach the new connection");
    x_counters_end(r);
    x_expect_counter(r, XH_SERVER, TW_C_PAWS_ESTAB, 0);
}

static const struct xvariant od_v[] = {
    {"with-time-wait", "with TIME_WAIT: the tuple stays taken", {{NULL}}, od_with},
    {"tw-reuse-paws", "tcp_tw_reuse=1 takes TIME_WAIT over; PAWS drops the segment",
     {{"net.ipv4.tcp_tw_reuse=1"}}, od_reuse},
    {"without-time-wait", "without TIME_WAIT or timestamps: the segment is accepted",
     {{"net.ipv4.tcp_timestamps=0"}}, od_without},
};

const struct xscen x_scen_old_duplicate = {
    "old-duplicate", "a delayed segment of an old connection reaches a new one", od_v, 3,
};

/* ---- syn-on-timewait -------------------------------------------------------------- */

/* The server closes first: TIME_WAIT on the server's side. */
static void server_closes_first(struct xrun *r)
{
    char buf[64];
    xs_open(r);
    int s0 = r->n_seg;
    x_close(r, XH_SERVER);
    x_say(r, r->last_app, "This time the server's application closes first: the server is "
          "the active closer, so the TIME_WAIT will be on its side (tcp_close).");
    int fin = x_find_seg(r, XH_SERVER, XF_FIN, XF_FIN, s0);
    x_say_seg(r, fin, true, "The client enters CLOSE_WAIT (tcp_fin).");
    x_wait_acked(r, XH_SERVER, 1000);
    int ack = fin < 0 ? -1 : x_find_seg(r, XH_CLIENT, 0xff, XF_ACK, fin);
    x_say_seg(r, ack, true, "The server waits in FIN_WAIT2 (tcp_rcv_state_process).");
    x_recv(r, XH_CLIENT, buf, sizeof(buf));
    x_say(r, r->last_app, "The client's application reads the end of the data "
          "(tcp_recvmsg)...");
    s0 = r->n_seg;
    x_close(r, XH_CLIENT);
    x_say(r, r->last_app, "...and closes: LAST_ACK (tcp_close).");
    int fin2 = x_find_seg(r, XH_CLIENT, XF_FIN, XF_FIN, s0);
    x_say_seg(r, fin2, true, "The server acknowledges the FIN and enters TIME_WAIT "
              "(tcp_time_wait).");
    int last = fin2 < 0 ? -1 : x_find_seg(r, XH_SERVER, 0xff, XF_ACK, fin2);
    x_say_seg(r, last, true, "The client's socket is gone: its port %u is free at once "
              "(tcp_done).",
              r->port[XH_CLIENT]);
    x_expect_path(r, XH_SERVER, "ESTABLISHED FIN_WAIT1 FIN_WAIT2 TIME_WAIT");
    x_expect_path(r, XH_CLIENT, "ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
}

static void sw_server(struct xrun *r, bool ts)
{
    server_closes_first(r);
    int s0 = r->n_seg;
    int rc = xs_open(r);
    x_say(r, r->connect_ev, "The client connects again from port %u: the same 4-tuple, which "
          "the server still holds in TIME_WAIT (tcp_v%s_connect).", r->port[XH_CLIENT], x_v(r));
    x_expect(r, rc == 0, xs_errname(rc), "connect() succeeds although the server holds "
             "TIME_WAIT for the tuple");
    int syn = x_find_seg(r, XH_CLIENT, XF_SYN | XF_ACK, XF_SYN, s0);
    if (ts)
        x_say_seg(r, syn, true, "The SYN meets the server's TIME_WAIT socket. Its timestamp "
                  "is newer than the last one seen, so the kernel takes it as a new "
                  "connection: TIME_WAIT is dropped, the listener answers (RFC 6191, "
                  "tcp_timewait_state_process).");
    else
        x_say_seg(r, syn, true, "The SYN meets the server's TIME_WAIT socket. No "
                  "timestamps here, but its sequence number is above the old connection's, "
                  "so the kernel takes it as a new connection (RFC 1122 §4.2.2.13, "
                  "tcp_timewait_state_process).");
    int sa = x_find_seg(r, XH_SERVER, XF_SYN | XF_ACK, XF_SYN | XF_ACK, s0);
    x_say_seg(r, sa, false, "The server's new ISN is the old connection's next sequence "
              "number + 65537, above anything the old connection used "
              "(tcp_timewait_state_process, RFC 1122 §4.2.2.13).");
    x_expect_path(r, XH_SERVER, "TIME_WAIT SYN_RECV ESTABLISHED");
    expect_isn_above(r, XH_SERVER, true);
    x_counters_end(r);
    x_expect_counter(r, XH_SERVER, TW_C_TW, 1);
}

static void sw_with(struct xrun *r)
{
    sw_server(r, true);
}

static void sw_with_nots(struct xrun *r)
{
    sw_server(r, false);
}

static void sw_without(struct xrun *r)
{
    server_closes_first(r);
    x_destroy(r, XH_SERVER);
    x_say(r, r->last_app, "twkit removes the server's TIME_WAIT socket (SOCK_DESTROY).");
    int s0 = r->n_seg;
    int rc = xs_open(r);
    x_say(r, r->connect_ev, "The client connects again from port %u (tcp_v%s_connect).",
          r->port[XH_CLIENT], x_v(r));
    x_expect(r, rc == 0, xs_errname(rc), "connect() succeeds");
    int syn = x_find_seg(r, XH_CLIENT, XF_SYN | XF_ACK, XF_SYN, s0);
    x_say_seg(r, syn, true, "No socket holds the tuple on the server: the listener answers "
              "with an ISN of its own (tcp_conn_request). The outcome is the same: "
              "server-side TIME_WAIT never stopped this client.");
    expect_isn_above(r, XH_SERVER, false);
}

static void sw_reuse(struct xrun *r, bool ts)
{
    int delay = reuse_delay(r);
    xs_open(r);
    xs_close_client_first(r, false);
    int rc1 = xs_open(r);
    x_say(r, r->connect_ev, "Now the client holds TIME_WAIT and connects again from port %u, "
          "its only port here (IP_LOCAL_PORT_RANGE): EADDRNOTAVAIL. tcp_tw_reuse=1 reuses "
          "only a TIME_WAIT socket older than tcp_tw_reuse_delay, %d ms (tcp_twsk_unique).",
          r->port[XH_CLIENT], delay);
    x_expect(r, rc1 == EADDRNOTAVAIL, xs_errname(rc1),
             "connect() fails while TIME_WAIT is younger than tcp_tw_reuse_delay");
    xs_wait_reuse_delay(r, delay);
    int rc2 = xs_open(r);
    if (ts) {
        x_say(r, r->connect_ev, "Now connect() takes the TIME_WAIT socket over (TWRecycled): "
              "the server sent timestamps, so PAWS protects the new connection, which starts "
              "65537 above the old sequence numbers (tcp_twsk_unique).");
        x_expect(r, rc2 == 0, xs_errname(rc2), "after tcp_tw_reuse_delay connect() reuses "
                 "the TIME_WAIT tuple");
        expect_isn_above(r, XH_CLIENT, true);
        x_counters_end(r);
        x_expect_counter(r, XH_CLIENT, TW_C_TW_RECYCLED, 1);
    } else {
        x_say(r, r->connect_ev, "Still EADDRNOTAVAIL: this connection had no timestamps "
              "(tcp_timestamps=0 on the client), and without them the kernel never reuses "
              "a TIME_WAIT socket: PAWS could not protect the new one (tcp_twsk_unique).");
        x_expect(r, rc2 == EADDRNOTAVAIL, xs_errname(rc2),
                 "without timestamps tcp_tw_reuse never reuses TIME_WAIT");
        x_counters_end(r);
        x_expect_counter(r, XH_CLIENT, TW_C_TW_RECYCLED, 0);
    }
}

static void sw_reuse_ts(struct xrun *r)
{
    sw_reuse(r, true);
}

static void sw_reuse_nots(struct xrun *r)
{
    sw_reuse(r, false);
}

static const struct xvariant sw_v[] = {
    {"with-time-wait", "server TIME_WAIT, timestamps: the SYN takes it over", {{NULL}},
     sw_with},
    {"with-time-wait-no-ts", "server TIME_WAIT, no timestamps: the higher sequence wins",
     {{"net.ipv4.tcp_timestamps=0"}}, sw_with_nots},
    {"without-time-wait", "server TIME_WAIT removed: the listener answers", {{NULL}},
     sw_without},
    {"tw-reuse", "client TIME_WAIT, tcp_tw_reuse=1: reused after tcp_tw_reuse_delay",
     {{"net.ipv4.tcp_tw_reuse=1"}}, sw_reuse_ts},
    {"tw-reuse-no-ts", "client TIME_WAIT, tcp_tw_reuse=1, no timestamps: never reused",
     {{"net.ipv4.tcp_tw_reuse=1", "net.ipv4.tcp_timestamps=0"}}, sw_reuse_nots},
};

const struct xscen x_scen_syn_on_timewait = {
    "syn-on-timewait", "a new SYN on a TIME_WAIT tuple: server side, and tcp_tw_reuse", sw_v, 5,
};
