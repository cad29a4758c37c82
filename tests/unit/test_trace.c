/*
 * test_trace.c — unit tests of `twkit trace`'s user-space half, without
 * BPF: the tables the kernel's rows are merged into (exact sums by key,
 * growth, order), the names (errno, destinations, container ids, cgroup
 * ids from a cgroup tree made on disk), the human view (80 columns, values
 * never cut: a long IPv6 destination moves below its row; process names
 * escaped) and the NDJSON lines (the fields docs/trace-json.md documents).
 * The files are included directly: they are internal to the command.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/stat_table.c"
#include "../../src/trace/json.c"
#include "../../src/trace/names.c"
#include "../../src/trace/table.c"
#include "../../src/trace/view.c"
#include "../tmpdir.h"

static struct trace_close_key ckey(uint32_t pid, const char *comm, const char *ip, uint16_t port)
{
    struct trace_close_key k;
    memset(&k, 0, sizeof(k));
    k.who.tgid = pid;
    k.who.netns = 4026531840u;
    k.who.cgroup = 1;
    memcpy(k.who.comm, comm, strnlen(comm, TRACE_COMM_LEN - 1));
    if (strchr(ip, ':')) {
        inet_pton(AF_INET6, ip, k.dst.a);
    } else {
        k.dst.a[10] = k.dst.a[11] = 0xff;
        inet_pton(AF_INET, ip, k.dst.a + 12);
    }
    k.dst.port = port;
    return k;
}

/* ---- tables ---------------------------------------------------------------- */

Test(trace_tab, merges_by_key_and_keeps_exact_sums)
{
    struct trace_tab t;
    trace_tab_init(&t, sizeof(struct trace_close_key), TRACE_CLOSE_NV);
    struct trace_close_key a = ckey(10, "curl", "198.18.0.2", 80), b = ckey(11, "curl", "198.18.0.2", 80);
    uint64_t one[6] = {1, 0, 1, 0, 0, 0}, fw2[6] = {0, 1, 1, 0, 0, 0};
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(trace_tab_add(&t, &a, one), 0);
        cr_assert_eq(trace_tab_add(&t, &b, i % 2 ? one : fw2), 0);
    }
    cr_assert_eq(t.n, 2);
    const uint64_t *va = trace_tab_val(&t, 0), *vb = trace_tab_val(&t, 1);
    cr_assert_eq(va[0], 1000);
    cr_assert_eq(va[2], 1000);
    cr_assert_eq(vb[0], 500);
    cr_assert_eq(vb[1], 500);
    trace_tab_release(&t);
}

Test(trace_tab, grows_past_its_first_size_and_merges_tables)
{
    struct trace_tab t, tot;
    trace_tab_init(&t, sizeof(struct trace_close_key), TRACE_CLOSE_NV);
    trace_tab_init(&tot, sizeof(struct trace_close_key), TRACE_CLOSE_NV);
    uint64_t v[6] = {1, 2, 3, 4, 5, 6};
    for (int round = 0; round < 3; round++) {
        trace_tab_clear(&t);
        for (uint32_t pid = 1; pid <= 5000; pid++) {
            struct trace_close_key k = ckey(pid, "w", "10.0.0.1", 443);
            cr_assert_eq(trace_tab_add(&t, &k, v), 0);
        }
        cr_assert_eq(t.n, 5000);
        cr_assert_eq(trace_tab_merge(&tot, &t), 0);
    }
    cr_assert_eq(tot.n, 5000);
    for (size_t i = 0; i < tot.n; i++)
        for (int j = 0; j < 6; j++)
            cr_assert_eq(trace_tab_val(&tot, i)[j], 3u * v[j]);
    trace_tab_release(&t);
    trace_tab_release(&tot);
}

