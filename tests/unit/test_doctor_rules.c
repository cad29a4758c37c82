/*
 * test_doctor_rules.c — every rule of the findings engine on hand-built
 * measurements (tests/doctor_sample.h), without a kernel.
 *
 * Each case starts from a healthy host and changes exactly what the rule
 * looks at, then checks the finding: its id and severity, the evidence
 * numbers, the sysctl change it justifies (or that it justifies none).  The
 * same conditions are created for real in tests/integration/doctor_rules.sh.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/doctor.h>

#include "../doctor_sample.h"

Test(doctor_rules, port_pressure_crit_with_time_to_exhaustion)
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
    cr_assert_str_eq(evid(f, "sustainable_rate_max"), "1.7", "no reuse: no better bound");
    cr_assert_str_eq(evid(f, "reclaimable_max"), "0");
    cr_assert_str_eq(evid(f, "pressure_pct_min"), "95.0");
    cr_assert_null(strstr(f->summary, "up to"), "%s", f->summary);
    cr_assert(strstr(f->fix, "keep-alive"));
    cr_assert(strstr(f->fix, "IP_BIND_ADDRESS_NO_PORT"));
    cr_assert(strstr(f->source, "__inet_hash_connect"));
    done(s, r);
}

Test(doctor_rules, port_pressure_warn_without_rate)
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

Test(doctor_rules, port_pressure_below_threshold_says_nothing)
{
    struct tw_doctor_sample *s = healthy();
    dest(false, 40, 100, false); /* 40% < 50% */
    struct tw_doctor_result *r = run(s);
    cr_assert_null(tw_doctor_find(r, "port-pressure"));
    done(s, r);
}

Test(doctor_rules, reuse_off_info_without_load_and_no_change)
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

Test(doctor_rules, reuse_off_warn_under_pressure_proposes_1_for_non_loopback)
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

Test(doctor_rules, reuse_off_under_loopback_pressure_proposes_2)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 0;
    dest(true, 30, 100, false);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-reuse-off");
    cr_assert_str_eq(f->change.value, "2");
    done(s, r);
}

Test(doctor_rules, reuse_2_with_non_loopback_pressure)
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

Test(doctor_rules, reuse_2_with_loopback_pressure_is_fine)
{
    struct tw_doctor_sample *s = healthy();
    dest(true, 55, 100, true);
    struct tw_doctor_result *r = run(s);
    cr_assert_null(tw_doctor_find(r, "tw-reuse-loopback-only"));
    done(s, r);
}

Test(doctor_rules, timestamps_off)
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

Test(doctor_rules, reuse_delay_caps_the_rate)
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

Test(doctor_rules, reuse_delay_not_default_is_a_note)
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

Test(doctor_rules, reuse_delay_absent_before_6_14)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse_delay_ms = -1;
    struct tw_doctor_result *r = run(s);
    cr_assert_null(tw_doctor_find(r, "tw-reuse-delay"));
    done(s, r);
}

Test(doctor_rules, tw_buckets_overflowing)
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
    /* never below what the kernel gives a new namespace: ehash / 2 */
    cr_assert_str_eq(f->change.value, "131072");
    cr_assert_str_eq(evid(f, "default_max_tw_buckets"), "131072");
    cr_assert(strstr(f->summary, "reached"), "%s", f->summary);
    cr_assert(strstr(f->explain, "log nothing"));
    done(s, r);
}

