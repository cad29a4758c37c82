/*
 * test_doctor.c — every rule of the findings engine on hand-built
 * measurements, without a kernel.
 *
 * Each case starts from a healthy host (defaults of a 6.18 namespace, no
 * load) and changes exactly what the rule looks at, then checks the finding:
 * its id and severity, the evidence numbers, the sysctl change it justifies
 * (or that it justifies none), and that a healthy host yields nothing.  The
 * same conditions are created for real in tests/integration/doctor_rules.sh.
 * Also here: the allow-list of values doctor may write, the drop-in text,
 * and the atomic file writer.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/doctor.h>

static struct tw_report rep;
static struct tw_pressure pr[4];

/* A healthy 6.18 namespace with no load, sampled for 2 s. */
static struct tw_doctor_sample *healthy(void)
{
    struct tw_doctor_sample *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    s->k.port_lo = 32768;
    s->k.port_hi = 60999;
    s->k.tw_reuse = 2;
    s->k.tw_reuse_delay_ms = 1000;
    s->k.timestamps = 1;
    s->k.max_tw_buckets = 131072;
    s->k.fin_timeout = 60;
    s->k.rfc1337 = 0;
    s->k.tw_slab_v4 = 256;
    s->have_counters = true;
    s->seconds = 2.0;
    for (int i = 0; i < TW_C_MAX; i++)
        s->c0.have[i] = s->c1.have[i] = true;
    s->tw_recycle = -1;
    memset(&rep, 0, sizeof(rep));
    memset(pr, 0, sizeof(pr));
    rep.range_size = 28232;
    rep.effective_range = 28232;
    rep.pressure = pr;
    s->report = &rep;
    return s;
}

static void set_delta(struct tw_doctor_sample *s, enum tw_counter_id id, uint64_t d)
{
    s->c0.v[id] = 1000;
    s->c1.v[id] = 1000 + d;
}

/* One destination: 198.18.0.2 -> 198.18.0.1:9001 (or 127.0.0.1 -> 127.0.0.1). */
static struct tw_pressure *dest(bool loopback, uint64_t in_use, uint32_t eff, bool reuse)
{
    struct tw_pressure *p = &pr[rep.n_pressure++];
    p->laddr.family = p->raddr.family = AF_INET;
    uint8_t l[4] = {198, 18, 0, 2}, r[4] = {198, 18, 0, 1}, lo[4] = {127, 0, 0, 1};
    memcpy(p->laddr.u.b, loopback ? lo : l, 4);
    memcpy(p->raddr.u.b, loopback ? lo : r, 4);
    p->rport = 9001;
    p->loopback = loopback;
    p->reuse_applies = reuse;
    p->in_use = p->time_wait = in_use;
    rep.effective_range = rep.range_size = eff;
    p->pct = 100.0 * in_use / eff;
    return p;
}

static struct tw_doctor_result *run(struct tw_doctor_sample *s)
{
    struct tw_doctor_result *r = NULL;
    cr_assert_eq(tw_doctor_run(s, &r), 0);
    cr_assert_not_null(r);
    return r;
}

static const char *evid(const struct tw_finding *f, const char *k)
{
    const char *v = tw_finding_evidence(f, k);
    cr_assert_not_null(v, "%s: no evidence '%s'", f->id, k);
    return v;
}

static void done(struct tw_doctor_sample *s, struct tw_doctor_result *r)
{
    tw_doctor_result_free(r);
    free(s);
}

Test(doctor, healthy_host_is_all_clear)
{
    struct tw_doctor_sample *s = healthy();
    struct tw_doctor_result *r = run(s);
    size_t n;
    tw_doctor_rules(&n);
    cr_assert_eq(r->n, 0, "first finding: %s", r->n ? r->f[0].id : "");
    cr_assert_eq(r->worst, TW_SEV_OK);
    cr_assert_eq(r->n_passed, n);
    cr_assert_eq(r->n_changes, 0);
    done(s, r);
}