Test(trace_tab, order_ranks_births_first)
{
    struct trace_tab t;
    trace_tab_init(&t, sizeof(struct trace_close_key), TRACE_CLOSE_NV);
    struct trace_close_key a = ckey(1, "a", "10.0.0.1", 1), b = ckey(2, "b", "10.0.0.1", 1),
                           c = ckey(3, "c", "10.0.0.1", 1);
    uint64_t va[6] = {0, 0, 0, 900, 0, 0}, vb[6] = {5, 0, 5, 0, 0, 0}, vc[6] = {3, 4, 7, 0, 0, 0};
    trace_tab_add(&t, &a, va);
    trace_tab_add(&t, &b, vb);
    trace_tab_add(&t, &c, vc);
    size_t *o = trace_tab_order(&t, 2);
    cr_assert_not_null(o);
    cr_assert_eq(o[0], 2);   /* 7 births */
    cr_assert_eq(o[1], 1);   /* 5 births */
    cr_assert_eq(o[2], 0);   /* none, although 900 closes */
    free(o);
    trace_tab_release(&t);
    cr_assert_null(trace_tab_order(&t, 2));
}

/* ---- names -------------------------------------------------------------------- */

Test(trace_names, errno_names)
{
    char b[32];
    cr_assert_str_eq(trace_errno_name(EADDRNOTAVAIL, b, sizeof(b)), "EADDRNOTAVAIL");
    cr_assert_str_eq(trace_errno_name(EADDRINUSE, b, sizeof(b)), "EADDRINUSE");
    cr_assert_str_eq(trace_errno_name(ECONNREFUSED, b, sizeof(b)), "ECONNREFUSED");
    cr_assert_str_eq(trace_errno_name(ETIMEDOUT, b, sizeof(b)), "ETIMEDOUT");
    cr_assert_str_eq(trace_errno_name(60000, b, sizeof(b)), "E60000");
}

Test(trace_names, destinations)
{
    char b[80];
    struct trace_close_key k = ckey(1, "x", "198.18.0.2", 80);
    cr_assert_str_eq(trace_addr_str(&k.dst, b, sizeof(b)), "198.18.0.2:80");
    k = ckey(1, "x", "2001:db8::1", 443);
    cr_assert_str_eq(trace_addr_str(&k.dst, b, sizeof(b)), "[2001:db8::1]:443");
    k = ckey(1, "x", "::ffff:10.1.2.3", 8080);   /* IPv4-mapped shows as IPv4 */
    cr_assert_str_eq(trace_addr_str(&k.dst, b, sizeof(b)), "10.1.2.3:8080");
    k.dst.kind = TRACE_DEST_LOCAL;
    cr_assert_str_eq(trace_addr_str(&k.dst, b, sizeof(b)), "local :8080");
    int fam;
    k = ckey(1, "x", "::1", 1);
    trace_ip_str(&k.dst, b, sizeof(b), &fam);
    cr_assert_str_eq(b, "::1");
    cr_assert_eq(fam, 6);
}

Test(trace_names, container_ids)
{
    char b[16];
    const char *id = "4f2a9c0d1e3b5a6978c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2";
    char p[256];
    snprintf(p, sizeof(p), "/system.slice/docker-%s.scope", id);
    cr_assert_str_eq(trace_container_id(p, b, sizeof(b)), "4f2a9c0d1e3b");
    snprintf(p, sizeof(p), "/kubepods/besteffort/pod1234-5678/%s", id);
    cr_assert_str_eq(trace_container_id(p, b, sizeof(b)), "4f2a9c0d1e3b");
    snprintf(p, sizeof(p), "/system.slice/cri-containerd-%s.scope", id);
    cr_assert_str_eq(trace_container_id(p, b, sizeof(b)), "4f2a9c0d1e3b");
    cr_assert_str_eq(trace_container_id("/user.slice/user-0.slice/session-1.scope", b, sizeof(b)), "");
    /* 63 or 65 hex digits are not an id */
    snprintf(p, sizeof(p), "/docker/%.63s", id);
    cr_assert_str_eq(trace_container_id(p, b, sizeof(b)), "");
    snprintf(p, sizeof(p), "/docker/%sa", id);
    cr_assert_str_eq(trace_container_id(p, b, sizeof(b)), "");
}

