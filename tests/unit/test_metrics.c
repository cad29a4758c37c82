/*
 * test_metrics.c — the metric definition table and the exposition writer
 * (src/metrics.c, metrics_emit.c, metrics_trace.c and metrics_live.c,
 * included directly: internal to
 * the twkit command).
 *
 * Pages are rendered from reports built through libtwkit's public
 * lifecycle from synthetic sockets, so every expected line is worked out
 * by hand: destinations ranked by pressure, the top K with their own
 * series, the rest folded into dst="other" with sums and worst values;
 * the two formats' differences (counter and info names, UNIT, EOF); label
 * escaping of outside strings; Accept negotiation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/metrics.c"
#include "../../src/metrics_emit.c"
#include "../../src/metrics_trace.c"
#include "../../src/metrics_live.c"

/* ---- helpers --------------------------------------------------------------------- */

static struct tw_kernel K;
static int REUSE; /* net.ipv4.tcp_tw_reuse of the next dests() */

static void kernel(void)
{
    memset(&K, 0, sizeof(K));
    K.port_lo = 40000;
    K.port_hi = 40099; /* 100 ports, ends of different parity: effective 100 */
    K.tw_reuse = REUSE;
    K.tw_reuse_delay_ms = 1000;
    K.timestamps = 1;
    K.max_tw_buckets = 4096;
    K.fin_timeout = 60;
    K.rfc1337 = 0;
    K.sock_inuse = K.sock_orphan = K.sock_alloc = K.sock_mem_pages = -1;
    K.sock_tw = 12;
}

static void add(struct tw_report *r, int state, const char *l, unsigned lport, const char *ra,
                unsigned rport)
{
    struct tw_sock s;
    memset(&s, 0, sizeof(s));
    s.state = (uint8_t)state;
    cr_assert_eq(tw_parse_addr(l, &s.laddr), 0);
    cr_assert_eq(tw_parse_addr(ra, &s.raddr), 0);
    s.lport = (uint16_t)lport;
    s.rport = (uint16_t)rport;
    s.timer = state == TW_TIME_WAIT ? 3 : 0;
    s.expires_ms = state == TW_TIME_WAIT ? 30000 : 0;
    s.inode = state == TW_TIME_WAIT ? 0 : 1000 + lport;
    cr_assert_eq(tw_report_add(&s, r), 0);
}

/*
 * Destination d (d = 0..n-1) is 198.18.0.1 -> 198.18.1.d:80 holding
 * n - d ports in TIME_WAIT, so pressure falls with d; d = 0 also has one
 * ESTABLISHED and one SYN_SENT.
 */
static struct tw_report *dests(unsigned n)
{
    struct tw_report_opts o;
    memset(&o, 0, sizeof(o));
    o.top_n = 10;
    tw_query_init(&o.query);
    struct tw_report *r = NULL;
    cr_assert_eq(tw_report_new(&o, &r), 0);
    kernel();
    tw_report_set_kernel(r, &K);
    for (unsigned d = 0; d < n; d++) {
        char ra[32];
        snprintf(ra, sizeof(ra), "198.18.1.%u", d);
        for (unsigned k = 0; k < n - d; k++)
            add(r, TW_TIME_WAIT, "198.18.0.1", 40000 + k, ra, 80);
    }
    add(r, TW_ESTABLISHED, "198.18.0.1", 40090, "198.18.1.0", 80);
    add(r, TW_SYN_SENT, "198.18.0.1", 40091, "198.18.1.0", 80);
    cr_assert_eq(tw_report_finish(r), 0);
    return r;
}

static char *render(const struct metrics_page *p, enum metric_format fmt, size_t *samples)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    size_t n = metrics_render(f, fmt, p);
    fclose(f);
    if (samples)
        *samples = n;
    return buf;
}