Test(doctor, rule_table_ids_are_unique)
{
    size_t n;
    const struct tw_doctor_rule *t = tw_doctor_rules(&n);
    cr_assert_geq(n, 15);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(t[i].id, t[j].id);
}

Test(doctor, port_pressure_crit_with_time_to_exhaustion)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 0;
    dest(false, 95, 100, false);
    set_delta(s, TW_C_ACTIVE_OPENS, 20); /* 10/s */
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-pressure");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_CRIT);
    cr_assert_eq(r->worst, TW_SEV_CRIT);
    cr_assert_eq(&r->f[0], f, "worst first");
    cr_assert_str_eq(evid(f, "destination"), "198.18.0.2 -> 198.18.0.1:9001");
    cr_assert_str_eq(evid(f, "in_use"), "95");
    cr_assert_str_eq(evid(f, "effective_range"), "100");
    cr_assert_str_eq(evid(f, "free_ports"), "5");
    cr_assert_str_eq(evid(f, "connect_rate"), "10.0");
    cr_assert_str_eq(evid(f, "time_to_exhaustion_s"), "0.5");
    cr_assert_str_eq(evid(f, "sustainable_rate"), "1.7"); /* 100 / 60 s */
    cr_assert(strstr(f->fix, "keep-alive"));
    cr_assert(strstr(f->fix, "IP_BIND_ADDRESS_NO_PORT"));
    cr_assert(strstr(f->source, "__inet_hash_connect"));
    done(s, r);
}

Test(doctor, port_pressure_warn_without_rate)
{
    struct tw_doctor_sample *s = healthy();
    dest(true, 60, 100, false);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-pressure");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert(strncmp(evid(f, "time_to_exhaustion_s"), "n/a", 3) == 0);
    cr_assert_str_eq(evid(f, "destination"), "127.0.0.1 -> 127.0.0.1:9001");
    done(s, r);
}

Test(doctor, port_pressure_below_threshold_says_nothing)
{
    struct tw_doctor_sample *s = healthy();
    dest(false, 40, 100, false); /* 40% < 50% */
    struct tw_doctor_result *r = run(s);
    cr_assert_null(tw_doctor_find(r, "port-pressure"));
    done(s, r);
}

Test(doctor, reuse_off_info_without_load_and_no_change)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 0;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-reuse-off");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert_not(f->has_change, "no load: no change is justified");
    cr_assert_eq(r->n_changes, 0);
    done(s, r);
}

Test(doctor, reuse_off_warn_under_pressure_proposes_1_for_non_loopback)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 0;
    dest(false, 30, 100, false);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-reuse-off");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert(f->has_change);
    cr_assert_str_eq(f->change.key, "net.ipv4.tcp_tw_reuse");
    cr_assert_str_eq(f->change.value, "1");
    cr_assert_str_eq(f->change.current, "0");
    done(s, r);
}

Test(doctor, reuse_off_under_loopback_pressure_proposes_2)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 0;
    dest(true, 30, 100, false);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-reuse-off");
    cr_assert_str_eq(f->change.value, "2");
    done(s, r);
}

Test(doctor, reuse_2_with_non_loopback_pressure)
{
    struct tw_doctor_sample *s = healthy();
    dest(false, 55, 100, false);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-reuse-loopback-only");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "hot_non_loopback"), "1");
    cr_assert_str_eq(evid(f, "busiest"), "198.18.0.2 -> 198.18.0.1:9001");
    cr_assert_str_eq(f->change.value, "1");
    cr_assert(strstr(f->explain, "127/8"));
    done(s, r);
}

Test(doctor, reuse_2_with_loopback_pressure_is_fine)
{
    struct tw_doctor_sample *s = healthy();
    dest(true, 55, 100, true);
    struct tw_doctor_result *r = run(s);
    cr_assert_null(tw_doctor_find(r, "tw-reuse-loopback-only"));
    done(s, r);
}