Test(trace_names, cgroup_ids_are_directory_inodes)
{
    char dir[128], sub[256];
    cr_assert_not_null(tw_test_tmpdir(dir, sizeof(dir), "cgroups"));
    snprintf(sub, sizeof(sub), "%s/system.slice", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof(sub), "%s/system.slice/nginx.service", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    struct stat st;
    cr_assert_eq(stat(sub, &st), 0);
    struct trace_cgroups *c = trace_cgroups_new(dir);
    cr_assert_not_null(c);
    cr_assert_str_eq(trace_cgroups_path(c, st.st_ino), "/system.slice/nginx.service");
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_str_eq(trace_cgroups_path(c, st.st_ino), "/");
    cr_assert_null(trace_cgroups_path(c, 0));
    /* a cgroup made later is found after a refresh, and only then */
    snprintf(sub, sizeof(sub), "%s/late", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    cr_assert_eq(stat(sub, &st), 0);
    trace_cgroups_path(c, 1);   /* a miss uses up the walk of this interval */
    cr_assert_null(trace_cgroups_path(c, st.st_ino));
    trace_cgroups_refresh_allowed(c);
    cr_assert_str_eq(trace_cgroups_path(c, st.st_ino), "/late");
    trace_cgroups_free(c);
    tw_test_rmtree(dir);
}

/* ---- views -------------------------------------------------------------------- */

struct rendered {
    char *buf;
    size_t len;
};

static void render(const struct trace_report *r, bool json, struct rendered *out)
{
    FILE *f = open_memstream(&out->buf, &out->len);
    cr_assert_not_null(f);
    if (json)
        trace_json(f, r);
    else
        trace_view(f, r, false);
    fclose(f);
}

static void make_report(struct trace_report *r, struct trace_tab *c, struct trace_tab *fl,
                        struct trace_ns_check *chk)
{
    trace_tab_init(c, sizeof(struct trace_close_key), TRACE_CLOSE_NV);
    trace_tab_init(fl, sizeof(struct trace_fail_key), TRACE_FAIL_NV);
    struct trace_close_key k1 = ckey(4242, "curl", "198.18.0.2", 80);
    struct trace_close_key k2 = ckey(77, "evil\x1b[2J", "2001:db8:1234:5678:9abc:def0:1234:5678", 65535);
    struct trace_close_key k3 = ckey(9, "nginx", "0.0.0.0", 8080);
    k3.dst.kind = TRACE_DEST_LOCAL;
    uint64_t v1[6] = {1200, 34, 1234, 0, 0, 0}, v2[6] = {5, 0, 5, 0, 0, 2}, v3[6] = {0, 0, 0, 99, 0, 1};
    trace_tab_add(c, &k1, v1);
    trace_tab_add(c, &k2, v2);
    trace_tab_add(c, &k3, v3);
    struct trace_fail_key f;
    memset(&f, 0, sizeof(f));
    f.who = k1.who;
    f.dst = k1.dst;
    f.call = TRACE_CONNECT;
    f.err = EADDRNOTAVAIL;
    uint64_t fv[2] = {812, 3};
    trace_tab_add(fl, &f, fv);
    memset(chk, 0, sizeof(*chk));
    snprintf(chk->label, sizeof(chk->label), "current");
    chk->netns = 4026531840u;
    chk->births = 1239;
    chk->tw_delta = 1239;
    chk->settled = true;
    memset(r, 0, sizeof(*r));
    r->kind = "interval";
    r->seconds = 1.0;
    r->exact = true;
    r->scope = "namespace current (4026531840)";
    r->births.tw = 1205;
    r->births.fw2 = 34;
    r->closes = c;
    r->fails = fl;
    r->checks = chk;
    r->nchecks = 1;
    r->top = 10;
}

Test(trace_view, fits_80_columns_and_cuts_nothing)
{
    struct trace_report r;
    struct trace_tab c, f;
    struct trace_ns_check chk;
    make_report(&r, &c, &f, &chk);
    struct rendered out = {0};
    render(&r, false, &out);
    char *save = NULL;
    bool seen_v6 = false, seen_moved = false;
    for (char *l = strtok_r(out.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cr_assert_leq(strlen(l), 80, "line over 80 columns: '%s'", l);
        if (strstr(l, "[2001:db8:1234:5678:9abc:def0:1234:5678]:65535"))
            seen_v6 = true;
        if (strstr(l, "DESTINATION [2001:db8"))
            seen_moved = true;
        cr_assert_null(strchr(l, '\x1b'), "a raw escape reached the terminal: '%s'", l);
    }
    cr_assert(seen_v6, "the IPv6 destination is shown whole");
    cr_assert(seen_moved, "the wide destination moved below its row");
    free(out.buf);
    trace_tab_release(&c);
    trace_tab_release(&f);
}

Test(trace_view, shows_counts_and_the_cross_check)
{
    struct trace_report r;
    struct trace_tab c, f;
    struct trace_ns_check chk;
    make_report(&r, &c, &f, &chk);
    struct rendered out = {0};
    render(&r, false, &out);
    cr_assert_not_null(strstr(out.buf, "TIME_WAIT births: 1,239 (TIME_WAIT 1,205, FIN_WAIT2 34)"));
    cr_assert_not_null(strstr(out.buf, "TcpExtTW +1,239: equal"));
    cr_assert_not_null(strstr(out.buf, "EADDRNOTAVAIL"));
    cr_assert_not_null(strstr(out.buf, "evil\\x1b[2J"), "the name is escaped, not dropped");
    cr_assert_not_null(strstr(out.buf, "local :8080"));
    free(out.buf);
    chk.tw_delta = 1237;   /* two births the kernel did not count */
    render(&r, false, &out);
    cr_assert_not_null(strstr(out.buf, "differs by 2"));
    free(out.buf);
    trace_tab_release(&c);
    trace_tab_release(&f);
}

Test(trace_json, one_line_with_the_documented_fields)
{
    struct trace_report r;
    struct trace_tab c, f;
    struct trace_ns_check chk;
    make_report(&r, &c, &f, &chk);
    struct rendered out = {0};
    render(&r, true, &out);
    cr_assert_eq(strchr(out.buf, '\n'), out.buf + out.len - 1, "exactly one line");
    const char *want[] = {
        "\"type\":\"interval\"", "\"schema\":\"twkit.trace.v1\"", "\"method\":\"exact\"",
        "\"births\":{\"total\":1239,\"time_wait\":1205,\"fin_wait2\":34}",
        "\"cross_check\":{", "\"tcpext_tw\":1239", "\"equal\":true",
        "\"pid\":4242", "\"comm\":\"curl\"", "\"kind\":\"remote\"", "\"address\":\"198.18.0.2\"",
        "\"family\":4", "\"port\":80", "\"time_wait\":1200", "\"fin_wait2\":34",
        "\"active\":1234", "\"passive\":0", "\"simultaneous\":0", "\"rst\":0",
        "\"comm\":\"evil\\u001b[2J\"", "\"kind\":\"local\",\"address\":null",
        "\"call\":\"connect\"", "\"errno\":\"EADDRNOTAVAIL\"", "\"errno_value\":99",
        "\"now\":812", "\"later\":3", "\"lost\":{\"rows\":0,\"pending\":0,\"missed\":0}",
        "\"unattributed_births\":0",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_not_null(strstr(out.buf, want[i]), "missing %s in %s", want[i], out.buf);
    free(out.buf);
    trace_tab_release(&c);
    trace_tab_release(&f);
}