Test(doctor_rules, tw_buckets_close_and_past_overflow)
{
    struct tw_doctor_sample *s = healthy();
    s->k.max_tw_buckets = 100000;
    s->tw1 = 95000;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-buckets");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "tw_pct_of_max"), "95.0");
    cr_assert_str_eq(f->change.value, "131072", "lowered below the default: back to it");
    tw_doctor_result_free(r);
    s->k.max_tw_buckets = 131072; /* at the default and 95% full: doubled */
    s->tw1 = 124519;
    r = run(s);
    cr_assert_str_eq(tw_doctor_find(r, "tw-buckets")->change.value, "262144");
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

Test(doctor_rules, fin_timeout_myth_cites_the_config_line)
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

Test(doctor_rules, tw_recycle_in_config)
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

Test(doctor_rules, range_narrow_for_the_rate_and_merge_with_parity)
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

Test(doctor_rules, range_parity_at_the_top_end)
{
    struct tw_doctor_sample *s = healthy();
    s->k.port_lo = 1025;
    s->k.port_hi = 65535;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *p = tw_doctor_find(r, "port-range-parity");
    cr_assert_str_eq(p->change.value, "1024 65535");
    done(s, r);
}

static void listen_on(struct tw_doctor_sample *s, unsigned port)
{
    s->listen[port >> 3] |= (uint8_t)(1u << (port & 7));
}

Test(doctor_rules, listeners_in_the_range_are_a_hazard_with_the_exact_fix)
{
    struct tw_doctor_sample *s = healthy();
    s->k.port_lo = 40000;
    s->k.port_hi = 40099;
    cr_assert_eq(tw_parse_port_list("40010,50000", &s->k), 0);
    listen_on(s, 40050);
    listen_on(s, 40051);
    listen_on(s, 40060);
    listen_on(s, 40010); /* reserved: no hazard */
    listen_on(s, 80);    /* outside the range */
    rep.range_size = 100;
    rep.effective_range = 97;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-range-listeners");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_WARN, "one listener is enough: a hazard, not a note");
    cr_assert_str_eq(evid(f, "listeners_in_range"), "3");
    cr_assert_str_eq(evid(f, "ports"), "40050-40051,40060");
    cr_assert_str_eq(evid(f, "reserved_now"), "40010,50000");
    cr_assert(strstr(f->fix,
                     "sysctl -w net.ipv4.ip_local_reserved_ports=40010,40050-40051,40060,50000"),
              "%s", f->fix);
    cr_assert(f->has_change);
    cr_assert_str_eq(f->change.key, "net.ipv4.ip_local_reserved_ports");
    cr_assert_str_eq(f->change.value, "40010,40050-40051,40060,50000");
    cr_assert_str_eq(f->change.current, "40010,50000");
    cr_assert_eq(r->n_changes, 1, "warn: a justified change");
    tw_doctor_result_free(r);
    memset(s->listen, 0, sizeof(s->listen));
    listen_on(s, 40010);
    r = run(s);
    cr_assert_null(tw_doctor_find(r, "port-range-listeners"), "only reserved ones: fine");
    done(s, r);
}

Test(doctor_rules, reserved_ports_inside_the_range)
{
    struct tw_doctor_sample *s = healthy();
    rep.range_size = 100;
    rep.effective_range = 40;
    s->k.n_reserved = 60;
    s->k.port_lo = 40000;
    s->k.port_hi = 40099;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-range-reserved");
    cr_assert_eq(f->severity, TW_SEV_WARN, "60 of 100 reserved");
    cr_assert_str_eq(evid(f, "reserved_in_range"), "60");
    done(s, r);
}

Test(doctor_rules, server_side_time_wait_is_memory_only)
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

Test(doctor_rules, rst_close)
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

Test(doctor_rules, rfc1337_client_side_tw_killed_by_rsts)
{
    struct tw_doctor_sample *s = healthy();
    s->tw_tracked = 50;
    s->tw_vanished = 50; /* client side, nothing reused */
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "rfc1337");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "tw_killed_min"), "50");
    cr_assert_str_eq(evid(f, "tw_ended_early_client"), "50");
    cr_assert_str_eq(f->change.key, "net.ipv4.tcp_rfc1337");
    cr_assert_str_eq(f->change.value, "1");
    tw_doctor_result_free(r);
    set_delta(s, TW_C_TW_RECYCLED, 20); /* reuse can explain 20 of them */
    r = run(s);
    cr_assert_str_eq(evid(tw_doctor_find(r, "rfc1337"), "tw_killed_min"), "30");
    tw_doctor_result_free(r);
    s->k.rfc1337 = 1;
    r = run(s);
    cr_assert_null(tw_doctor_find(r, "rfc1337"));
    done(s, r);
}

/* issue 9 item 4: new SYNs take server-side TIME_WAIT over (RFC 6191) */
Test(doctor_rules, rfc1337_server_side_tw_taken_over_by_syns_is_not_blamed_on_rsts)
{
    struct tw_doctor_sample *s = healthy();
    s->tw_tracked = s->tw_tracked_server = 10;
    s->tw_vanished = s->tw_vanished_server = 10;
    set_delta(s, TW_C_PASSIVE_OPENS, 10);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "rfc1337");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert_str_eq(evid(f, "tw_killed_min"), "0");
    cr_assert_str_eq(evid(f, "tw_ended_early_server"), "10");
    cr_assert_str_eq(evid(f, "passive_opens"), "10");
    cr_assert(strstr(f->summary, "cannot tell"), "%s", f->summary);
    cr_assert_not(f->has_change, "tcp_rfc1337 = 1 would not keep them");
    cr_assert_null(strstr(f->summary, "killed"), "%s", f->summary);
    tw_doctor_result_free(r);
    set_delta(s, TW_C_PASSIVE_OPENS, 4); /* only 4 accepted: 6 were killed */
    r = run(s);
    f = tw_doctor_find(r, "rfc1337");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "tw_killed_min"), "6");
    cr_assert(f->has_change);
    done(s, r);
}

Test(doctor_rules, sysctl_conf_problems_and_out_of_range_values)
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


