/*
 * json.c — `twkit explain --json`: every run with every segment (as sent
 * and as delivered, with times), every event of the timeline (state
 * changes included), the narration of each step, the expectations with the
 * kernel's answers, and the counter deltas.  Schema twkit.explain.v1,
 * documented in docs/explain-json.md.  Strings go through twx/json, which
 * escapes them; times are nanoseconds since the run began.
 */
#include <stdio.h>
#include <string.h>

#include "explain.h"
#include "twx/json.h"

static const char *host_name(int h)
{
    return h == XH_CLIENT ? "client" : h == XH_SERVER ? "server" : NULL;
}

static const char *fate_name(enum x_fate f)
{
    static const char *const n[] = {"pass", "drop", "hold", "duplicate", "replay"};
    return n[f];
}

static const char *kind_name(enum x_ev_kind k)
{
    static const char *const n[] = {"send", "deliver", "app", "state", "note"};
    return n[k];
}

static void segment(struct twx_json *j, const struct xseg *s)
{
    char fl[32];
    twx_json_obj_begin(j, NULL);
    twx_json_i64(j, "id", s->id);
    twx_json_str(j, "from", host_name(s->from));
    twx_json_str(j, "to", host_name(1 - s->from));
    twx_json_i64(j, "connection", s->conn);
    twx_json_str(j, "flags", x_flags_str(s->flags, fl, sizeof(fl)));
    twx_json_u64(j, "seq", s->seq);
    twx_json_u64(j, "ack", s->ack);
    twx_json_u64(j, "relative_seq", s->rseq);
    twx_json_u64(j, "relative_ack", s->rack);
    twx_json_u64(j, "len", s->len);
    twx_json_u64(j, "window", s->win);
    if (s->mss)
        twx_json_u64(j, "mss", s->mss);
    else
        twx_json_null(j, "mss");
    if (s->has_ts) {
        twx_json_u64(j, "tsval", s->tsval);
        twx_json_u64(j, "tsecr", s->tsecr);
    } else {
        twx_json_null(j, "tsval");
        twx_json_null(j, "tsecr");
    }
    twx_json_bool(j, "retransmission", s->retrans);
    twx_json_str(j, "wire", fate_name(s->fate));
    twx_json_u64(j, "sent_ns", s->sent_ns);
    twx_json_arr_begin(j, "delivered_ns");
    for (int k = 0; k < s->n_deliv; k++)
        twx_json_u64(j, NULL, s->deliv_ns[k]);
    twx_json_arr_end(j);
    twx_json_i64(j, "moved_seq", s->moved);
    twx_json_i64(j, "moved_ack", s->moved_ack);
    twx_json_obj_end(j);
}

static void event(struct twx_json *j, const struct xrun *r, const struct xev *e)
{
    twx_json_obj_begin(j, NULL);
    twx_json_u64(j, "t_ns", e->t_ns);
    twx_json_str(j, "kind", kind_name(e->kind));
    twx_json_str(j, "host", host_name(e->kind == XE_SEND ? r->seg[e->seg].from : e->host));
    switch (e->kind) {
    case XE_SEND:
        twx_json_i64(j, "segment", e->seg);
        twx_json_bool(j, "timer", e->timer);
        break;
    case XE_DELIVER:
        twx_json_i64(j, "segment", e->seg);
        if (e->expires_before >= 0)
            twx_json_i64(j, "time_wait_ms_left_before", e->expires_before);
        if (e->expires_ms >= 0)
            twx_json_i64(j, "time_wait_ms_left", e->expires_ms);
        break;
    case XE_APP:
    case XE_NOTE:
        twx_json_str(j, "what", e->text);
        twx_json_str(j, "result", e->result[0] ? e->result : NULL);
        break;
    case XE_STATE:
        twx_json_str(j, "from", x_state_name(e->from));
        twx_json_str(j, "to", x_state_name(e->to));
        if (e->expires_ms >= 0)
            twx_json_i64(j, "time_wait_ms_left", e->expires_ms);
        if (e->cause >= 0)
            twx_json_i64(j, "after_event", e->cause);
        else
            twx_json_null(j, "after_event");
        break;
    }
    if (e->step) {
        twx_json_i64(j, "step", e->step);
        twx_json_str(j, "narration", e->narr);
    }
    twx_json_obj_end(j);
}

void x_render_json_run(struct twx_json *j, const struct xrun *r)
{
    twx_json_obj_begin(j, NULL);
    twx_json_str(j, "scenario", r->sc->name);
    twx_json_str(j, "variant", r->v->name);
    twx_json_str(j, "title", r->v->title);
    twx_json_str(j, "summary", r->sc->summary);
    twx_json_u64(j, "start_unix_ns", r->wall0_ns);
    bool ok = !r->failed;
    for (int i = 0; i < r->n_exp; i++)
        ok &= r->exp[i].ok;
    twx_json_bool(j, "ok", ok);
    twx_json_str(j, "error", r->failed ? r->err : NULL);
    twx_json_arr_begin(j, "hosts");
    for (int h = 0; h < XH_N; h++) {
        twx_json_obj_begin(j, NULL);
        twx_json_str(j, "name", host_name(h));
        twx_json_str(j, "address", r->addr[h]);
        twx_json_u64(j, "port", r->port[h]);
        twx_json_obj_begin(j, "sysctls");
        for (int i = 0; i < 4 && r->v->sysctl[h][i]; i++) {
            char name[64];
            const char *kv = r->v->sysctl[h][i];
            const char *eq = strchr(kv, '=');
            snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - kv) : 63, kv);
            twx_json_str(j, name, eq ? eq + 1 : "");
        }
        twx_json_obj_end(j);
        twx_json_obj_end(j);
    }
    twx_json_arr_end(j);
    twx_json_arr_begin(j, "segments");
    for (int i = 0; i < r->n_seg; i++)
        segment(j, &r->seg[i]);
    twx_json_arr_end(j);
    twx_json_arr_begin(j, "events");
    for (int i = 0; i < r->n_ev; i++)
        event(j, r, &r->ev[i]);
    twx_json_arr_end(j);
    twx_json_arr_begin(j, "expectations");
    for (int i = 0; i < r->n_exp; i++) {
        twx_json_obj_begin(j, NULL);
        twx_json_str(j, "what", r->exp[i].what);
        twx_json_bool(j, "ok", r->exp[i].ok);
        twx_json_str(j, "kernel", r->exp[i].got);
        twx_json_obj_end(j);
    }
    twx_json_arr_end(j);
    twx_json_obj_begin(j, "counters");
    for (int h = 0; h < XH_N; h++) {
        twx_json_obj_begin(j, host_name(h));
        for (int i = 0; i < r->n_count; i++)
            if (r->count[i].host == h)
                twx_json_i64(j, tw_counter_name(r->count[i].id), r->count[i].delta);
        twx_json_obj_end(j);
    }
    twx_json_obj_end(j);
    twx_json_obj_end(j);
}