Test(doctor, timestamps_off)
{
    struct tw_doctor_sample *s = healthy();
    s->k.timestamps = 0;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "timestamps-off");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_WARN, "reuse=2 configured but void");
    cr_assert_str_eq(f->change.key, "net.ipv4.tcp_timestamps");
    cr_assert_str_eq(f->change.value, "1");
    tw_doctor_result_free(r);
    dest(false, 30, 100, false);
    r = run(s);
    cr_assert_eq(tw_doctor_find(r, "timestamps-off")->severity, TW_SEV_CRIT);
    tw_doctor_result_free(r);
    s->k.tw_reuse = 0;
    rep.n_pressure = 0;
    r = run(s);
    cr_assert_eq(tw_doctor_find(r, "timestamps-off")->severity, TW_SEV_INFO);
    done(s, r);
}

Test(doctor, reuse_delay_caps_the_rate)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse_delay_ms = 60000;
    dest(true, 100, 100, true);
    set_delta(s, TW_C_ACTIVE_OPENS, 20); /* 10/s */
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-reuse-delay");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "reuse_cap_per_s"), "1.7"); /* 100 / 60 s */
    cr_assert_str_eq(evid(f, "tcp_tw_reuse_delay_ms"), "60000");
    /* the delay that gives twice the observed rate: 100 * 1000 / 20 */
    cr_assert_str_eq(f->change.value, "5000");
    done(s, r);
}

Test(doctor, reuse_delay_not_default_is_a_note)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse_delay_ms = 500;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-reuse-delay");
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert_str_eq(evid(f, "reuse_cap_per_s"), "56464.0");
    cr_assert_not(f->has_change);
    done(s, r);
}

Test(doctor, reuse_delay_absent_before_6_14)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse_delay_ms = -1;
    struct tw_doctor_result *r = run(s);
    cr_assert_null(tw_doctor_find(r, "tw-reuse-delay"));
    done(s, r);
}

Test(doctor, tw_buckets_overflowing)
{
    struct tw_doctor_sample *s = healthy();
    s->k.max_tw_buckets = 10;
    s->tw1 = 10;
    set_delta(s, TW_C_TW_OVERFLOW, 40);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-buckets");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "overflow_in_window"), "40");
    cr_assert_str_eq(evid(f, "sockstat_tw"), "10");
    cr_assert_str_eq(evid(f, "tcp_max_tw_buckets"), "10");
    cr_assert_str_eq(f->change.value, "4096");
    cr_assert(strstr(f->explain, "log nothing"));
    done(s, r);
}

Test(doctor, tw_buckets_close_and_past_overflow)
{
    struct tw_doctor_sample *s = healthy();
    s->k.max_tw_buckets = 100000;
    s->tw1 = 95000;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-buckets");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "tw_pct_of_max"), "95.0");
    cr_assert_str_eq(f->change.value, "262144");
    tw_doctor_result_free(r);
    s->tw1 = 10;
    s->c0.v[TW_C_TW_OVERFLOW] = s->c1.v[TW_C_TW_OVERFLOW] = 7;
    r = run(s);
    f = tw_doctor_find(r, "tw-buckets");
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert_str_eq(evid(f, "overflow_total"), "7");
    cr_assert_not(f->has_change);
    done(s, r);
}

Test(doctor, fin_timeout_myth_cites_the_config_line)
{
    struct tw_doctor_sample *s = healthy();
    s->k.fin_timeout = 5;
    struct tw_sysctl_entry e = {.key = "net.ipv4.tcp_fin_timeout", .value = "5",
                                .file = "/etc/sysctl.d/99-tuning.conf", .line = 7};
    s->conf.e = &e;
    s->conf.n = 1;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "fin-timeout-myth");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert_str_eq(evid(f, "configured_in"), "/etc/sysctl.d/99-tuning.conf:7");
    cr_assert_str_eq(evid(f, "timewait_len_s"), "60");
    cr_assert_not(f->has_change, "doctor never writes tcp_fin_timeout");
    cr_assert(strstr(f->explain, "FIN_WAIT2"));
    s->conf.e = NULL;
    done(s, r);
}

