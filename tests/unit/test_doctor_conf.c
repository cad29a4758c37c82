/*
 * test_doctor_conf.c — the sysctl.d(5) parser and loader behind doctor's
 * configuration checks.
 *
 * The parser decides which lines doctor believes are configured, so every
 * accepted form (comments, '-' prefix, '/' separators, inner whitespace) and
 * every rejected one (no '=', empty key, bad characters, NUL bytes, overlong
 * key or value) is pinned here.  The loader is run over the fixture trees in
 * tests/fixtures/doctor/ (precedence by file name across directories,
 * /etc/sysctl.conf last, unreadable files reported).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/doctor.h>

#include "../tmpdir.h"

struct got {
    struct tw_sysctl_entry e[16];
    unsigned n;
    unsigned bad_line[16];
    char bad_msg[16][128];
    unsigned nbad;
};

static int on_e(const struct tw_sysctl_entry *e, void *arg)
{
    struct got *g = arg;
    if (g->n < 16)
        g->e[g->n++] = *e;
    return 0;
}

static int on_p(unsigned line, const char *msg, void *arg)
{
    struct got *g = arg;
    if (g->nbad < 16) {
        g->bad_line[g->nbad] = line;
        snprintf(g->bad_msg[g->nbad], sizeof(g->bad_msg[0]), "%s", msg);
        g->nbad++;
    }
    return 0;
}

static struct got parse(const char *text, size_t len)
{
    struct got g;
    memset(&g, 0, sizeof(g));
    cr_assert_eq(tw_sysctl_conf_parse(text, len, on_e, on_p, &g), 0);
    return g;
}

Test(doctor_conf, plain_lines_comments_and_blanks)
{
    const char *t = "# comment\n"
                    "; also a comment\n"
                    "\n"
                    "   \t\n"
                    "net.ipv4.tcp_tw_reuse = 1\n"
                    "net.ipv4.ip_local_port_range=1024 \t 65535   \n"
                    "  net.ipv4.tcp_fin_timeout\t=\t30\r\n";
    struct got g = parse(t, strlen(t));
    cr_assert_eq(g.n, 3);
    cr_assert_eq(g.nbad, 0);
    cr_assert_str_eq(g.e[0].key, "net.ipv4.tcp_tw_reuse");
    cr_assert_str_eq(g.e[0].value, "1");
    cr_assert_eq(g.e[0].line, 5);
    cr_assert_str_eq(g.e[1].key, "net.ipv4.ip_local_port_range");
    cr_assert_str_eq(g.e[1].value, "1024 \t 65535", "inner whitespace kept, ends trimmed");
    cr_assert_eq(g.e[1].line, 6);
    cr_assert_str_eq(g.e[2].key, "net.ipv4.tcp_fin_timeout");
    cr_assert_str_eq(g.e[2].value, "30", "CR removed");
    cr_assert_eq(g.e[2].line, 7);
}

Test(doctor_conf, dash_prefix_and_slash_separators)
{
    const char *t = "-net.ipv4.tcp_tw_recycle = 1\n"
                    "net/ipv4/tcp_rfc1337 = 1\n"
                    "net/ipv4/conf/eth0.100/rp_filter = 0\n"
                    "- net.ipv4.tcp_timestamps = 0\n";
    struct got g = parse(t, strlen(t));
    cr_assert_eq(g.n, 4);
    cr_assert(g.e[0].ignore_err);
    cr_assert_str_eq(g.e[0].key, "net.ipv4.tcp_tw_recycle");
    cr_assert_not(g.e[1].ignore_err);
    cr_assert_str_eq(g.e[1].key, "net.ipv4.tcp_rfc1337");
    /* first separator '/': slashes and dots swap (sysctl.d(5)) */
    cr_assert_str_eq(g.e[2].key, "net.ipv4.conf.eth0/100.rp_filter");
    cr_assert(g.e[3].ignore_err);
    cr_assert_str_eq(g.e[3].key, "net.ipv4.tcp_timestamps");
}

Test(doctor_conf, empty_value_is_an_assignment)
{
    const char *t = "net.ipv4.ip_local_reserved_ports =\n";
    struct got g = parse(t, strlen(t));
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.e[0].value, "");
}

Test(doctor_conf, malformed_lines_are_reported_with_their_number)
{
    char longkey[300], longval[300], t[1200];
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    memset(longval, '1', sizeof(longval) - 1);
    longval[sizeof(longval) - 1] = '\0';
    int n = snprintf(t, sizeof(t),
                     "net.ipv4.tcp_tw_reuse 1\n"  /* 1: no '=' */
                     " = 5\n"                     /* 2: empty key */
                     "net.ipv4.tcp_tw reuse = 1\n" /* 3: space in key */
                     "%s = 1\n"                   /* 4: key too long */
                     "k = %s\n"                   /* 5: value too long */
                     "ok.key = 2\n"               /* 6: fine */
                     "-\n",                       /* 7: dash alone: no '=' */
                     longkey, longval);
    struct got g = parse(t, (size_t)n);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.e[0].key, "ok.key");
    cr_assert_eq(g.e[0].line, 6);
    cr_assert_eq(g.nbad, 6);
    unsigned want[] = {1, 2, 3, 4, 5, 7};
    for (unsigned i = 0; i < 6; i++)
        cr_assert_eq(g.bad_line[i], want[i], "problem %u at line %u", i, g.bad_line[i]);
    cr_assert_str_eq(g.bad_msg[0], "no '=' in line");
    cr_assert_str_eq(g.bad_msg[1], "empty key");
    cr_assert_str_eq(g.bad_msg[2], "bad character in key");
    cr_assert_str_eq(g.bad_msg[3], "key too long");
    cr_assert_str_eq(g.bad_msg[4], "value too long");
}

