/*
 * livetick.c — the live table timed in-process, for bench/live.sh.
 *
 *   livetick read ROUNDS   open (load, attach, seed: timed apart), then
 *                          ROUNDS reads of the counts (what a watch tick or
 *                          an export scrape costs with --source live) and
 *                          ROUNDS sock_diag walks folded into the same rows
 *                          (what it costs without); prints
 *                          "<open s> <seed walk s> <median read s>
 *                           <median walk s> <rows> <TIME_WAIT in the table>
 *                           <TIME_WAIT in the walk>"
 *   livetick hold SECONDS  open, print "ready", keep the table attached for
 *                          SECONDS (or until SIGTERM), then print
 *                          "lost <events> seeds <n> run_ns <ns> runs <n>":
 *                          the time the kernel spent in the table's event
 *                          programs while held (BPF_ENABLE_STATS, for this
 *                          process's lifetime only), and their runs; then
 *                          on stderr one line per program: "prog <name>
 *                          runs <n> run_ns <ns> misses <recursion misses>";
 *                          with LIVETICK_STATS=0 the statistics stay off
 *                          (run_ns 0) and the table's cost is the bare one
 *
 * Exit: 0 ok, 1 the table could not be had (reason on stderr), 2 usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <twkit/twkit.h>

#include "twkit_bpf_config.h"
#if TWKIT_BPF
#include <bpf/bpf.h>

#define MAX_PROGS 16
/* run time, runs and recursion misses of one program (by name) */
struct pstat {
    char name[16];
    unsigned long long ns, cnt, miss;
};
static struct pstat g_p0[MAX_PROGS], g_p1[MAX_PROGS];

/* Run time and count of the programs loaded after id `after` (this
 * process's table: the ids grow), in total and per program into ps. */
static void prog_stats(__u32 after, unsigned long long *ns, unsigned long long *cnt,
                       struct pstat *ps)
{
    __u32 id = after;
    int n = 0;
    *ns = *cnt = 0;
    while (bpf_prog_get_next_id(id, &id) == 0) {
        int fd = bpf_prog_get_fd_by_id(id);
        if (fd < 0)
            continue;
        struct bpf_prog_info info;
        memset(&info, 0, sizeof(info));
        __u32 len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && !strncmp(info.name, "on_", 3)) {
            *ns += info.run_time_ns;
            *cnt += info.run_cnt;
            if (n < MAX_PROGS) {
                snprintf(ps[n].name, sizeof(ps[n].name), "%s", info.name);
                ps[n].ns = info.run_time_ns;
                ps[n].cnt = info.run_cnt;
                ps[n].miss = info.recursion_misses;
                n++;
            }
        }
        close(fd);
    }
}

static __u32 last_prog_id(void)
{
    __u32 id = 0, next;
    while (bpf_prog_get_next_id(id, &next) == 0)
        id = next;
    return id;
}
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t tw_of(const struct tw_live_row *r, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        if (r[i].state == TW_TIME_WAIT)
            s += (uint64_t)r[i].n;
    return s;
}

static volatile sig_atomic_t g_stop;
static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "read") && strcmp(argv[1], "hold"))) {
        fprintf(stderr, "usage: livetick read ROUNDS | livetick hold SECONDS\n");
        return 2;
    }
    int k = atoi(argv[2]);
    if (k < 1 || k > 3600) {
        fprintf(stderr, "livetick: ROUNDS/SECONDS must be 1..3600\n");
        return 2;
    }
    struct tw_live *l;
#if TWKIT_BPF
    __u32 before = last_prog_id();
#endif
    double t0 = now();
    if (tw_live_open(NULL, &l)) {
        char why[512];
        tw_live_why(why, sizeof(why));
        fprintf(stderr, "livetick: %s\n", why);
        return 1;
    }
    double t_open = now() - t0;
    struct tw_live_stats st;
    if (!strcmp(argv[1], "hold")) {
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        unsigned long long ns0 = 0, c0 = 0, ns1 = 0, c1 = 0;
#if TWKIT_BPF
        /* LIVETICK_STATS=0: no run-time statistics (they cost two clock
         * reads per program run: a rate measured with them is lower) */
        const char *se = getenv("LIVETICK_STATS");
        int sfd = se && !strcmp(se, "0") ? -1 : bpf_enable_stats(BPF_STATS_RUN_TIME);
        prog_stats(before, &ns0, &c0, g_p0);
#endif
        printf("ready\n");
        fflush(stdout);
        for (int i = 0; i < k * 10 && !g_stop; i++)
            usleep(100000);
        struct tw_live_row *r = NULL;
        size_t n = 0;
        tw_live_read(l, &r, &n); /* re-seeds if events were lost */
        free(r);
#if TWKIT_BPF
        prog_stats(before, &ns1, &c1, g_p1);
        if (sfd >= 0)
            close(sfd);
#endif
        tw_live_stats(l, &st);
        printf("lost %llu seeds %llu run_ns %llu runs %llu\n", (unsigned long long)st.lost_events,
               (unsigned long long)st.seeds, ns1 - ns0, c1 - c0);
        fflush(stdout);
#if TWKIT_BPF
        /* the same per program, for bench/live.sh's breakdown */
        for (int i = 0; i < MAX_PROGS && g_p1[i].name[0]; i++)
            fprintf(stderr, "prog %s runs %llu run_ns %llu misses %llu\n", g_p1[i].name,
                    g_p1[i].cnt - g_p0[i].cnt, g_p1[i].ns - g_p0[i].ns,
                    g_p1[i].miss - g_p0[i].miss);
#endif
        tw_live_close(l);
        return 0;
    }
    if (k > 100)
        k = 100;
    double tr[100], tw[100];
    struct tw_live_row *r = NULL, *w = NULL;
    size_t n = 0, nw = 0;
    for (int i = 0; i < k; i++) {
        free(r);
        r = NULL;
        t0 = now();
        int e = tw_live_read(l, &r, &n);
        tr[i] = now() - t0;
        if (e) {
            fprintf(stderr, "livetick: read: %s\n", tw_strerror(e));
            return 1;
        }
    }
    for (int i = 0; i < k; i++) {
        free(w);
        w = NULL;
        t0 = now();
        int e = tw_live_walk(&w, &nw);
        tw[i] = now() - t0;
        if (e) {
            fprintf(stderr, "livetick: walk: %s\n", tw_strerror(e));
            return 1;
        }
    }
    qsort(tr, (size_t)k, sizeof(double), cmp);
    qsort(tw, (size_t)k, sizeof(double), cmp);
    tw_live_stats(l, &st);
    printf("%.6f %.6f %.6f %.6f %zu %llu %llu\n", t_open, st.seed_seconds, tr[k / 2], tw[k / 2], n,
           (unsigned long long)tw_of(r, n), (unsigned long long)tw_of(w, nw));
    free(r);
    free(w);
    tw_live_close(l);
    return 0;
}
