/*
 * out_json.c — `twkit lab --json`: every run with its settings, rates,
 * latencies, failures by class, the hosts' TIME_WAIT and counter deltas,
 * the capacity the physics predicts, and the time series; schema in
 * docs/lab-json.md (version 2).  Written through twx/json; fields are never
 * omitted, a value that does not apply is null.
 */
#include <string.h>
#include <sys/utsname.h>

#include "lab/lab.h"
#include "twx/json.h"

static void json_capacity(struct twx_json *j, const struct lab_capacity *c)
{
    twx_json_obj_begin(j, "capacity");
    if (c->per_s >= 0)
        twx_json_f64(j, "conn_per_s", c->per_s, 3);
    else
        twx_json_null(j, "conn_per_s");
    twx_json_bool(j, "at_least", c->at_least);
    twx_json_u64(j, "ports", c->ports);
    twx_json_u64(j, "pools", c->pools);
    twx_json_f64(j, "hold_s", c->hold_s, 3);
    twx_json_u64(j, "burst", c->burst);
    if (c->offered >= 0)
        twx_json_f64(j, "offered_conn_per_s", c->offered, 3);
    else
        twx_json_null(j, "offered_conn_per_s");
    twx_json_bool(j, "offered_measured", c->offered_measured);
    twx_json_bool(j, "exceeded", c->exceeded);
    if (c->run_out_s >= 0)
        twx_json_f64(j, "ports_run_out_s", c->run_out_s, 3);
    else
        twx_json_null(j, "ports_run_out_s");
    twx_json_str(j, "why", c->why ? c->why : "");
    twx_json_obj_end(j);
}

static void json_config(struct twx_json *j, const struct lab_run *r)
{
    const struct lab_scenario *c = r->sc;
    twx_json_obj_begin(j, "config");
    twx_json_u64(j, "requests_per_conn", c->rpc);
    twx_json_str(j, "close", c->close);
    twx_json_u64(j, "sources", (uint64_t)r->n_sources);
    twx_json_str(j, "bind", (c->sources || c->one_source) ? c->bind : "none");
    twx_json_u64(j, "destinations", c->nginx ? 1 : (uint64_t)c->ndst);
    twx_json_bool(j, "pool", c->pool);
    if (r->port_lo) {
        twx_json_arr_begin(j, "client_port_range");
        twx_json_u64(j, NULL, (uint64_t)r->port_lo);
        twx_json_u64(j, NULL, (uint64_t)r->port_hi);
        twx_json_arr_end(j);
    } else {
        twx_json_null(j, "client_port_range");
    }
    twx_json_str(j, "client_sysctl", c->sysctl ? c->sysctl : NULL);
    if (c->nginx)
        twx_json_bool(j, "nginx_upstream_keepalive", c->nginx_keepalive);
    twx_json_obj_end(j);
}

static void json_hosts(struct twx_json *j, const struct lab_run *r)
{
    twx_json_obj_begin(j, "hosts");
    for (int h = 0; h < r->n_hosts; h++) {
        twx_json_obj_begin(j, lab_host_name(h));
        twx_json_u64(j, "tw_peak", r->tw_peak[h]);
        twx_json_u64(j, "tw_end", r->tw_end[h]);
        if (r->n_hosts > 2 && h == LAB_PROXY)
            twx_json_u64(j, "tw_backend_leg_peak", r->leg_peak);
        twx_json_obj_begin(j, "counters");
        for (int k = 0; k < TW_C_MAX; k++) {
            if (k == TW_C_CURR_ESTAB)
                continue;
            const char *name = tw_counter_name((enum tw_counter_id)k);
            if (r->have_ctr[h][k])
                twx_json_u64(j, name, r->ctr[h][k]);
            else
                twx_json_null(j, name);
        }
        twx_json_obj_end(j);
        twx_json_obj_end(j);
    }
    twx_json_obj_end(j);
}

static void json_series(struct twx_json *j, const struct lab_run *r)
{
    twx_json_arr_begin(j, "series");
    for (size_t s = 0; s < r->n_rows; s++) {
        const struct lab_row *row = &r->rows[s];
        twx_json_obj_begin(j, NULL);
        twx_json_f64(j, "t", row->t, 3);
        twx_json_u64(j, "attempted", row->attempted);
        twx_json_u64(j, "connections", row->connected);
        twx_json_u64(j, "requests", row->requests);
        uint64_t e = 0, eana = 0;
        for (int k = 0; k < r->n_kinds; k++)
            e += row->err[k];
        for (int k = 0; k < r->n_kinds; k++)
            if (!strcmp(r->kind[k], "EADDRNOTAVAIL"))
                eana = row->err[k];
        twx_json_u64(j, "errors", e);
        twx_json_u64(j, "eaddrnotavail", eana);
        twx_json_obj_begin(j, "error_kinds");
        for (int k = 0; k < r->n_kinds; k++)
            twx_json_u64(j, r->kind[k], row->err[k]);
        twx_json_obj_end(j);
        twx_json_obj_begin(j, "tw");
        for (int h = 0; h < r->n_hosts; h++)
            twx_json_u64(j, lab_host_name(h), row->tw[h]);
        twx_json_obj_end(j);
        if (row->skew_ms >= 0)
            twx_json_f64(j, "skew_ms", row->skew_ms, 2);
        else
            twx_json_null(j, "skew_ms");
        twx_json_obj_end(j);
    }
    twx_json_arr_end(j);
}