/* The page has exactly this line. */
static bool has_line(const char *page, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = page; (p = strstr(p, line)); p++)
        if ((p == page || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

static size_t count_prefix(const char *page, const char *prefix)
{
    size_t c = 0, n = strlen(prefix);
    for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        c += !strncmp(p, prefix, n);
    return c;
}

static struct metrics_self SELF = {.scrape_seconds = 0.25, .timestamp = 1700000000.5,
                                   .success = true, .dumps = 7, .errors = 2};

/* ---- the table ---------------------------------------------------------------------- */

Test(metrics, every_kernel_counter_has_one_family)
{
    for (int id = 0; id < TW_C_MAX; id++) {
        int n = 0;
        for (size_t i = 0; i < metric_ndefs; i++)
            n += metric_defs[i].emit == e_counter && metric_defs[i].arg == id;
        cr_expect_eq(n, 1, "counter %s has %d families", tw_counter_name(id), n);
    }
}

Test(metrics, names_are_unique_snake_case_with_units_as_suffix)
{
    for (size_t i = 0; i < metric_ndefs; i++) {
        const struct metric_def *d = &metric_defs[i];
        char a[128], b[128];
        cr_expect(!strncmp(d->name, "twkit_", 6), "%s", d->name);
        for (const char *c = d->name; *c; c++)
            cr_expect((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_', "%s",
                      d->name);
        size_t n = strlen(d->name);
        cr_expect(n < 7 || strcmp(d->name + n - 6, "_total"), "%s: _total is added", d->name);
        if (d->unit) {
            size_t u = strlen(d->unit);
            cr_expect(n > u + 1 && d->name[n - u - 1] == '_' && !strcmp(d->name + n - u, d->unit),
                      "%s: unit %s is not its suffix", d->name, d->unit);
        }
        cr_expect_str_neq(d->help, "");
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(metrics_sample_name(d, a, sizeof(a)),
                              metrics_sample_name(&metric_defs[j], b, sizeof(b)));
    }
}

Test(metrics, list_marks_the_families_that_need_the_engine)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    metrics_list(f, METRIC_VIEW_EXPORT);
    fclose(f);
    cr_expect(strstr(buf, "twkit_netstat_tcpext_tw_total\tcounter\tnetns\t") != NULL);
    cr_expect(strstr(buf, "twkit_destination_exhaustion_seconds\tgauge\tnetns,src,dst,dport\t") != NULL);
    cr_expect(strstr(buf, "(needs the rate engine)\n") != NULL);
    cr_expect(strstr(buf, "twkit_exporter_build_info\tinfo\tversion\t") != NULL);
    free(buf);
    f = open_memstream(&buf, &len);
    metrics_list(f, METRIC_VIEW_STAT);
    fclose(f);
    cr_expect(strstr(buf, "twkit_exporter_") == NULL, "the stat view has no exporter families");
    free(buf);
}

/* ---- pages ------------------------------------------------------------------------- */

Test(metrics, top_k_and_the_folded_rest)
{
    struct tw_report *r = dests(8); /* destination d holds 8 - d ports (+2 for d = 0) */
    struct metrics_ns ns = {.label = "host", .r = r};
    struct metrics_page p = {.view = METRIC_VIEW_EXPORT, .ns = &ns, .n_ns = 1, .top = 3};
    size_t samples;
    char *page = render(&p, METRIC_TEXT, &samples);

    cr_expect(has_line(page, "twkit_destinations{netns=\"host\"} 8"));
    cr_expect(has_line(page, "twkit_destinations_folded{netns=\"host\"} 5"));
    /* the worst first: 198.18.1.0 with 8 TIME_WAIT + 1 established + 1 other */
    cr_expect(has_line(page, "twkit_destination_ports_in_use{netns=\"host\",src=\"198.18.0.1\","
                             "dst=\"198.18.1.0\",dport=\"80\",state=\"time_wait\"} 8"));
    cr_expect(has_line(page, "twkit_destination_ports_in_use{netns=\"host\",src=\"198.18.0.1\","
                             "dst=\"198.18.1.0\",dport=\"80\",state=\"established\"} 1"));
    cr_expect(has_line(page, "twkit_destination_ports_in_use{netns=\"host\",src=\"198.18.0.1\","
                             "dst=\"198.18.1.0\",dport=\"80\",state=\"other\"} 1"));
    cr_expect(has_line(page, "twkit_destination_port_pressure_ratio{netns=\"host\",src=\"198.18.0.1\","
                             "dst=\"198.18.1.0\",dport=\"80\"} 0.1"));
    cr_expect(has_line(page, "twkit_destination_port_pressure_ratio{netns=\"host\",src=\"198.18.0.1\","
                             "dst=\"198.18.1.2\",dport=\"80\"} 0.06"));
    /* 198.18.1.3 .. 1.7 (5, 4, 3, 2, 1 TIME_WAIT) fold: sum 15, the worst ratio 0.05 */
    cr_expect(!strstr(page, "dst=\"198.18.1.3\""), "a folded destination has no series");
    cr_expect(has_line(page, "twkit_destination_ports_in_use{netns=\"host\",src=\"\",dst=\"other\","
                             "dport=\"\",state=\"time_wait\"} 15"));
    cr_expect(has_line(page, "twkit_destination_ports_in_use{netns=\"host\",src=\"\",dst=\"other\","
                             "dport=\"\",state=\"established\"} 0"));
    cr_expect(has_line(page, "twkit_destination_port_pressure_ratio{netns=\"host\",src=\"\","
                             "dst=\"other\",dport=\"\"} 0.05"));
    /* with tcp_tw_reuse off nothing is reclaimable: if reused is the same pressure */
    cr_expect(has_line(page, "twkit_destination_port_pressure_if_reused_ratio{netns=\"host\",src=\"\","
                             "dst=\"other\",dport=\"\"} 0.05"));
    cr_expect(has_line(page, "twkit_destination_reclaimable_at_most_sockets{netns=\"host\",src=\"\","
                             "dst=\"other\",dport=\"\"} 0"));
    cr_expect(has_line(page, "twkit_host_ports_in_use{netns=\"host\"} 10"));
    cr_expect(has_line(page, "twkit_host_port_pressure_ratio{netns=\"host\"} 0.1"));
    /* 3 destinations + other, 3 states each */
    cr_expect_eq(count_prefix(page, "twkit_destination_ports_in_use{"), 12);
    /* no engine figures given: no series, not even a header */
    cr_expect(!strstr(page, "twkit_destination_exhaustion_seconds"));
    cr_expect(!strstr(page, "twkit_destination_new_time_wait"));
    /* no exporter figures without self */
    cr_expect(!strstr(page, "twkit_exporter_"));
    cr_expect_eq(samples, (size_t)count_prefix(page, "twkit_"));
    free(page);

    /* K above the number of destinations: no "other" at all */
    p.top = 20;
    page = render(&p, METRIC_TEXT, NULL);
    cr_expect(!strstr(page, "src=\"\",dst=\"other\""));
    cr_expect(has_line(page, "twkit_destinations_folded{netns=\"host\"} 0"));
    free(page);
    tw_report_free(r);
}

static struct tw_live_row lrow(const char *l, const char *ra, unsigned rport, int state,
                               int server, int64_t n)
{
    struct tw_live_row r;
    memset(&r, 0, sizeof(r));
    cr_assert_eq(tw_parse_addr(l, &r.laddr), 0);
    cr_assert_eq(tw_parse_addr(ra, &r.raddr), 0);
    r.rport = (uint16_t)rport;
    r.state = (uint8_t)state;
    r.server = (uint8_t)server;
    r.n = n;
    return r;
}

Test(metrics, live_page_folds_beyond_top_and_has_the_kernel_families)
{
    /* sorted by destination then state, as tw_live_read gives them */
    struct tw_live_row rows[] = {
        lrow("198.18.0.1", "198.18.1.1", 80, TW_ESTABLISHED, 0, 1),
        lrow("198.18.0.1", "198.18.1.1", 80, TW_TIME_WAIT, 0, 2),   /* 3 in all */
        lrow("198.18.0.1", "198.18.1.2", 80, TW_TIME_WAIT, 0, 9),   /* 9 */
        lrow("198.18.0.2", "198.18.1.3", 0, TW_TIME_WAIT, 1, 5),    /* 5, server side */
        lrow("198.18.0.2", "198.18.1.4", 443, TW_ESTABLISHED, 0, 4), /* 4 */
    };
    struct metrics_live lv = {.rows = rows, .n = 5};
    struct tw_counters c = {0};
    c.v[TW_C_TW_OVERFLOW] = 7;
    c.have[TW_C_TW_OVERFLOW] = true;
    kernel();
    struct metrics_ns ns = {.label = "host", .live = &lv, .counters = &c, .kernel = &K,
                            .source = "live"};
    struct metrics_page p = {.view = METRIC_VIEW_EXPORT, .ns = &ns, .n_ns = 1, .top = 2};
    char *page = render(&p, METRIC_TEXT, NULL);
    cr_expect(has_line(page, "twkit_live_sockets{netns=\"host\",src=\"198.18.0.1\",dst=\"198.18.1.2\","
                             "dport=\"80\",side=\"client\",state=\"time_wait\"} 9"));
    cr_expect(has_line(page, "twkit_live_sockets{netns=\"host\",src=\"198.18.0.2\",dst=\"198.18.1.3\","
                             "dport=\"\",side=\"server\",state=\"time_wait\"} 5"));
    /* 198.18.1.4 (4) and 198.18.1.1 (3) fold, per state */
    cr_expect(has_line(page, "twkit_live_sockets{netns=\"host\",src=\"\",dst=\"other\",dport=\"\","
                             "side=\"\",state=\"established\"} 5"));
    cr_expect(has_line(page, "twkit_live_sockets{netns=\"host\",src=\"\",dst=\"other\",dport=\"\","
                             "side=\"\",state=\"time_wait\"} 2"));
    cr_expect_eq(count_prefix(page, "twkit_live_sockets{"), 4);
    /* the kernel's families, none of a report's */
    cr_expect(has_line(page, "twkit_netstat_tcpext_tcp_time_wait_overflow_total{netns=\"host\"} 7"));
    cr_expect(has_line(page, "twkit_sockstat_time_wait_sockets{netns=\"host\"} 12"));
    cr_expect(has_line(page, "twkit_tcp_max_tw_buckets{netns=\"host\"} 4096"));
    cr_expect(has_line(page, "twkit_tcp_sysctl{netns=\"host\",name=\"net.ipv4.tcp_timestamps\"} 1"));
    cr_expect(has_line(page, "twkit_exporter_source_info{netns=\"host\",source=\"live\"} 1"));
    cr_expect(!strstr(page, "twkit_sockets{") && !strstr(page, "twkit_destination_"));
    free(page);
}

Test(metrics, trace_processes_share_the_cap_and_fold_per_errno)
{
    struct tw_report *r = dests(1);
    /* first seen first: a, b own series with --top 2; c, d fold */
    struct metrics_trace_proc procs[] = {{"a", 5}, {"b", 0}, {"c", 7}, {"d", 1}};
    struct metrics_trace_err errs[] = {{1, "ECONNREFUSED", 3}, {2, "EADDRNOTAVAIL", 4},
                                       {3, "ECONNREFUSED", 2}, {3, "EADDRNOTAVAIL", 6},
                                       {0, "EADDRNOTAVAIL", 1}};
    struct metrics_trace t = {procs, 4, errs, 5};
    struct metrics_ns ns = {.label = "host", .r = r, .trace = &t};
    struct metrics_page p = {.view = METRIC_VIEW_EXPORT, .ns = &ns, .n_ns = 1, .top = 2};
    char *page = render(&p, METRIC_TEXT, NULL);
    cr_expect(has_line(page, "twkit_timewait_created_total{netns=\"host\",comm=\"a\"} 5"));
    cr_expect(has_line(page, "twkit_timewait_created_total{netns=\"host\",comm=\"b\"} 0"));
    cr_expect(has_line(page, "twkit_timewait_created_total{netns=\"host\",comm=\"other\"} 8"));
    cr_expect(has_line(page, "twkit_connect_errors_total{netns=\"host\",comm=\"b\","
                             "errno=\"ECONNREFUSED\"} 3"));
    cr_expect(has_line(page, "twkit_connect_errors_total{netns=\"host\",comm=\"a\","
                             "errno=\"EADDRNOTAVAIL\"} 1"));
    cr_expect(has_line(page, "twkit_connect_errors_total{netns=\"host\",comm=\"other\","
                             "errno=\"EADDRNOTAVAIL\"} 10"));
    cr_expect(has_line(page, "twkit_connect_errors_total{netns=\"host\",comm=\"other\","
                             "errno=\"ECONNREFUSED\"} 2"));
    cr_expect_eq(count_prefix(page, "twkit_connect_errors_total{"), 4);
    cr_expect(!strstr(page, "comm=\"c\"") && !strstr(page, "comm=\"d\""));
    cr_expect(has_line(page, "twkit_trace_processes_folded{netns=\"host\"} 2"));
    free(page);
    /* the stat view and a page without trace have none of it */
    ns.trace = NULL;
    page = render(&p, METRIC_TEXT, NULL);
    cr_expect(!strstr(page, "twkit_timewait_created") && !strstr(page, "processes_folded"));
    free(page);
    tw_report_free(r);
}

Test(metrics, engine_figures_and_their_fold)
{
    struct tw_report *r = dests(4);
    struct metrics_dest_rate rates[4] = {
        {.have = true, .new_per_s = 2.5, .exhaustion_s = 40, .sustainable_per_s = 1.5},
        {.have = true, .new_per_s = 1, .exhaustion_s = INFINITY, .sustainable_per_s = 1.5},
        {.have = true, .new_per_s = 0.5, .exhaustion_s = 12.5, .sustainable_per_s = 1.5},
        {.have = true, .new_per_s = 0.25, .exhaustion_s = 0, .sustainable_per_s = 1.5},
    };
    struct metrics_ns ns = {.label = "host", .r = r, .rates = rates};
    struct metrics_page p = {.view = METRIC_VIEW_EXPORT, .ns = &ns, .n_ns = 1, .top = 2};
    char *page = render(&p, METRIC_TEXT, NULL);
    const char *d0 = "{netns=\"host\",src=\"198.18.0.1\",dst=\"198.18.1.0\",dport=\"80\"}";
    const char *d1 = "{netns=\"host\",src=\"198.18.0.1\",dst=\"198.18.1.1\",dport=\"80\"}";
    const char *o = "{netns=\"host\",src=\"\",dst=\"other\",dport=\"\"}";
    char line[256];
    snprintf(line, sizeof(line), "twkit_destination_exhaustion_seconds%s 40", d0);
    cr_expect(has_line(page, line), "%s", line);
    snprintf(line, sizeof(line), "twkit_destination_exhaustion_seconds%s +Inf", d1);
    cr_expect(has_line(page, line), "%s", line);
    /* other: the soonest of the folded (0: now), the sum of their rates */
    snprintf(line, sizeof(line), "twkit_destination_exhaustion_seconds%s 0", o);
    cr_expect(has_line(page, line), "%s", line);
    snprintf(line, sizeof(line), "twkit_destination_new_time_wait_per_second%s 0.75", o);
    cr_expect(has_line(page, line), "%s", line);
    snprintf(line, sizeof(line), "twkit_destination_new_time_wait_per_second%s 2.5", d0);
    cr_expect(has_line(page, line), "%s", line);
    snprintf(line, sizeof(line), "twkit_destination_sustainable_connections_per_second%s 1.5", d0);
    cr_expect(has_line(page, line), "%s", line);
    cr_expect(!strstr(page, "twkit_destination_sustainable_connections_per_second{netns=\"host\","
                            "src=\"\",dst=\"other\""),
              "no sustainable rate for other");
    free(page);
    /* a destination without a figure has no series; "other" only from those with one */
    rates[0].have = rates[3].have = false;
    page = render(&p, METRIC_TEXT, NULL);
    snprintf(line, sizeof(line), "twkit_destination_exhaustion_seconds%s", d0);
    cr_expect(!strstr(page, line));
    snprintf(line, sizeof(line), "twkit_destination_exhaustion_seconds%s 12.5", o);
    cr_expect(has_line(page, line), "%s", line);
    free(page);
    tw_report_free(r);
}

Test(metrics, text_and_openmetrics_differ_where_the_formats_do)
{
    struct tw_report *r = dests(2);
    struct tw_counters c;
    memset(&c, 0, sizeof(c));
    c.v[TW_C_TW] = 1234;
    c.have[TW_C_TW] = true;
    c.v[TW_C_CURR_ESTAB] = 3;
    c.have[TW_C_CURR_ESTAB] = true;
    struct metrics_ns ns = {.label = "host", .r = r, .counters = &c};
    struct metrics_page p = {.view = METRIC_VIEW_EXPORT, .ns = &ns, .n_ns = 1, .top = 5, .self = &SELF};
    char *t = render(&p, METRIC_TEXT, NULL), *om = render(&p, METRIC_OPENMETRICS, NULL);

    cr_expect(has_line(t, "# TYPE twkit_netstat_tcpext_tw_total counter"));
    cr_expect(has_line(om, "# TYPE twkit_netstat_tcpext_tw counter"));
    cr_expect(has_line(t, "twkit_netstat_tcpext_tw_total{netns=\"host\"} 1234"));
    cr_expect(has_line(om, "twkit_netstat_tcpext_tw_total{netns=\"host\"} 1234"));
    cr_expect(!strstr(t, "tw_recycled"), "a counter the kernel lacks has no family");
    cr_expect(has_line(t, "# TYPE twkit_netstat_tcp_curr_estab gauge"));
    cr_expect(has_line(t, "# TYPE twkit_exporter_build_info gauge"));
    cr_expect(has_line(om, "# TYPE twkit_exporter_build info"));
    cr_expect(has_line(om, "twkit_exporter_build_info{version=\"" TW_VERSION "\"} 1"));
    cr_expect(has_line(om, "# UNIT twkit_exporter_scrape_duration_seconds seconds"));
    cr_expect(!strstr(t, "# UNIT"));
    cr_expect(has_line(t, "twkit_exporter_scrape_duration_seconds 0.25"));
    cr_expect(has_line(t, "twkit_exporter_scrape_timestamp_seconds 1700000000.5"));
    cr_expect(has_line(t, "twkit_exporter_dumps_total 7"));
    cr_expect(has_line(t, "twkit_exporter_scrape_errors_total 2"));
    cr_expect(has_line(t, "twkit_exporter_scrape_success 1"));
    size_t n = strlen(om);
    cr_expect(n > 6 && !strcmp(om + n - 6, "# EOF\n"));
    cr_expect(!strstr(t, "# EOF"));
    /* HELP: OpenMetrics escapes the quote, 0.0.4 does not */
    cr_expect(strstr(om, "# HELP twkit_destinations_folded Destinations beyond the top ones, "
                         "folded into the dst=\\\"other\\\" series.\n") != NULL);
    cr_expect(strstr(t, "folded into the dst=\"other\" series.\n") != NULL);
    free(t);
    free(om);
    tw_report_free(r);
}

Test(metrics, sysctls_the_kernel_lacks_have_no_series)
{
    struct tw_report *r = dests(1);
    struct metrics_ns ns = {.label = "host", .r = r};
    struct metrics_page p = {.view = METRIC_VIEW_EXPORT, .ns = &ns, .n_ns = 1, .top = 5};
    char *t = render(&p, METRIC_TEXT, NULL);
    cr_expect(has_line(t, "twkit_tcp_sysctl{netns=\"host\",name=\"net.ipv4.tcp_tw_reuse_delay\"} 1000"));
    cr_expect(has_line(t, "twkit_tcp_sysctl{netns=\"host\",name=\"net.ipv4.ip_local_port_range_low\"} 40000"));
    cr_expect(has_line(t, "twkit_tcp_max_tw_buckets{netns=\"host\"} 4096"));
    cr_expect(!strstr(t, "name=\"net.ipv4.tcp_max_tw_buckets\""), "a family of its own");
    cr_expect(has_line(t, "twkit_ephemeral_range_ports{netns=\"host\"} 100"));
    cr_expect(has_line(t, "twkit_ephemeral_effective_ports{netns=\"host\"} 100"));
    cr_expect(has_line(t, "twkit_ephemeral_excluded_ports{netns=\"host\",reason=\"parity\"} 0"));
    cr_expect(has_line(t, "twkit_sockstat_time_wait_sockets{netns=\"host\"} 12"));
    free(t);
    K.tw_reuse_delay_ms = -1; /* before Linux 6.14 */
    K.sock_tw = -1;
    K.max_tw_buckets = -1;
    tw_report_set_kernel(r, &K);
    t = render(&p, METRIC_TEXT, NULL);
    cr_expect(!strstr(t, "tcp_tw_reuse_delay"));
    cr_expect(!strstr(t, "twkit_sockstat_time_wait_sockets"), "no header for an empty family");
    cr_expect(!strstr(t, "twkit_tcp_max_tw_buckets"), "no header for an empty family");
    cr_expect(!strstr(t, " -1\n"), "never -1");
    free(t);
    tw_report_free(r);
}

Test(metrics, outside_strings_are_escaped_and_valid_utf8)
{
    struct tw_report *r = dests(1);
    struct metrics_ns ns[2] = {{.label = "a\"b\\c\nd", .r = r}, {.label = "bad\xff\xc3(é)", .r = r}};
    struct metrics_page p = {.view = METRIC_VIEW_EXPORT, .ns = ns, .n_ns = 2, .top = 5};
    char *t = render(&p, METRIC_TEXT, NULL);
    cr_expect(has_line(t, "twkit_destinations{netns=\"a\\\"b\\\\c\\nd\"} 1"));
    cr_expect(has_line(t, "twkit_destinations{netns=\"bad\xef\xbf\xbd\xef\xbf\xbd(é)\"} 1"));
    free(t);
    tw_report_free(r);
}

Test(metrics, stat_view_leaves_the_exporter_out_and_has_the_top_tables)
{
    struct tw_report *r = dests(2);
    struct metrics_dest_rate rates[2] = {{.have = true, .exhaustion_s = 3},
                                         {.have = true, .exhaustion_s = 4}};
    struct metrics_ns ns = {.label = "host", .r = r, .rates = rates};
    struct metrics_page p = {.view = METRIC_VIEW_STAT, .ns = &ns, .n_ns = 1, .top = 5, .self = &SELF};
    char *t = render(&p, METRIC_TEXT, NULL);
    cr_expect(!strstr(t, "twkit_exporter_"));
    cr_expect(!strstr(t, "twkit_destination_exhaustion_seconds"), "the forecast is the exporter's");
    cr_expect(strstr(t, "twkit_destination_ports_in_use{") != NULL);
    /* the top tables: 198.18.1.0 has 2 TIME_WAIT, 198.18.1.1 one; ports 40000 (2), 40001 (1) */
    cr_expect(has_line(t, "twkit_time_wait_top_remote_address_sockets{netns=\"host\","
                          "address=\"198.18.1.0\"} 2"));
    cr_expect(has_line(t, "twkit_time_wait_top_local_port_sockets{netns=\"host\",port=\"40000\","
                          "side=\"client\"} 2"));
    cr_expect(has_line(t, "twkit_time_wait_top_destination_sockets{netns=\"host\",src=\"198.18.0.1\","
                          "dst=\"198.18.1.1\",dport=\"80\",side=\"client\"} 1"));
    cr_expect(has_line(t, "twkit_time_wait_top_local_address_sockets{netns=\"host\","
                          "address=\"198.18.0.1\"} 3"));
    free(t);
    p.view = METRIC_VIEW_EXPORT;
    t = render(&p, METRIC_TEXT, NULL);
    cr_expect(!strstr(t, "twkit_time_wait_top_"), "the exporter folds; the top tables do not");
    cr_expect(has_line(t, "twkit_destination_exhaustion_seconds{netns=\"host\",src=\"198.18.0.1\","
                          "dst=\"198.18.1.0\",dport=\"80\"} 3"));
    free(t);
    tw_report_free(r);
}

/* tcp_tw_reuse=1: every TIME_WAIT (30 s old) is reclaimable if its peer sent timestamps */
Test(metrics, the_reclaimable_bound_and_its_pressure_fold)
{
    REUSE = 1;
    struct tw_report *r = dests(4); /* 4 + 2, 3, 2, 1 */
    REUSE = 0;
    struct metrics_ns ns = {.label = "host", .r = r};
    struct metrics_page p = {.view = METRIC_VIEW_EXPORT, .ns = &ns, .n_ns = 1, .top = 1};
    char *t = render(&p, METRIC_TEXT, NULL);
    const char *o = "{netns=\"host\",src=\"\",dst=\"other\",dport=\"\"}";
    char line[256];
    snprintf(line, sizeof(line), "twkit_destination_reclaimable_at_most_sockets%s 6", o);
    cr_expect(has_line(t, line), "the sum of the folded bounds: %s", line);
    snprintf(line, sizeof(line), "twkit_destination_reclaimable_sockets%s 0", o);
    cr_expect(has_line(t, line), "netlink cannot verify: %s", line);
    /* the folded ones hold only TIME_WAIT, all of it reclaimable at most: 0 if reused */
    snprintf(line, sizeof(line), "twkit_destination_port_pressure_if_reused_ratio%s 0", o);
    cr_expect(has_line(t, line), "%s", line);
    snprintf(line, sizeof(line), "twkit_destination_port_pressure_ratio%s 0.03", o);
    cr_expect(has_line(t, line), "%s", line);
    /* destination 0 keeps its established and SYN_SENT ports */
    cr_expect(has_line(t, "twkit_destination_port_pressure_if_reused_ratio{netns=\"host\","
                          "src=\"198.18.0.1\",dst=\"198.18.1.0\",dport=\"80\"} 0.02"));
    free(t);
    tw_report_free(r);
}

Test(metrics, node_exporter_state_words)
{
    cr_expect_str_eq(metrics_state(TW_TIME_WAIT), "time_wait");
    cr_expect_str_eq(metrics_state(TW_SYN_SENT), "syn_sent");
    cr_expect_str_eq(metrics_state(TW_NEW_SYN_RECV), "new_syn_recv");
    cr_expect_str_eq(metrics_state(0), "unknown");
    cr_expect_str_eq(metrics_state(TW_STATE_MAX), "unknown");
    struct tw_report *r = dests(1);
    struct metrics_ns ns = {.label = "host", .r = r};
    struct metrics_page p = {.view = METRIC_VIEW_STAT, .ns = &ns, .n_ns = 1, .top = 5};
    char *t = render(&p, METRIC_TEXT, NULL);
    cr_expect(has_line(t, "twkit_sockets{netns=\"host\",family=\"ipv4\",state=\"time_wait\"} 1"));
    cr_expect(has_line(t, "twkit_sockets{netns=\"host\",family=\"ipv4\",state=\"syn_sent\"} 1"));
    cr_expect(!strstr(t, "time-wait"), "one vocabulary");
    free(t);
    tw_report_free(r);
}

/*
 * Destination d of dests(n) holds n - d (+2 for d = 0) ports of an
 * effective range of 100: with n = 60, destinations 0..10 are above 50 %.
 */
Test(metrics, stat_keeps_every_destination_above_half)
{
    struct tw_report *r = dests(60);
    struct metrics_ns ns = {.label = "host", .r = r};
    struct metrics_page p = {.view = METRIC_VIEW_STAT, .ns = &ns, .n_ns = 1, .top = 3,
                             .keep_high = true};
    char *t = render(&p, METRIC_TEXT, NULL);
    cr_expect(has_line(t, "twkit_destinations{netns=\"host\"} 60"));
    /* 62 %, 59 %, ... 51 % (d = 0..9) have their own series; 50 % (d = 10) folds */
    cr_expect(has_line(t, "twkit_destinations_folded{netns=\"host\"} 50"));
    cr_expect(strstr(t, "dst=\"198.18.1.9\"") != NULL);
    cr_expect(!strstr(t, "dst=\"198.18.1.10\""));
    cr_expect(has_line(t, "twkit_destination_port_pressure_ratio{netns=\"host\",src=\"\","
                          "dst=\"other\",dport=\"\"} 0.5"));
    free(t);
    p.keep_high = false; /* the exporter's cap */
    t = render(&p, METRIC_TEXT, NULL);
    cr_expect(has_line(t, "twkit_destinations_folded{netns=\"host\"} 57"));
    free(t);
    tw_report_free(r);
}

/* ---- negotiation ------------------------------------------------------------------- */

Test(metrics, accept_negotiation)
{
    /* what Prometheus 2.42 sends */
    cr_expect_eq(metrics_negotiate("application/openmetrics-text;version=1.0.0,application/"
                                   "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
                                   "q=0.5,*/*;q=0.1"),
                 METRIC_OPENMETRICS);
    cr_expect_eq(metrics_negotiate("application/openmetrics-text; version=0.0.1"), METRIC_OPENMETRICS);
    cr_expect_eq(metrics_negotiate("application/openmetrics-text"), METRIC_OPENMETRICS);
    /* text ranked higher, or an OpenMetrics version twkit does not write */
    cr_expect_eq(metrics_negotiate("text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5"),
                 METRIC_TEXT);
    cr_expect_eq(metrics_negotiate("application/openmetrics-text;version=2.0.0"), METRIC_TEXT);
    cr_expect_eq(metrics_negotiate("application/openmetrics-text;q=0"), METRIC_TEXT);
    cr_expect_eq(metrics_negotiate("*/*"), METRIC_TEXT);
    cr_expect_eq(metrics_negotiate(NULL), METRIC_TEXT);
    cr_expect_eq(metrics_negotiate(""), METRIC_TEXT);
    cr_expect_eq(metrics_negotiate(";;;,,=q,q=x,application/openmetrics-text;q=nan"), METRIC_TEXT);
    cr_expect_eq(metrics_negotiate("text/html , application/openmetrics-text ; q=0.9 ; version=1.0.0"),
                 METRIC_OPENMETRICS);
}
