/*
 * stat_json.c — `twkit stat --json`: one object per namespace, in the
 * schema documented in docs/stat-json.md (schema "twkit.stat.v1").  Field
 * names are stable; new fields may be added, none renamed or removed within
 * a schema version.
 */
#include <string.h>

#include "stat.h"

static void addr_field(struct twx_json *j, const char *key, const struct tw_addr *a)
{
    char b[64];
    twx_json_str(j, key, tw_addr_str(a, b, sizeof(b)));
}

static void states_obj(struct twx_json *j, const char *key, const uint64_t *c0, const uint64_t *c1)
{
    twx_json_obj_begin(j, key);
    for (int s = 1; s < TW_STATE_MAX; s++)
        twx_json_u64(j, tw_state_slug(s), c0[s] + (c1 ? c1[s] : 0));
    twx_json_obj_end(j);
}

static void top_obj(struct twx_json *j, const char *key, const struct tw_top *t, enum tw_top_kind kind)
{
    twx_json_obj_begin(j, key);
    twx_json_u64(j, "distinct", t->distinct);
    twx_json_u64(j, "other", t->other);
    twx_json_arr_begin(j, "rows");
    for (size_t i = 0; i < t->n; i++) {
        const struct tw_top_row *row = &t->rows[i];
        twx_json_obj_begin(j, NULL);
        switch (kind) {
        case TW_TOP_LPORT:
            twx_json_u64(j, "port", row->lport);
            twx_json_str(j, "side", row->server_side ? "server" : "client");
            break;
        case TW_TOP_RADDR:
            addr_field(j, "address", &row->raddr);
            break;
        case TW_TOP_LADDR:
            addr_field(j, "address", &row->laddr);
            break;
        case TW_TOP_DEST:
            addr_field(j, "local_address", &row->laddr);
            addr_field(j, "remote_address", &row->raddr);
            if (row->server_side)
                twx_json_null(j, "remote_port");
            else
                twx_json_u64(j, "remote_port", row->rport);
            twx_json_str(j, "side", row->server_side ? "server" : "client");
            break;
        default:
            break;
        }
        twx_json_u64(j, "count", row->count);
        twx_json_obj_end(j);
    }
    twx_json_arr_end(j);
    twx_json_obj_end(j);
}

static void maybe_i64(struct twx_json *j, const char *key, long v)
{
    if (v < 0)
        twx_json_null(j, key);
    else
        twx_json_i64(j, key, v);
}