Test(doctor_conf, nul_byte_and_no_final_newline)
{
    const char t[] = "a.b = 1\nc.d\0 = 2\ne.f = 3";
    struct got g = parse(t, sizeof(t) - 1);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.e[1].key, "e.f");
    cr_assert_str_eq(g.e[1].value, "3");
    cr_assert_eq(g.nbad, 1);
    cr_assert_eq(g.bad_line[0], 2);
    cr_assert_str_eq(g.bad_msg[0], "NUL byte in line");
}

static int stop(const struct tw_sysctl_entry *e, void *arg)
{
    (void)e;
    ++*(int *)arg;
    return 42;
}

Test(doctor_conf, callback_stops_the_parse)
{
    const char *t = "a.b = 1\nc.d = 2\n";
    int calls = 0;
    cr_assert_eq(tw_sysctl_conf_parse(t, strlen(t), stop, NULL, &calls), 42);
    cr_assert_eq(calls, 1);
    cr_assert_eq(tw_sysctl_conf_parse(NULL, 0, stop, NULL, &calls), 0);
}

static const char *fixture(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "tests/fixtures/doctor/%s", name);
    return path;
}

Test(doctor_conf, load_tree_order_and_precedence)
{
    struct tw_sysctl_conf c = {0};
    cr_assert_eq(tw_sysctl_conf_load(&c, fixture("conf-tree")), 0);
    /* /etc/sysctl.d/10-a.conf, /usr/lib/sysctl.d/20-b.conf, /etc/sysctl.d/30-c.conf
     * (shadows /run/sysctl.d/30-c.conf), then /etc/sysctl.conf */
    cr_assert_eq(c.n_files, 4, "files read: %u", c.n_files);
    cr_assert_eq(c.n_problems, 1);
    cr_assert_eq(c.p[0].line, 3);
    cr_assert(strstr(c.p[0].file, "/etc/sysctl.d/10-a.conf"));
    const struct tw_sysctl_entry *e = tw_sysctl_conf_find(&c, "net.ipv4.tcp_tw_reuse");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->value, "2", "/etc/sysctl.conf is applied last");
    cr_assert(strstr(e->file, "/etc/sysctl.conf"));
    e = tw_sysctl_conf_find(&c, "net.ipv4.tcp_fin_timeout");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->value, "15");
    cr_assert(strstr(e->file, "/etc/sysctl.d/30-c.conf"), "the /etc copy shadows /run: %s",
              e->file);
    e = tw_sysctl_conf_find(&c, "net.ipv4.tcp_tw_recycle");
    cr_assert_not_null(e);
    cr_assert(strstr(e->file, "/usr/lib/sysctl.d/20-b.conf"));
    cr_assert_eq(e->line, 2);
    cr_assert_null(tw_sysctl_conf_find(&c, "net.ipv4.not_there"));
    tw_sysctl_conf_release(&c);
    cr_assert_eq(c.n, 0);
}

Test(doctor_conf, missing_root_is_empty_not_an_error)
{
    struct tw_sysctl_conf c = {0};
    cr_assert_eq(tw_sysctl_conf_load(&c, "/nonexistent-twkit-root"), 0);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(c.n_files, 0);
    cr_assert_eq(c.n_problems, 0);
    tw_sysctl_conf_release(&c);
}

Test(doctor_conf, unreadable_file_is_a_problem)
{
    struct tw_sysctl_conf c = {0};
    cr_assert_eq(tw_sysctl_conf_load_file(&c, "/nonexistent-twkit/x.conf"), 0);
    cr_assert_eq(c.n_problems, 1);
    cr_assert_eq(c.p[0].line, 0);
    cr_assert(strstr(c.p[0].msg, "cannot read"), "%s", c.p[0].msg);
    /* a directory is not a sysctl file */
    cr_assert_eq(tw_sysctl_conf_load_file(&c, "tests"), 0);
    cr_assert_eq(c.n_problems, 2);
    cr_assert(strstr(c.p[1].msg, "not a regular file"));
    tw_sysctl_conf_release(&c);
}

/* A root deep enough that a file's path passes 600 bytes: read, and named whole. */
Test(doctor_conf, long_paths_are_read_and_kept_whole)
{
    char root[64], dir[1200], file[1300];
    cr_assert_not_null(tw_test_tmpdir(root, sizeof(root), "conf"));
    snprintf(dir, sizeof(dir), "%s", root);
    while (strlen(dir) < 600) {
        strcat(dir, "/a-rather-long-directory-name-for-a-container-root");
        cr_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
    }
    char etc[1300];
    snprintf(etc, sizeof(etc), "%s/etc", dir);
    cr_assert_eq(mkdir(etc, 0755), 0);
    strcat(etc, "/sysctl.d");
    cr_assert_eq(mkdir(etc, 0755), 0);
    snprintf(file, sizeof(file), "%s/50-tuning.conf", etc);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("net.ipv4.tcp_tw_recycle = 1\nbroken line\n", f);
    fclose(f);
    struct tw_sysctl_conf c = {0};
    cr_assert_eq(tw_sysctl_conf_load(&c, dir), 0);
    cr_assert_eq(c.n_files, 1, "a path of %zu bytes is read", strlen(file));
    cr_assert_eq(c.n, 1);
    cr_assert_str_eq(c.e[0].file, file);
    cr_assert_eq(c.n_problems, 1);
    cr_assert_str_eq(c.p[0].file, file);
    tw_sysctl_conf_release(&c);
    tw_test_rmtree(root);
}
