/*
 * json.c — `twkit trace --json`: NDJSON, one object per line, schema
 * twkit.trace.v1 (docs/trace-json.md): a "start" line once attached, an
 * "interval" line per --interval, a "total" line at exit.  Every row is
 * written (the human view's --top does not apply); strings are raw, the
 * JSON writer escapes them.
 */
#include <stdlib.h>
#include <string.h>

#include "trace.h"
#include "twx/json.h"

static void dest(struct twx_json *j, const struct trace_addr *a)
{
    char ip[64];
    int fam;
    twx_json_obj_begin(j, "destination");
    twx_json_str(j, "kind", a->kind == TRACE_DEST_LOCAL ? "local"
                            : a->kind == TRACE_DEST_BIND ? "bind" : "remote");
    if (a->kind == TRACE_DEST_LOCAL) {
        twx_json_null(j, "address");
        twx_json_null(j, "family");
    } else {
        trace_ip_str(a, ip, sizeof(ip), &fam);
        twx_json_str(j, "address", ip);
        twx_json_u64(j, "family", (uint64_t)fam);
    }
    twx_json_u64(j, "port", a->port);
    twx_json_obj_end(j);
}

static void who(struct twx_json *j, const struct trace_who *w, struct trace_cgroups *cg)
{
    char comm[TRACE_COMM_LEN + 1], cid[16];
    memcpy(comm, w->comm, TRACE_COMM_LEN);
    comm[TRACE_COMM_LEN] = '\0';
    if (w->tgid) {
        twx_json_u64(j, "pid", w->tgid);
        twx_json_str(j, "comm", comm);
    } else {
        twx_json_null(j, "pid");
        twx_json_null(j, "comm");
    }
    const char *p = w->tgid ? trace_cgroups_path(cg, w->cgroup) : NULL;
    twx_json_str(j, "cgroup", p);
    if (w->cgroup)
        twx_json_u64(j, "cgroup_id", w->cgroup);
    else
        twx_json_null(j, "cgroup_id");
    twx_json_str(j, "container", p && trace_container_id(p, cid, sizeof(cid))[0] ? cid : NULL);
    twx_json_u64(j, "netns", w->netns);
}

static void head(struct twx_json *j, FILE *f, const char *type)
{
    twx_json_init(j, f, false);
    twx_json_obj_begin(j, NULL);
    twx_json_str(j, "type", type);
    twx_json_str(j, "schema", "twkit.trace.v1");
}

void trace_json_start(FILE *f, const struct trace_report *r, const char *method_why,
                      double interval)
{
    struct twx_json j;
    head(&j, f, "start");
    twx_json_str(&j, "twkit_version", TW_VERSION);
    twx_json_f64(&j, "time", (double)r->wall_ns / 1e9, 3);
    twx_json_str(&j, "method", r->exact ? "exact" : "approximate");
    twx_json_str(&j, "method_reason", method_why);
    twx_json_str(&j, "scope", r->scope);
    twx_json_arr_begin(&j, "namespaces");
    for (size_t i = 0; i < r->nchecks; i++) {
        twx_json_obj_begin(&j, NULL);
        twx_json_u64(&j, "netns", r->checks[i].netns);
        twx_json_str(&j, "label", r->checks[i].label);
        twx_json_obj_end(&j);
    }
    twx_json_arr_end(&j);
    twx_json_f64(&j, "interval_s", interval, 3);
    twx_json_obj_end(&j);
    twx_json_end(&j);
    fflush(f);
}

static void checks(struct twx_json *j, const struct trace_report *r)
{
    uint64_t tw = 0, killed = 0, births = 0;
    bool equal = true, settled = true;
    twx_json_obj_begin(j, "cross_check");
    twx_json_arr_begin(j, "namespaces");
    for (size_t i = 0; i < r->nchecks; i++) {
        const struct trace_ns_check *c = &r->checks[i];
        bool eq = c->births == c->tw_delta + c->killed_delta;
        twx_json_obj_begin(j, NULL);
        twx_json_u64(j, "netns", c->netns);
        twx_json_str(j, "label", c->label);
        twx_json_u64(j, "births", c->births);
        twx_json_u64(j, "tcpext_tw", c->tw_delta);
        twx_json_u64(j, "tcpext_tw_killed", c->killed_delta);
        twx_json_bool(j, "equal", eq);
        twx_json_bool(j, "settled", c->settled);
        twx_json_obj_end(j);
        tw += c->tw_delta;
        killed += c->killed_delta;
        births += c->births;
        equal &= eq;
        settled &= c->settled;
    }
    twx_json_arr_end(j);
    twx_json_u64(j, "births", births);
    twx_json_u64(j, "tcpext_tw", tw);
    twx_json_u64(j, "tcpext_tw_killed", killed);
    twx_json_bool(j, "equal", equal);
    twx_json_bool(j, "settled", settled);
    twx_json_obj_end(j);
}

