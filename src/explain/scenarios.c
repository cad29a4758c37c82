/*
 * scenarios.c — the list of scenarios and the pieces their scripts share:
 * opening a connection (listen, connect, accept), one request, and the
 * ordinary close where the client closes first, each step narrated with
 * what the kernel did and where (RFC 9293 section or kernel function).
 *
 * A script drives the applications (app.c) and the wire (wire.c), waits
 * for what the kernel does on its own (delayed ACKs, retransmissions)
 * explicitly, narrates the events after they happened (so sentences can
 * carry measured values), and records its expectations, each checked
 * against what the kernel did: states read with sock_diag, counters from
 * /proc/net/{snmp,netstat}, results of system calls, segments on the wire.
 */
#include <errno.h>
#include <string.h>

#include "explain.h"

const struct xscen *const x_scenarios[] = {
    &x_scen_close,         &x_scen_lost_ack, &x_scen_old_duplicate, &x_scen_simultaneous,
    &x_scen_rst,           &x_scen_syn_on_timewait, NULL,
};

const struct xscen *x_scen_find(const char *name)
{
    for (int i = 0; x_scenarios[i]; i++)
        if (!strcmp(x_scenarios[i]->name, name))
            return x_scenarios[i];
    return NULL;
}

const char *xs_errname(int e)
{
    if (!e)
        return "0";
    const char *n = strerrorname_np(e);
    return n ? n : "error";
}

void xs_wait_reuse_delay(struct xrun *r, int delay_ms)
{
    uint64_t age_ns = x_now(r) - r->tw_entry_ns[XH_CLIENT];
    int wait_ms = delay_ms + 50 - (int)(age_ns / 1000000);
    int note = x_note(r, -1, "twkit waits", NULL);
    x_say(r, note, "twkit waits %d ms, until the TIME_WAIT socket is older than "
          "tcp_tw_reuse_delay (checked in tcp_twsk_unique).", wait_ms > 0 ? wait_ms : 0);
    if (wait_ms > 0)
        x_pump(r, wait_ms);
}

static double ms_between(const struct xrun *r, int ev_a, int ev_b)
{
    if (ev_a < 0 || ev_b < 0)
        return 0;
    return (double)(r->ev[ev_b].t_ns - r->ev[ev_a].t_ns) / 1e6;
}

int xs_open(struct xrun *r)
{
    if (r->listener < 0) {
        x_listen(r);
        x_say(r, r->last_app, "The server's application listens on port %u: a LISTEN socket "
              "now answers SYNs for it (RFC 9293 §3.5).", r->port[XH_SERVER]);
    }
    int s0 = r->n_seg;
    int rc = x_connect(r);
    int app = r->connect_ev = r->last_app;
    if (rc) {
        x_say(r, app, "connect() fails at once with %s: no SYN is sent.", strerrorname_np(rc));
        return rc;
    }
    x_say(r, app, "The client's connect() takes port %u and sends a SYN with its initial "
          "sequence number (ISN); the socket enters SYN_SENT (tcp_v%s_connect).",
          r->port[XH_CLIENT], x_v(r));
    int syn = x_find_seg(r, XH_CLIENT, XF_SYN | XF_ACK, XF_SYN, s0);
    int sa = x_find_seg(r, XH_SERVER, XF_SYN | XF_ACK, XF_SYN | XF_ACK, s0);
    int ack = sa < 0 ? -1 : x_find_seg(r, XH_CLIENT, 0xff, XF_ACK, sa);
    x_say_seg(r, syn, true, "The listener answers with a SYN,ACK carrying the server's own ISN "
              "and keeps a request socket in SYN_RECV (tcp_conn_request).");
    x_say_seg(r, sa, true, "The SYN,ACK acknowledges the client's SYN: the client is "
              "ESTABLISHED and acknowledges the server's SYN in turn (RFC 9293 §3.5).");
    x_say_seg(r, ack, true, "The third segment completes the three-way handshake: the "
              "server's side is ESTABLISHED, queued for accept() (tcp_check_req).");
    if (x_accept(r) == 0)
        x_say(r, r->last_app, "accept() hands the new connection to the server's "
              "application (inet_csk_accept).");
    return 0;
}

