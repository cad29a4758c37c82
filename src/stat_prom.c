/*
 * stat_prom.c — `twkit stat --prom`: the report in the Prometheus text
 * exposition format (version 0.0.4), for node_exporter's textfile collector
 * or any scraper.  Every series is a gauge named twkit_*, with the base unit
 * in its name; every series carries the namespace as netns="...".  The
 * output is checked by `promtool check metrics` in the tests; the metric
 * reference is docs/metrics.md.
 */
#include <string.h>

#include "stat.h"

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
}

static void family(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void ns_label(FILE *f, const struct stat_ns *ns)
{
    fputs("netns=\"", f);
    esc(f, ns->label);
    fputc('"', f);
}

static void addr_label(FILE *f, const char *key, const struct tw_addr *a)
{
    char b[64];
    fprintf(f, ",%s=\"%s\"", key, tw_addr_str(a, b, sizeof(b)));
}

#define EACH_NS for (size_t i = 0; i < n; i++)

void stat_render_prom(FILE *f, const struct stat_ns *list, size_t n, const struct stat_view *v)
{
    family(f, "twkit_sockets", "TCP sockets by family and state.");
    EACH_NS {
        for (int fam = 0; fam < 2; fam++)
            for (int s = 1; s < TW_STATE_MAX; s++) {
                if (!(list[i].r->state_mask & TW_STATE_BIT(s)))
                    continue;
                fputs("twkit_sockets{", f);
                ns_label(f, &list[i]);
                fprintf(f, ",family=\"%s\",state=\"%s\"} %llu\n", fam ? "ipv6" : "ipv4",
                        tw_state_slug(s), (unsigned long long)list[i].r->states[fam][s]);
            }
    }
    family(f, "twkit_time_wait_sockets",
           "TIME_WAIT sockets by side (server: the local port is a listening port).");
    EACH_NS {
        for (int side = 0; side < 2; side++) {
            fputs("twkit_time_wait_sockets{", f);
            ns_label(f, &list[i]);
            fprintf(f, ",side=\"%s\"} %llu\n", side ? "server" : "client",
                    (unsigned long long)(side ? list[i].r->tw_server : list[i].r->tw_client));
        }
    }
    family(f, "twkit_time_wait_expiring_sockets",
           "TIME_WAIT sockets by time left before expiry, in 5 second buckets.");
    EACH_NS {
        for (int b = 0; b < TW_EXPIRY_BUCKETS; b++) {
            fputs("twkit_time_wait_expiring_sockets{", f);
            ns_label(f, &list[i]);
            fprintf(f, ",from_seconds=\"%u\",to_seconds=\"%u\"} %llu\n",
                    b * TW_EXPIRY_BUCKET_MS / 1000, (b + 1) * TW_EXPIRY_BUCKET_MS / 1000,
                    (unsigned long long)list[i].r->tw_expiry[b]);
        }
    }
    family(f, "twkit_time_wait_ports_freed_next_10s_sockets",
           "Client-side TIME_WAIT sockets that expire within 10 seconds.");
    EACH_NS {
        fputs("twkit_time_wait_ports_freed_next_10s_sockets{", f);
        ns_label(f, &list[i]);
        fprintf(f, "} %llu\n", (unsigned long long)list[i].r->tw_freed_10s);
    }
    family(f, "twkit_time_wait_memory_bytes",
           "Kernel memory held by TIME_WAIT: slab objects and (at least) bind buckets.");
    EACH_NS {
        fputs("twkit_time_wait_memory_bytes{", f);
        ns_label(f, &list[i]);
        fprintf(f, ",kind=\"slab\"} %llu\n", (unsigned long long)list[i].r->tw_slab_bytes);
        fputs("twkit_time_wait_memory_bytes{", f);
        ns_label(f, &list[i]);
        fprintf(f, ",kind=\"bind_buckets\"} %llu\n", (unsigned long long)list[i].r->bind_bytes);
    }
    family(f, "twkit_sockstat_time_wait_sockets",
           "The kernel's own count (/proc/net/sockstat tw: TIME_WAIT and FIN_WAIT2 minisocks).");
    EACH_NS {
        if (list[i].r->kernel.sock_tw < 0)
            continue;
        fputs("twkit_sockstat_time_wait_sockets{", f);
        ns_label(f, &list[i]);
        fprintf(f, "} %ld\n", list[i].r->kernel.sock_tw);
    }
    family(f, "twkit_tcp_max_tw_buckets", "net.ipv4.tcp_max_tw_buckets of the namespace.");
    EACH_NS {
        if (list[i].r->kernel.max_tw_buckets < 0)
            continue;
        fputs("twkit_tcp_max_tw_buckets{", f);
        ns_label(f, &list[i]);
        fprintf(f, "} %ld\n", list[i].r->kernel.max_tw_buckets);
    }
    family(f, "twkit_tcp_sysctl", "TIME_WAIT-related TCP sysctls of the namespace (-1: absent).");
    EACH_NS {
        const struct tw_kernel *k = &list[i].r->kernel;
        const struct {
            const char *name;
            long v;
        } sc[] = {
            {"net.ipv4.tcp_tw_reuse", k->tw_reuse},
            {"net.ipv4.tcp_tw_reuse_delay", k->tw_reuse_delay_ms},
            {"net.ipv4.tcp_timestamps", k->timestamps},
            {"net.ipv4.tcp_fin_timeout", k->fin_timeout},
            {"net.ipv4.tcp_rfc1337", k->rfc1337},
            {"net.ipv4.ip_local_port_range_low", k->port_lo},
            {"net.ipv4.ip_local_port_range_high", k->port_hi},
        };
        for (size_t s = 0; s < sizeof(sc) / sizeof(sc[0]); s++) {
            fputs("twkit_tcp_sysctl{", f);
            ns_label(f, &list[i]);
            fprintf(f, ",name=\"%s\"} %ld\n", sc[s].name, sc[s].v);
        }
    }
    family(f, "twkit_ephemeral_ports",
           "Ephemeral port range: size, reserved, listeners, parity_lost, effective.");
    EACH_NS {
        const struct tw_report *r = list[i].r;
        const struct {
            const char *kind;
            uint32_t v;
        } pr[] = {{"size", r->range_size},
                  {"reserved", r->range_reserved},
                  {"listeners", r->range_listeners},
                  {"parity_lost", r->range_parity},
                  {"effective", r->effective_range}};
        for (size_t s = 0; s < 5; s++) {
            fputs("twkit_ephemeral_ports{", f);
            ns_label(f, &list[i]);
            fprintf(f, ",kind=\"%s\"} %u\n", pr[s].kind, pr[s].v);
        }
    }
    family(f, "twkit_destination_ports_in_use",
           "Client-side ports in use per destination, by state (time_wait, established, "
           "other) and reclaimable (TIME_WAIT that tcp_tw_reuse may take over now).");
    EACH_NS {
        const struct tw_report *r = list[i].r;
        size_t rows = stat_pressure_rows(r, v->top);
        for (size_t d = 0; d < rows; d++) {
            const struct tw_pressure *p = &r->pressure[d];
            const struct {
                const char *st;
                uint64_t v;
            } c[] = {{"time_wait", p->time_wait},
                     {"established", p->established},
                     {"other", p->other},
                     {"reclaimable", p->reclaimable}};
            for (size_t s = 0; s < 4; s++) {
                fputs("twkit_destination_ports_in_use{", f);
                ns_label(f, &list[i]);
                addr_label(f, "src", &p->laddr);
                addr_label(f, "dst", &p->raddr);
                fprintf(f, ",dport=\"%u\",state=\"%s\"} %llu\n", p->rport, c[s].st,
                        (unsigned long long)c[s].v);
            }
        }
    }
    family(f, "twkit_destination_port_pressure_ratio",
           "Ports held per destination (reclaimable excluded) over the effective range.");
    EACH_NS {
        const struct tw_report *r = list[i].r;
        size_t rows = stat_pressure_rows(r, v->top);
        for (size_t d = 0; d < rows; d++) {
            const struct tw_pressure *p = &r->pressure[d];
            fputs("twkit_destination_port_pressure_ratio{", f);
            ns_label(f, &list[i]);
            addr_label(f, "src", &p->laddr);
            addr_label(f, "dst", &p->raddr);
            fprintf(f, ",dport=\"%u\"} %.6f\n", p->rport, p->pct / 100.0);
        }
    }
    family(f, "twkit_time_wait_top_local_port_sockets", "TIME_WAIT sockets of the top local ports.");
    EACH_NS {
        const struct tw_top *t = &list[i].r->top[TW_TOP_LPORT];
        for (size_t k = 0; k < t->n; k++) {
            fputs("twkit_time_wait_top_local_port_sockets{", f);
            ns_label(f, &list[i]);
            fprintf(f, ",port=\"%u\",side=\"%s\"} %llu\n", t->rows[k].lport,
                    t->rows[k].server_side ? "server" : "client",
                    (unsigned long long)t->rows[k].count);
        }
    }
    family(f, "twkit_time_wait_top_remote_address_sockets",
           "TIME_WAIT sockets of the top remote addresses.");
    EACH_NS {
        const struct tw_top *t = &list[i].r->top[TW_TOP_RADDR];
        for (size_t k = 0; k < t->n; k++) {
            fputs("twkit_time_wait_top_remote_address_sockets{", f);
            ns_label(f, &list[i]);
            addr_label(f, "address", &t->rows[k].raddr);
            fprintf(f, "} %llu\n", (unsigned long long)t->rows[k].count);
        }
    }
    family(f, "twkit_time_wait_top_destination_sockets",
           "TIME_WAIT sockets of the top destinations (dport empty: server side).");
    EACH_NS {
        const struct tw_top *t = &list[i].r->top[TW_TOP_DEST];
        for (size_t k = 0; k < t->n; k++) {
            fputs("twkit_time_wait_top_destination_sockets{", f);
            ns_label(f, &list[i]);
            addr_label(f, "src", &t->rows[k].laddr);
            addr_label(f, "dst", &t->rows[k].raddr);
            if (t->rows[k].server_side)
                fputs(",dport=\"\",side=\"server\"", f);
            else
                fprintf(f, ",dport=\"%u\",side=\"client\"", t->rows[k].rport);
            fprintf(f, "} %llu\n", (unsigned long long)t->rows[k].count);
        }
    }
    family(f, "twkit_time_wait_top_local_address_sockets",
           "TIME_WAIT sockets of the top local addresses.");
    EACH_NS {
        const struct tw_top *t = &list[i].r->top[TW_TOP_LADDR];
        for (size_t k = 0; k < t->n; k++) {
            fputs("twkit_time_wait_top_local_address_sockets{", f);
            ns_label(f, &list[i]);
            addr_label(f, "address", &t->rows[k].laddr);
            fprintf(f, "} %llu\n", (unsigned long long)t->rows[k].count);
        }
    }
    family(f, "twkit_stat_dump_duration_seconds", "Time the socket dump took.");
    EACH_NS {
        fputs("twkit_stat_dump_duration_seconds{", f);
        ns_label(f, &list[i]);
        fprintf(f, "} %.6f\n", list[i].r->dump_seconds);
    }
}