/* issue 9 item 1: reuse that sock_diag cannot verify is a bound, never relief */
Test(doctor_rules, port_pressure_unverified_reuse_is_a_bound)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 1;
    dest(false, 95, 100, true); /* every TIME_WAIT older than the delay */
    set_delta(s, TW_C_ACTIVE_OPENS, 20); /* 10/s */
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-pressure");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_CRIT);
    cr_assert_str_eq(evid(f, "pressure_pct"), "95.0");
    cr_assert_str_eq(evid(f, "pressure_pct_min"), "0.0");
    cr_assert_str_eq(evid(f, "reclaimable"), "0");
    cr_assert_str_eq(evid(f, "reclaimable_max"), "95");
    cr_assert_str_eq(evid(f, "free_ports"), "5", "only verified reuse frees a port");
    cr_assert_str_eq(evid(f, "sustainable_rate"), "1.7", "100 / 60 s: reuse not verified");
    cr_assert_str_eq(evid(f, "sustainable_rate_max"), "100.0", "100 / 1 s: the bound");
    cr_assert(strstr(f->summary, "up to 95 of its TIME_WAIT reusable if the peer sent "
                                 "timestamps: then 0%"),
              "%s", f->summary);
    cr_assert(strstr(f->fix, "tshark -ni any -c 1 -f 'src host 198.18.0.1 and src port 9001'"),
              "%s", f->fix);
    /* the same class in the range rule: unverified reuse does not hide it */
    cr_assert_not_null(tw_doctor_find(r, "port-range-narrow"));
    done(s, r);
}

Test(doctor_rules, port_pressure_verified_reuse_counts)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 1;
    rep.reuse_exact = true; /* a source that saw the peers' timestamps */
    struct tw_pressure *p = dest(false, 95, 100, true);
    p->reclaimable = p->reclaimable_max = 40;
    p->pct = p->pct_min = 55;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-pressure");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "free_ports"), "45");
    cr_assert_str_eq(evid(f, "sustainable_rate"), "100.0", "verified: range / delay");
    cr_assert_null(strstr(f->summary, "up to"), "exact: no bound to print");
    done(s, r);
}

/* issue 9 item 2: bind() before connect() makes the range one host-wide pool */
Test(doctor_rules, bind_before_connect_when_destinations_share_no_port)
{
    struct tw_doctor_sample *s = healthy();
    dest(false, 50, 100, false);
    dest(false, 48, 100, false);
    rep.host_ports_in_use = 98; /* 50 + 48: not one port shared */
    rep.host_pct = 98;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "bind-before-connect");
    cr_assert_not_null(f);
    cr_assert_eq(f->severity, TW_SEV_CRIT);
    cr_assert_eq(&r->f[0], f, "worst first");
    cr_assert_str_eq(evid(f, "host_ports_in_use"), "98");
    cr_assert_str_eq(evid(f, "shared_ports"), "0");
    cr_assert_str_eq(evid(f, "destinations"), "2");
    cr_assert_str_eq(evid(f, "busiest_pct"), "50.0");
    cr_assert(strstr(f->fix, "IP_BIND_ADDRESS_NO_PORT"));
    cr_assert(strstr(f->fix, "EADDRINUSE"));
    tw_doctor_result_free(r);
    rep.host_ports_in_use = 92; /* 6 ports shared: plain connect(), yet a pool nearly empty */
    rep.host_pct = 92;
    r = run(s);
    f = tw_doctor_find(r, "bind-before-connect");
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert_str_eq(evid(f, "shared_ports"), "6");
    tw_doctor_result_free(r);
    rep.host_ports_in_use = 70; /* 28 shared, 70 %: nothing to say */
    rep.host_pct = 70;
    r = run(s);
    cr_assert_null(tw_doctor_find(r, "bind-before-connect"));
    tw_doctor_result_free(r);
    rep.host_ports_in_use = 50; /* all shared: the host pool is no fuller than one dest */
    rep.host_pct = 50;
    r = run(s);
    cr_assert_null(tw_doctor_find(r, "bind-before-connect"));
    done(s, r);
}

Test(doctor_rules, tw_buckets_default_unknown_proposes_nothing_below_it)
{
    struct tw_doctor_sample *s = healthy();
    s->ehash_entries = 0; /* before 6.1: no tcp_ehash_entries */
    s->k.max_tw_buckets = 10;
    s->tw1 = 10;
    set_delta(s, TW_C_TW_OVERFLOW, 40);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-buckets");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_not(f->has_change, "no value without the kernel's default");
    cr_assert(strstr(f->fix, "dmesg"));
    tw_doctor_result_free(r);
    s->ehash_entries = 262144;
    s->k.max_tw_buckets = 131072;
    s->tw1 = 5000; /* far below the limit: reached in the window, or slab failed */
    r = run(s);
    f = tw_doctor_find(r, "tw-buckets");
    cr_assert(strstr(f->summary, "slab allocation failed"), "%s", f->summary);
    done(s, r);
}
