/*
 * fuzz_diag_buf.c — libFuzzer harness for tw_parse_diag_buf and
 * tw_parse_diag_msg (lib/src_netlink.c): the walker over netlink
 * SOCK_DIAG replies that serves live dumps, recorded fixtures and replays.
 *
 * The first byte shapes the call: bit 0 passes a NULL query, bits 1-2 pick
 * the state mask and the family, bits 4-7 make the callback stop at that
 * socket.  The rest is the buffer, in an exact-size heap copy (malloc keeps
 * the 4-byte alignment netlink messages assume).  Checked: every socket
 * handed to the callback is well formed and selected by the query; a
 * positive result is the callback's stop value and nothing else; the
 * callback never runs after it asked to stop; negative results are errors.
 * The buffer is also given to tw_parse_diag_msg as one reply payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <twkit/error.h>
#include <twkit/sock.h>

struct ctx {
    const struct tw_query *q;
    unsigned n, stop_at;
    bool stopped;
};

#define STOP 0x5701

static int cb(const struct tw_sock *s, void *arg)
{
    struct ctx *c = arg;
    if (c->stopped)
        abort(); /* called again after asking to stop */
    if (s->state < 1 || s->state >= TW_STATE_MAX)
        abort();
    if (s->laddr.family != s->raddr.family ||
        (s->laddr.family != AF_INET && s->laddr.family != AF_INET6))
        abort();
    if (c->q && !(c->q->states & TW_STATE_BIT(s->state)))
        abort();
    if (c->q && (s->laddr.family == AF_INET ? !c->q->want_v4 : !c->q->want_v6))
        abort();
    c->n++;
    if (c->stop_at && c->n == c->stop_at) {
        c->stopped = true;
        return STOP;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);

    struct tw_query q;
    tw_query_init(&q);
    switch ((sel >> 1) & 3) {
    case 1: q.states = TW_STATE_BIT(TW_TIME_WAIT); break;
    case 2: q.want_v4 = false; break;
    case 3: q.states = TW_STATE_BIT(TW_LISTEN); q.want_v6 = false; break;
    default: break;
    }
    struct ctx c = {.q = sel & 1 ? NULL : &q, .stop_at = sel >> 4};
    bool done = false;
    int cb_ret = -1;
    int r = tw_parse_diag_buf(buf, len, c.q, cb, &c, &done, &cb_ret);
    if (r > 0 && (r != STOP || !c.stopped || cb_ret != STOP))
        abort();
    if (c.stopped && r != STOP)
        abort();
    if (r == 0 && cb_ret != 0)
        abort();

    struct tw_sock s;
    int m = tw_parse_diag_msg(buf, len, &s);
    if (m != 0 && m != TW_ETRUNCATED && m != TW_EMALFORMED && m != TW_EUNKSTATE)
        abort();
    if (m == 0 && (s.state < 1 || s.state >= TW_STATE_MAX))
        abort();
    free(buf);
    return 0;
}