void xs_request(struct xrun *r, const char *data)
{
    char buf[64];
    int s0 = r->n_seg;
    x_send(r, XH_CLIENT, data);
    x_say(r, r->last_app, "The client's application sends %zu bytes; its kernel sends them "
          "at once (tcp_sendmsg).", strlen(data));
    int d = x_find_seg(r, XH_CLIENT, 0, 0, s0);
    x_wait_acked(r, XH_CLIENT, 1000);
    x_say_seg(r, d, true, "The server's kernel queues the bytes for its application and "
              "acknowledges them (quick ACKs at the start of a connection, "
              "__tcp_ack_snd_check).");
    x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "The server's application reads them (tcp_recvmsg).");
}

void xs_close_client_first(struct xrun *r, bool keep)
{
    char buf[64];
    int s0 = r->n_seg;
    x_close(r, XH_CLIENT);
    int closed = r->last_app;
    x_say(r, closed, "The client's application closes first: its kernel sends a FIN and the "
          "socket enters FIN_WAIT1. The client is the active closer (tcp_close, "
          "RFC 9293 §3.6).");
    int fin = x_find_seg(r, XH_CLIENT, XF_FIN, XF_FIN, s0);
    x_say_seg(r, fin, true, "The FIN tells the server that no more data will come: it enters "
              "CLOSE_WAIT, and its application's next read returns 0 (tcp_fin).");
    x_wait_acked(r, XH_CLIENT, 1000);
    int ack = fin < 0 ? -1 : x_find_seg(r, XH_SERVER, 0xff, XF_ACK, fin);
    if (ack >= 0 && r->ev[x_send_ev(r, ack)].timer)
        x_say_seg(r, ack, false, "%.*f ms later the server's delayed-ACK timer acknowledges "
                  "the FIN alone: its application has not closed yet (tcp_delack_timer).",
                  ms_between(r, x_deliv_ev(r, fin), x_send_ev(r, ack)) < 10 ? 2 : 0,
                  ms_between(r, x_deliv_ev(r, fin), x_send_ev(r, ack)));
    x_say_seg(r, ack, true, "The ACK reaches the client: FIN_WAIT1 becomes FIN_WAIT2, where "
              "it waits for the server's FIN (tcp_rcv_state_process).");
    x_recv(r, XH_SERVER, buf, sizeof(buf));
    x_say(r, r->last_app, "The server's application reads the end of the data: recv() returns 0 (tcp_recvmsg).");
    s0 = r->n_seg;
    if (keep) {
        x_shutdown_wr(r, XH_SERVER);
        x_say(r, r->last_app, "The server's application shuts its side down but keeps the "
              "socket, to learn how the connection ends: a FIN goes out and the socket "
              "enters LAST_ACK (RFC 9293 §3.6).");
    } else {
        x_close(r, XH_SERVER);
        x_say(r, r->last_app, "The server's application closes too: its FIN goes out and the "
              "socket enters LAST_ACK, waiting for the last ACK (RFC 9293 §3.6).");
    }
    int fin2 = x_find_seg(r, XH_SERVER, XF_FIN, XF_FIN, s0);
    int dv = x_deliv_ev(r, fin2);
    if (dv >= 0 && r->ev[dv].expires_ms >= 0)
        x_say(r, dv, "The client acknowledges the FIN at once and enters TIME_WAIT, set for "
              "%lld ms (idiag_expires): Linux waits 60 s (TCP_TIMEWAIT_LEN, tcp_time_wait), "
              "not the 2×MSL of RFC 9293 §3.6.1.", (long long)r->ev[dv].expires_ms);
    int last = fin2 < 0 ? -1 : x_find_seg(r, XH_CLIENT, 0xff, XF_ACK, fin2);
    if (last >= 0 && r->seg[last].n_deliv)
        x_say_seg(r, last, true, "The last ACK closes the server's side: its socket is gone at "
                  "once. Only the active closer waits (tcp_rcv_state_process, tcp_done).");
}

void xs_expect_tw_length(struct xrun *r, int host)
{
    int64_t ms = -1;
    for (int i = 0; i < r->n_ev; i++)
        if (r->ev[i].kind == XE_STATE && r->ev[i].host == host && r->ev[i].to == 6) {
            ms = r->ev[i].expires_ms;
            break;
        }
    char got[48];
    snprintf(got, sizeof(got), "%lld ms left on entry", (long long)ms);
    x_expect(r, ms > 58000 && ms <= 60000, got,
             "the %s's TIME_WAIT timer starts at 60 s (TCP_TIMEWAIT_LEN), not 120 or 240 s",
             host ? "server" : "client");
}