Test(doctor, tw_recycle_in_config)
{
    struct tw_doctor_sample *s = healthy();
    struct tw_sysctl_entry e = {.key = "net.ipv4.tcp_tw_recycle", .value = "1",
                                .file = "/etc/sysctl.conf", .line = 12};
    s->conf.e = &e;
    s->conf.n = 1;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-recycle-config");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "line"), "12");
    cr_assert_str_eq(evid(f, "kernel_has_it"), "no");
    cr_assert(strstr(f->fix, "Delete line 12 of /etc/sysctl.conf"));
    cr_assert(strstr(f->explain, "NAT"));
    cr_assert_not(f->has_change);
    tw_doctor_result_free(r);
    s->tw_recycle_exists = true; /* an old kernel that still has it, switched on */
    s->tw_recycle = 1;
    r = run(s);
    cr_assert_eq(tw_doctor_find(r, "tw-recycle-config")->severity, TW_SEV_CRIT);
    s->conf.e = NULL;
    done(s, r);
}

Test(doctor, range_narrow_for_the_rate_and_merge_with_parity)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 0;
    s->k.port_lo = 40000;
    s->k.port_hi = 40100; /* same parity too */
    dest(true, 40, 100, false);
    set_delta(s, TW_C_ACTIVE_OPENS, 20); /* 10/s needs 600 ports */
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-range-narrow");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "ports_needed_60s"), "600");
    cr_assert_str_eq(f->change.value, "40000 65535");
    const struct tw_finding *p = tw_doctor_find(r, "port-range-parity");
    cr_assert_not_null(p);
    cr_assert_eq(p->severity, TW_SEV_INFO);
    cr_assert_str_eq(p->change.value, "40000 40101");
    /* one change per key: the warn finding's value wins over the info one */
    unsigned n = 0;
    for (size_t i = 0; i < r->n_changes; i++)
        if (!strcmp(r->changes[i].key, "net.ipv4.ip_local_port_range")) {
            n++;
            cr_assert_str_eq(r->changes[i].value, "40000 65535");
            cr_assert_str_eq(r->changes[i].finding, "port-range-narrow");
        }
    cr_assert_eq(n, 1);
    done(s, r);
}

Test(doctor, range_parity_at_the_top_end)
{
    struct tw_doctor_sample *s = healthy();
    s->k.port_lo = 1025;
    s->k.port_hi = 65535;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *p = tw_doctor_find(r, "port-range-parity");
    cr_assert_str_eq(p->change.value, "1024 65535");
    done(s, r);
}

Test(doctor, listeners_and_reserved_ports)
{
    struct tw_doctor_sample *s = healthy();
    rep.range_size = 100;
    rep.range_listeners = 3;
    rep.effective_range = 97;
    s->k.n_reserved = 60;
    s->k.port_lo = 40000;
    s->k.port_hi = 40099;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-range-listeners");
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert_str_eq(evid(f, "listeners_in_range"), "3");
    f = tw_doctor_find(r, "port-range-reserved");
    cr_assert_eq(f->severity, TW_SEV_WARN, "60 of 100 reserved");
    cr_assert_str_eq(evid(f, "reserved_in_range"), "60");
    done(s, r);
}

Test(doctor, server_side_time_wait_is_memory_only)
{
    struct tw_doctor_sample *s = healthy();
    rep.tw_server = 200;
    rep.tw_client = 10;
    rep.tw_total = 210;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "server-tw");
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert_str_eq(evid(f, "memory_bytes"), "51200");
    cr_assert(strstr(f->summary, "50 KiB"), "%s", f->summary);
    tw_doctor_result_free(r);
    rep.tw_server = 99;
    r = run(s);
    cr_assert_null(tw_doctor_find(r, "server-tw"), "below the threshold");
    done(s, r);
}