void trace_json(FILE *f, const struct trace_report *r)
{
    struct twx_json j;
    head(&j, f, r->kind);
    twx_json_f64(&j, "time", (double)r->wall_ns / 1e9, 3);
    twx_json_f64(&j, "seconds", r->seconds, 3);
    twx_json_str(&j, "method", r->exact ? "exact" : "approximate");
    twx_json_obj_begin(&j, "births");
    twx_json_u64(&j, "total", r->births.tw + r->births.fw2);
    twx_json_u64(&j, "time_wait", r->births.tw);
    twx_json_u64(&j, "fin_wait2", r->births.fw2);
    twx_json_obj_end(&j);
    checks(&j, r);

    static const char *const fields[] = {"time_wait", "fin_wait2", "active", "passive",
                                         "simultaneous", "rst"};
    size_t *o = trace_tab_order(r->closes, 2);
    twx_json_arr_begin(&j, "closes");
    for (size_t i = 0; o && i < r->closes->n; i++) {
        const struct trace_close_key *k = trace_tab_key(r->closes, o[i]);
        const uint64_t *v = trace_tab_val(r->closes, o[i]);
        twx_json_obj_begin(&j, NULL);
        who(&j, &k->who, r->cg);
        dest(&j, &k->dst);
        for (size_t n = 0; n < TRACE_CLOSE_NV; n++)
            twx_json_u64(&j, fields[n], v[n]);
        twx_json_obj_end(&j);
    }
    twx_json_arr_end(&j);
    free(o);

    o = trace_tab_order(r->fails, 2);
    twx_json_arr_begin(&j, "failures");
    for (size_t i = 0; o && i < r->fails->n; i++) {
        const struct trace_fail_key *k = trace_tab_key(r->fails, o[i]);
        const uint64_t *v = trace_tab_val(r->fails, o[i]);
        char en[32];
        twx_json_obj_begin(&j, NULL);
        who(&j, &k->who, r->cg);
        twx_json_str(&j, "call", k->call == TRACE_BIND ? "bind" : "connect");
        twx_json_str(&j, "errno", trace_errno_name(k->err, en, sizeof(en)));
        twx_json_u64(&j, "errno_value", k->err);
        dest(&j, &k->dst);
        twx_json_u64(&j, "now", v[0]);
        twx_json_u64(&j, "later", v[1]);
        twx_json_obj_end(&j);
    }
    twx_json_arr_end(&j);
    free(o);

    twx_json_obj_begin(&j, "lost");
    twx_json_u64(&j, "rows", r->lost_rows);
    twx_json_u64(&j, "pending", r->lost_pending);
    twx_json_u64(&j, "missed", r->missed);
    twx_json_obj_end(&j);
    twx_json_u64(&j, "unattributed_births", r->unattributed);
    if (r->nprogs) {
        twx_json_arr_begin(&j, "programs");
        for (size_t i = 0; i < r->nprogs; i++) {
            const struct trace_prog_stat *p = &r->progs[i];
            twx_json_obj_begin(&j, NULL);
            twx_json_str(&j, "name", p->name);
            twx_json_u64(&j, "events", p->run_cnt);
            twx_json_u64(&j, "run_time_ns", p->run_time_ns);
            if (p->run_cnt)
                twx_json_f64(&j, "ns_per_event", (double)p->run_time_ns / (double)p->run_cnt, 1);
            else
                twx_json_null(&j, "ns_per_event");
            twx_json_u64(&j, "recursion_misses", p->recursion_misses);
            twx_json_obj_end(&j);
        }
        twx_json_arr_end(&j);
    }
    twx_json_obj_end(&j);
    twx_json_end(&j);
    fflush(f);
}