static void json_run(struct twx_json *j, const struct lab_run *r)
{
    twx_json_obj_begin(j, NULL);
    twx_json_str(j, "scenario", r->scenario);
    twx_json_str(j, "name", r->name);
    twx_json_str(j, "description", r->sc ? r->sc->what : NULL);
    twx_json_str(j, "status", r->status == LAB_RUN_OK        ? "ok"
                              : r->status == LAB_RUN_SKIPPED ? "skipped"
                                                             : "error");
    twx_json_str(j, "reason", r->reason);
    if (r->status != LAB_RUN_OK) {
        twx_json_obj_end(j);
        return;
    }
    json_config(j, r);
    twx_json_f64(j, "duration_s", r->load.load_s, 3);
    twx_json_f64(j, "wall_s", r->load.wall_s, 3);
    twx_json_obj_begin(j, "connections");
    twx_json_u64(j, "attempted", r->load.n.attempted);
    twx_json_u64(j, "ok", r->load.n.connected);
    twx_json_f64(j, "per_s", r->conn_per_s, 1);
    twx_json_obj_end(j);
    twx_json_obj_begin(j, "requests");
    twx_json_u64(j, "ok", r->load.n.requests);
    twx_json_f64(j, "per_s", r->req_per_s, 1);
    twx_json_obj_end(j);
    lab_msg_put_lat(j, "connect_latency_us", &r->load.conn_lat);
    lab_msg_put_lat(j, "request_latency_us", &r->load.req_lat);
    twx_json_obj_begin(j, "errors");
    for (int k = 0; k < r->n_kinds; k++)
        twx_json_u64(j, r->kind[k], r->err[k]);
    twx_json_obj_end(j);
    twx_json_u64(j, "errors_total", r->err_total);
    lab_msg_put_first(j, "first_eaddrnotavail", &r->load.eana);
    lab_msg_put_first(j, "first_eaddrinuse", &r->load.einuse);
    if (r->load.http_status) {
        twx_json_obj_begin(j, "first_http_error");
        twx_json_u64(j, "status", (uint64_t)r->load.http_status);
        twx_json_str(j, "reason", r->load.http_reason ? r->load.http_reason : "");
        twx_json_obj_end(j);
    } else {
        twx_json_null(j, "first_http_error");
    }
    json_hosts(j, r);
    if (r->have_be) {
        twx_json_obj_begin(j, "backend");
        twx_json_u64(j, "accepted", r->be.accepted);
        twx_json_u64(j, "requests", r->be.requests);
        twx_json_u64(j, "resets", r->be.resets);
        twx_json_u64(j, "bad_requests", r->be.bad_requests);
        twx_json_u64(j, "peer_closed", r->be.peer_closed);
        twx_json_u64(j, "server_closed", r->be.server_closed);
        twx_json_obj_end(j);
    } else {
        twx_json_null(j, "backend");
    }
    json_capacity(j, &r->cap);
    json_series(j, r);
    twx_json_obj_end(j);
}

void lab_print_json(FILE *f, struct lab_run *runs, size_t n)
{
    struct twx_json j;
    twx_json_init(&j, f, false);
    twx_json_obj_begin(&j, NULL);
    twx_json_u64(&j, "version", 2);
    struct utsname u;
    uname(&u);
    twx_json_str(&j, "kernel", u.release);
    twx_json_obj_begin(&j, "options");
    twx_json_f64(&j, "duration_s", lab_opt.duration, 3);
    twx_json_f64(&j, "rate", lab_opt.rate, 1);
    twx_json_u64(&j, "concurrency", lab_opt.conc);
    twx_json_u64(&j, "threads", lab_opt.threads);
    twx_json_u64(&j, "sources", lab_opt.sources);
    if (lab_opt.port_lo) {
        twx_json_arr_begin(&j, "port_range");
        twx_json_u64(&j, NULL, (uint64_t)lab_opt.port_lo);
        twx_json_u64(&j, NULL, (uint64_t)lab_opt.port_hi);
        twx_json_arr_end(&j);
    } else {
        twx_json_null(&j, "port_range");
    }
    twx_json_obj_end(&j);
    twx_json_arr_begin(&j, "runs");
    for (size_t i = 0; i < n; i++)
        json_run(&j, &runs[i]);
    twx_json_arr_end(&j);
    twx_json_obj_end(&j);
    twx_json_end(&j);
}
