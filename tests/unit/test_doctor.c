/*
 * test_doctor.c — the findings engine itself, without a kernel: a healthy
 * host is all clear, the rule table, the order of findings, which changes
 * are merged (warn and crit only), long values kept whole, the allow-list of
 * values doctor may write, the drop-in text, and the atomic file writer.
 * The rules one by one are in test_doctor_rules.c.
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

#include "../doctor_sample.h"

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
    cr_assert_geq(n, 17);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(t[i].id, t[j].id);
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
    char *t = tw_doctor_dropin_text(r, "netns test", TW_DOCTOR_SCOPE_HOST);
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

/* issue 9 item 20: --apply on an all-clear host changes nothing */
Test(doctor, info_changes_are_suggestions_never_merged)
{
    struct tw_doctor_sample *s = healthy();
    s->k.port_lo = 40000;
    s->k.port_hi = 40100; /* same parity: an info finding with a suggested value */
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-range-parity");
    cr_assert_eq(f->severity, TW_SEV_INFO);
    cr_assert(f->has_change, "the finding keeps its suggestion");
    cr_assert_eq(r->worst, TW_SEV_INFO);
    cr_assert_eq(r->n_changes, 0, "nothing to write or apply on an all-clear host");
    char *t = tw_doctor_dropin_text(r, NULL, TW_DOCTOR_SCOPE_HOST);
    cr_assert(strstr(t, "No change is justified"), "%s", t);
    free(t);
    done(s, r);
}

/* Nothing a finding holds is cut: a path of 1,000 bytes comes back whole. */
Test(doctor, long_values_are_kept_whole)
{
    struct tw_doctor_sample *s = healthy();
    char path[1100] = "/var/lib/machines/";
    while (strlen(path) < 1000)
        strcat(path, "very-long-directory-name/");
    strcat(path, "99-tuning.conf");
    struct tw_sysctl_entry e = {.key = "net.ipv4.tcp_tw_recycle", .value = "1", .file = path,
                                .line = 1234567};
    s->conf.e = &e;
    s->conf.n = 1;
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "tw-recycle-config");
    cr_assert_not_null(f);
    cr_assert_str_eq(evid(f, "file"), path);
    cr_assert_str_eq(evid(f, "line"), "1234567");
    char want[1200];
    snprintf(want, sizeof(want), "%s:1234567 sets net.ipv4.tcp_tw_recycle, removed in Linux 4.12",
             path);
    cr_assert_str_eq(f->summary, want);
    snprintf(want, sizeof(want), "Delete line 1234567 of %s.", path);
    cr_assert(strstr(f->fix, want));
    s->conf.e = NULL;
    done(s, r);
}

Test(doctor, rule_titles_fit_the_list)
{
    size_t n;
    const struct tw_doctor_rule *t = tw_doctor_rules(&n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(strlen(t[i].id), 23, "%s", t[i].id);
        cr_assert_leq(strlen(t[i].title), 55, "%s: %s", t[i].id, t[i].title);
    }
}