Test(doctor, rst_close)
{
    struct tw_doctor_sample *s = healthy();
    set_delta(s, TW_C_ABORT_ON_DATA, 20);
    set_delta(s, TW_C_ESTAB_RESETS, 40);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "rst-close");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "abort_on_data"), "20");
    cr_assert_str_eq(evid(f, "estab_resets"), "40");
    cr_assert_not(f->has_change);
    tw_doctor_result_free(r);
    set_delta(s, TW_C_ESTAB_RESETS, 0); /* data after close alone: not an RST close */
    r = run(s);
    cr_assert_null(tw_doctor_find(r, "rst-close"));
    done(s, r);
}

Test(doctor, rfc1337)
{
    struct tw_doctor_sample *s = healthy();
    s->tw_tracked = 50;
    s->tw_vanished = 50;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "rfc1337");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "tw_killed_early"), "50");
    cr_assert_str_eq(f->change.key, "net.ipv4.tcp_rfc1337");
    cr_assert_str_eq(f->change.value, "1");
    tw_doctor_result_free(r);
    s->k.rfc1337 = 1;
    r = run(s);
    cr_assert_null(tw_doctor_find(r, "rfc1337"));
    done(s, r);
}

Test(doctor, sysctl_conf_problems_and_out_of_range_values)
{
    struct tw_doctor_sample *s = healthy();
    struct tw_sysctl_entry e[3] = {
        {.key = "net.ipv4.tcp_tw_reuse", .value = "3", .file = "/etc/a.conf", .line = 1},
        {.key = "net.ipv4.ip_local_port_range", .value = "60000 1024", .file = "/etc/a.conf",
         .line = 2},
        {.key = "net.ipv4.tcp_rfc1337", .value = "1", .file = "/etc/a.conf", .line = 3},
    };
    struct tw_sysctl_problem p = {.file = "/etc/b.conf", .line = 4, .msg = "no '=' in line"};
    s->conf.e = e;
    s->conf.n = 3;
    s->conf.p = &p;
    s->conf.n_problems = 1;
    struct tw_doctor_result *r = run(s);
    unsigned n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].id, "sysctl-conf")) {
            n++;
            cr_assert_eq(r->f[i].severity, TW_SEV_WARN);
        }
    cr_assert_eq(n, 3, "a malformed line and two out-of-range values");
    cr_assert(strstr(r->f[0].summary, "/etc/b.conf:4"));
    s->conf.e = NULL;
    s->conf.p = NULL;
    done(s, r);
}

Test(doctor, severity_order_worst_first)
{
    struct tw_doctor_sample *s = healthy();
    s->k.fin_timeout = 5;          /* info */
    set_delta(s, TW_C_ABORT_ON_DATA, 1);
    set_delta(s, TW_C_ESTAB_RESETS, 1); /* warn */
    s->k.tw_reuse = 0;
    dest(false, 95, 100, false);   /* crit */
    struct tw_doctor_result *r = run(s);
    cr_assert_geq(r->n, 3);
    for (size_t i = 1; i < r->n; i++)
        cr_assert_geq(r->f[i - 1].severity, r->f[i].severity);
    cr_assert_eq(r->f[0].severity, TW_SEV_CRIT);
    cr_assert_eq(r->f[r->n - 1].severity, TW_SEV_INFO);
    done(s, r);
}

