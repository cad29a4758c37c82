/*
 * narrate.c — after a run, give each step its number and make sure every
 * step has its one sentence.  The scripts narrate what they set up (they
 * know why a segment was held or a socket destroyed); what the kernel does
 * on its own timers and no script foresaw — a delayed ACK, a retransmission,
 * a state that changed between two samples — gets a sentence here, from
 * what the record shows.  A step is any row of the diagram that carries a
 * sentence: every application call, every note, and the segments and state
 * changes a sentence explains.
 */
#include <stdio.h>
#include <string.h>

#include "explain.h"

static const char *who(int h)
{
    return h == XH_CLIENT ? "client" : "server";
}

static void fallback(struct xrun *r, struct xev *e)
{
    if (e->narr[0])
        return;
    if (e->kind == XE_SEND && e->timer) {
        const struct xseg *s = &r->seg[e->seg];
        if (s->retrans)
            snprintf(e->narr, sizeof(e->narr), "The %s's retransmission timer sends the "
                     "segment again (tcp_retransmit_timer, RFC 9293 §3.8.1).", who(s->from));
        else if (s->flags == XF_ACK && !s->len)
            snprintf(e->narr, sizeof(e->narr), "The %s's delayed-ACK timer sends the ACK "
                     "(tcp_delack_timer, RFC 9293 §3.8.6.3).", who(s->from));
        else
            snprintf(e->narr, sizeof(e->narr), "A timer of the %s's kernel sends this "
                     "segment.", who(s->from));
    } else if (e->kind == XE_STATE && e->cause < 0) {
        snprintf(e->narr, sizeof(e->narr), "Between two readings, the %s's socket went from "
                 "%s to %s on its own (a kernel timer).", who(e->host), x_state_name(e->from),
                 x_state_name(e->to));
    } else if (e->kind == XE_APP || e->kind == XE_NOTE) {
        snprintf(e->narr, sizeof(e->narr), "%s.", e->text);
    }
}

void x_narrate(struct xrun *r)
{
    int n = 0;
    for (int i = 0; i < r->n_ev; i++) {
        struct xev *e = &r->ev[i];
        fallback(r, e);
        e->step = e->narr[0] ? ++n : 0;
    }
    r->n_steps = n;
}
