/*
 * test_doctor_apply.c — tw_doctor_apply / tw_doctor_rollback on the real
 * kernel, each test in its own private network namespace (Criterion forks
 * one process per test, which unshares) and with a temporary --root, so the
 * host's /etc and sysctls are never touched.
 *
 * What the CLI tests cannot reach is here: a value that passes doctor's own
 * range check but that the kernel rejects (ip_local_port_range below
 * ip_unprivileged_port_start) must leave every value and file as it was;
 * unsafe changes are refused before anything happens.  Without root or
 * namespaces the tests are skipped.
 */
#include "../tmpdir.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/doctor.h>
#include <twkit/error.h>
#include <twkit/kernel.h>

static char root[64];

static void setup(void)
{
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
        cr_skip_test("needs root and network namespaces");
    cr_assert_not_null(tw_test_tmpdir(root, sizeof(root), "apply"));
}

static void rm_rf_root(void)
{
    tw_test_rmtree(root);
}

static void read_sysctl(const char *k, char *buf, size_t len)
{
    cr_assert_geq(tw_sysctl_read(NULL, k, buf, len), 0, "read %s", k);
}

static struct tw_sysctl_change chg(const char *key, const char *value)
{
    struct tw_sysctl_change c;
    memset(&c, 0, sizeof(c));
    snprintf(c.key, sizeof(c.key), "%s", key);
    snprintf(c.value, sizeof(c.value), "%s", value);
    snprintf(c.current, sizeof(c.current), "?");
    c.finding = "test";
    c.severity = TW_SEV_WARN;
    return c;
}

static bool exists(const char *rel)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), "%s%s", root, rel);
    return stat(p, &st) == 0;
}

Test(doctor_apply, kernel_rejection_changes_nothing, .init = setup, .fini = rm_rf_root)
{
    char reuse0[32], range0[64], reuse1[32], range1[64], err[256] = "";
    read_sysctl("net.ipv4.tcp_tw_reuse", reuse0, sizeof(reuse0));
    read_sysctl("net.ipv4.ip_local_port_range", range0, sizeof(range0));
    /* 1000 passes doctor's 1-65535 check; the kernel wants >= ip_unprivileged_port_start */
    cr_assert(tw_doctor_change_safe("net.ipv4.ip_local_port_range", "1000 65535"));
    struct tw_sysctl_change c[2] = {chg("net.ipv4.tcp_tw_reuse", "1"),
                                    chg("net.ipv4.ip_local_port_range", "1000 65535")};
    struct tw_doctor_result r = {.n_changes = 2, .changes = c};
    struct tw_doctor_apply_opts o = {.root = root};
    int e = tw_doctor_apply(&o, &r, err, sizeof(err));
    cr_assert_eq(e, -EINVAL, "got %d (%s)", e, err);
    cr_assert(strstr(err, "kernel rejected net.ipv4.ip_local_port_range = 1000 65535"), "%s",
              err);
    read_sysctl("net.ipv4.tcp_tw_reuse", reuse1, sizeof(reuse1));
    read_sysctl("net.ipv4.ip_local_port_range", range1, sizeof(range1));
    cr_assert_str_eq(reuse1, reuse0, "the value set before the rejection was restored");
    cr_assert_str_eq(range1, range0);
    cr_assert_not(exists(TW_DOCTOR_DROPIN), "no drop-in");
    cr_assert_not(exists(TW_DOCTOR_STATE), "no state left");
    cr_assert_eq(tw_doctor_rollback(&o, err, sizeof(err)), -ENOENT);
}

Test(doctor_apply, unsafe_change_refused_before_anything, .init = setup, .fini = rm_rf_root)
{
    char err[256] = "", fin0[32], fin1[32];
    read_sysctl("net.ipv4.tcp_fin_timeout", fin0, sizeof(fin0));
    struct tw_sysctl_change c[2] = {chg("net.ipv4.tcp_tw_reuse", "1"),
                                    chg("net.ipv4.tcp_fin_timeout", "5")};
    struct tw_doctor_result r = {.n_changes = 2, .changes = c};
    struct tw_doctor_apply_opts o = {.root = root};
    cr_assert_eq(tw_doctor_apply(&o, &r, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "refusing to write net.ipv4.tcp_fin_timeout = 5"), "%s", err);
    read_sysctl("net.ipv4.tcp_fin_timeout", fin1, sizeof(fin1));
    cr_assert_str_eq(fin1, fin0);
    c[1] = chg("net.ipv4.tcp_tw_recycle", "0");
    cr_assert_eq(tw_doctor_apply(&o, &r, err, sizeof(err)), -EINVAL);
    cr_assert_not(exists(TW_DOCTOR_STATE));
    cr_assert_not(exists(TW_DOCTOR_DROPIN));
}

Test(doctor_apply, apply_rollback_round_trip, .init = setup, .fini = rm_rf_root)
{
    char err[256] = "", v[64];
    struct tw_sysctl_change c[2] = {chg("net.ipv4.tcp_rfc1337", "1"),
                                    chg("net.ipv4.ip_local_port_range", "40000 40101")};
    struct tw_doctor_result r = {.n_changes = 2, .changes = c};
    struct tw_doctor_apply_opts o = {.root = root, .label = "unit"};
    cr_assert_eq(tw_doctor_apply(&o, &r, err, sizeof(err)), 0, "%s", err);
    read_sysctl("net.ipv4.tcp_rfc1337", v, sizeof(v));
    cr_assert_str_eq(v, "1");
    read_sysctl("net.ipv4.ip_local_port_range", v, sizeof(v));
    cr_assert_str_eq(v, "40000\t40101");
    cr_assert(exists(TW_DOCTOR_DROPIN));
    cr_assert(exists(TW_DOCTOR_STATE));
    cr_assert_eq(tw_doctor_apply(&o, &r, err, sizeof(err)), -EEXIST);
    cr_assert_eq(tw_doctor_rollback(&o, err, sizeof(err)), 0, "%s", err);
    read_sysctl("net.ipv4.tcp_rfc1337", v, sizeof(v));
    cr_assert_str_eq(v, "0");
    read_sysctl("net.ipv4.ip_local_port_range", v, sizeof(v));
    cr_assert_str_eq(v, "32768\t60999");
    cr_assert_not(exists(TW_DOCTOR_DROPIN));
    cr_assert_not(exists(TW_DOCTOR_STATE));
}

Test(doctor_apply, rollback_in_another_namespace_is_refused, .init = setup, .fini = rm_rf_root)
{
    char err[256] = "";
    struct tw_sysctl_change c[1] = {chg("net.ipv4.tcp_rfc1337", "1")};
    struct tw_doctor_result r = {.n_changes = 1, .changes = c};
    struct tw_doctor_apply_opts o = {.root = root};
    cr_assert_eq(tw_doctor_apply(&o, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(unshare(CLONE_NEWNET), 0);
    cr_assert_eq(tw_doctor_rollback(&o, err, sizeof(err)), TW_EFOREIGN);
    cr_assert(strstr(err, "network namespace"), "%s", err);
    cr_assert(exists(TW_DOCTOR_STATE), "state kept for the right namespace");
}