Test(doctor, change_allow_list)
{
    cr_assert(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse", "1"));
    cr_assert(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse", "2"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse", "3"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse", "1x"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse", ""));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse", "-1"));
    cr_assert(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse_delay", "1"));
    cr_assert(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse_delay", "60000"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse_delay", "0"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_tw_reuse_delay", "60001"));
    cr_assert(tw_doctor_change_safe("net.ipv4.ip_local_port_range", "1024 65535"));
    cr_assert(tw_doctor_change_safe("net.ipv4.ip_local_port_range", "1024\t65535"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.ip_local_port_range", "65535 1024"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.ip_local_port_range", "1024 65536"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.ip_local_port_range", "1024"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.ip_local_port_range", "1 2 3"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_max_tw_buckets", "99999999999"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_rfc1337", "2"));
    /* removed or unsafe settings are never written, whatever the value */
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_tw_recycle", "0"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_tw_recycle", "1"));
    cr_assert_not(tw_doctor_change_safe("net.ipv4.tcp_fin_timeout", "30"));
    cr_assert_not(tw_doctor_change_safe("kernel.panic", "1"));
    cr_assert_not(tw_doctor_change_safe(NULL, "1"));
}

Test(doctor, dropin_text_has_only_justified_lines)
{
    struct tw_doctor_sample *s = healthy();
    dest(false, 55, 100, false);
    struct tw_sysctl_entry e = {.key = "net.ipv4.tcp_tw_recycle", .value = "1",
                                .file = "/etc/sysctl.conf", .line = 3};
    s->conf.e = &e;
    s->conf.n = 1;
    s->k.fin_timeout = 10;
    struct tw_doctor_result *r = run(s);
    char *t = tw_doctor_dropin_text(r, "netns test");
    cr_assert_not_null(t);
    cr_assert(strstr(t, "\nnet.ipv4.tcp_tw_reuse = 1\n"), "%s", t);
    cr_assert(strstr(t, "# Previous value: 2\n"));
    cr_assert(strstr(t, "tw-reuse-loopback-only"));
    cr_assert(strstr(t, "# Network namespace: netns test\n"));
    cr_assert_null(strstr(t, "tcp_tw_recycle ="));
    cr_assert_null(strstr(t, "tcp_fin_timeout ="));
    /* every line is a comment, blank, or one "key = value" */
    unsigned settings = 0;
    for (char *line = t; *line;) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "text ends with a newline");
        size_t len = (size_t)(nl - line);
        cr_assert_leq(len, 80, "line too long: %.*s", (int)len, line);
        if (len && line[0] != '#')
            settings++;
        line = nl + 1;
    }
    cr_assert_eq(settings, r->n_changes);
    cr_assert_eq(settings, 1);
    /* the parser reads back exactly the change */
    struct tw_sysctl_conf c = {0};
    char path[] = "/tmp/twkit-dropin-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, t, strlen(t)), (ssize_t)strlen(t));
    close(fd);
    cr_assert_eq(tw_sysctl_conf_load_file(&c, path), 0);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.n_problems, 0);
    cr_assert_str_eq(c.e[0].key, "net.ipv4.tcp_tw_reuse");
    cr_assert_str_eq(c.e[0].value, "1");
    tw_sysctl_conf_release(&c);
    unlink(path);
    free(t);
    s->conf.e = NULL;
    done(s, r);
}

Test(doctor, write_atomic_replaces_and_leaves_nothing_else)
{
    char dir[] = "/tmp/twkit-atomic-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/90-twkit.conf", dir);
    cr_assert_eq(tw_doctor_write_atomic(path, "a = 1\n", 6, 0644), 0);
    cr_assert_eq(tw_doctor_write_atomic(path, "b = 2\n", 6, 0640), 0);
    FILE *f = fopen(path, "r");
    char buf[64] = "";
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    cr_assert_str_eq(buf, "b = 2\n");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640);
    DIR *d = opendir(dir);
    unsigned n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    cr_assert_eq(n, 1, "no temporary file left behind");
    cr_assert_eq(tw_doctor_write_atomic("/nonexistent-twkit/x.conf", "x", 1, 0644), -ENOENT);
    unlink(path);
    rmdir(dir);
}