void stat_render_json(struct twx_json *j, const struct stat_ns *ns, const struct stat_view *v)
{
    const struct tw_report *r = ns->r;
    const struct tw_kernel *k = &r->kernel;
    twx_json_obj_begin(j, NULL);

    twx_json_obj_begin(j, "netns");
    twx_json_str(j, "label", ns->label);
    twx_json_u64(j, "inode", ns->inode);
    twx_json_obj_end(j);
    twx_json_str(j, "source", tw_source_kind_name(r->source));
    twx_json_f64(j, "dump_seconds", r->dump_seconds, 6);

    twx_json_obj_begin(j, "kernel");
    twx_json_str(j, "release", k->release);
    twx_json_obj_begin(j, "sysctl");
    twx_json_arr_begin(j, "ip_local_port_range");
    twx_json_i64(j, NULL, k->port_lo);
    twx_json_i64(j, NULL, k->port_hi);
    twx_json_arr_end(j);
    twx_json_u64(j, "ip_local_reserved_ports_in_range", k->n_reserved);
    maybe_i64(j, "tcp_tw_reuse", k->tw_reuse);
    maybe_i64(j, "tcp_tw_reuse_delay_ms", k->tw_reuse_delay_ms);
    maybe_i64(j, "tcp_timestamps", k->timestamps);
    maybe_i64(j, "tcp_max_tw_buckets", k->max_tw_buckets);
    maybe_i64(j, "tcp_fin_timeout", k->fin_timeout);
    maybe_i64(j, "tcp_rfc1337", k->rfc1337);
    twx_json_obj_end(j);
    twx_json_obj_begin(j, "sockstat");
    maybe_i64(j, "inuse", k->sock_inuse);
    maybe_i64(j, "orphan", k->sock_orphan);
    maybe_i64(j, "tw", k->sock_tw);
    maybe_i64(j, "alloc", k->sock_alloc);
    maybe_i64(j, "mem_pages", k->sock_mem_pages);
    twx_json_obj_end(j);
    twx_json_obj_end(j);

    twx_json_obj_begin(j, "filter");
    twx_json_bool(j, "filtered", r->filtered);
    twx_json_arr_begin(j, "states");
    for (int s = 1; s < TW_STATE_MAX; s++)
        if (r->state_mask & TW_STATE_BIT(s))
            twx_json_str(j, NULL, tw_state_slug(s));
    twx_json_arr_end(j);
    twx_json_obj_end(j);

    twx_json_obj_begin(j, "states");
    twx_json_u64(j, "total", r->total);
    states_obj(j, "all", r->states[0], r->states[1]);
    states_obj(j, "ipv4", r->states[0], NULL);
    states_obj(j, "ipv6", r->states[1], NULL);
    twx_json_obj_end(j);

    twx_json_obj_begin(j, "time_wait");
    twx_json_u64(j, "total", r->tw_total);
    twx_json_u64(j, "client_side", r->tw_client);
    twx_json_u64(j, "server_side", r->tw_server);
    twx_json_u64(j, "fin_wait2_minisocks", r->fw2_minisocks);
    twx_json_u64(j, "freed_next_10s", r->tw_freed_10s);
    twx_json_arr_begin(j, "expiry");
    for (int b = 0; b < TW_EXPIRY_BUCKETS; b++) {
        twx_json_obj_begin(j, NULL);
        twx_json_u64(j, "from_s", b * TW_EXPIRY_BUCKET_MS / 1000);
        twx_json_u64(j, "to_s", (b + 1) * TW_EXPIRY_BUCKET_MS / 1000);
        twx_json_u64(j, "count", r->tw_expiry[b]);
        twx_json_obj_end(j);
    }
    twx_json_arr_end(j);
    twx_json_obj_begin(j, "sockstat_check");
    twx_json_bool(j, "checked", r->sockstat_checked);
    twx_json_u64(j, "dumped", r->tw_total + r->fw2_minisocks);
    maybe_i64(j, "sockstat_before", r->sockstat_tw_before);
    maybe_i64(j, "sockstat_after", k->sock_tw);
    if (r->sockstat_checked)
        twx_json_bool(j, "agrees", r->sockstat_agrees);
    else
        twx_json_null(j, "agrees");
    twx_json_obj_end(j);
    twx_json_obj_begin(j, "memory");
    twx_json_u64(j, "slab_bytes", r->tw_slab_bytes);
    twx_json_u64(j, "slab_objects_ipv4", r->tw_slab_objects[0]);
    twx_json_u64(j, "slab_objects_ipv6", r->tw_slab_objects[1]);
    twx_json_u64(j, "slab_object_bytes_ipv4", k->tw_slab_v4);
    twx_json_u64(j, "slab_object_bytes_ipv6", k->tw_slab_v6);
    twx_json_bool(j, "slab_size_measured", r->slab_measured);
    twx_json_u64(j, "bind_bucket_bytes_min", r->bind_bytes);
    twx_json_u64(j, "client_local_ports", r->tw_lports);
    twx_json_obj_end(j);
    twx_json_obj_begin(j, "max_tw_buckets");
    maybe_i64(j, "limit", k->max_tw_buckets);
    maybe_i64(j, "used", k->sock_tw);
    twx_json_f64(j, "percent", r->max_tw_pct, 2);
    twx_json_obj_end(j);
    twx_json_obj_begin(j, "top");
    top_obj(j, "local_port", &r->top[TW_TOP_LPORT], TW_TOP_LPORT);
    top_obj(j, "remote_address", &r->top[TW_TOP_RADDR], TW_TOP_RADDR);
    top_obj(j, "destination", &r->top[TW_TOP_DEST], TW_TOP_DEST);
    top_obj(j, "local_address", &r->top[TW_TOP_LADDR], TW_TOP_LADDR);
    twx_json_obj_end(j);
    twx_json_obj_end(j);

    twx_json_obj_begin(j, "port_pressure");
    twx_json_obj_begin(j, "range");
    twx_json_i64(j, "low", k->port_lo);
    twx_json_i64(j, "high", k->port_hi);
    twx_json_u64(j, "size", r->range_size);
    twx_json_u64(j, "reserved", r->range_reserved);
    twx_json_u64(j, "listeners", r->range_listeners);
    twx_json_u64(j, "parity_lost", r->range_parity);
    twx_json_u64(j, "effective", r->effective_range);
    twx_json_obj_end(j);
    twx_json_u64(j, "destinations_total", r->n_pressure);
    twx_json_bool(j, "reuse_exact", r->reuse_exact);
    twx_json_obj_begin(j, "host_wide");
    twx_json_u64(j, "ports_in_use", r->host_ports_in_use);
    twx_json_f64(j, "percent", r->host_pct, 2);
    twx_json_obj_end(j);
    size_t rows = stat_pressure_rows(r, v->top);
    twx_json_arr_begin(j, "destinations");
    for (size_t i = 0; i < rows; i++) {
        const struct tw_pressure *p = &r->pressure[i];
        twx_json_obj_begin(j, NULL);
        addr_field(j, "local_address", &p->laddr);
        addr_field(j, "remote_address", &p->raddr);
        twx_json_u64(j, "remote_port", p->rport);
        twx_json_bool(j, "loopback", p->loopback);
        twx_json_bool(j, "reuse_applies", p->reuse_applies);
        twx_json_u64(j, "in_use", p->in_use);
        twx_json_u64(j, "time_wait", p->time_wait);
        twx_json_u64(j, "established", p->established);
        twx_json_u64(j, "other", p->other);
        twx_json_u64(j, "reclaimable", p->reclaimable);
        twx_json_u64(j, "reclaimable_max", p->reclaimable_max);
        twx_json_f64(j, "percent", p->pct, 2);
        twx_json_f64(j, "percent_if_reused", p->pct_min, 2);
        twx_json_obj_end(j);
    }
    twx_json_arr_end(j);
    twx_json_obj_end(j);

    twx_json_obj_end(j);
}
