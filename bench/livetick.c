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
 *                          "lost <events> seeds <n>"
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
        printf("ready\n");
        fflush(stdout);
        for (int i = 0; i < k * 10 && !g_stop; i++)
            usleep(100000);
        struct tw_live_row *r = NULL;
        size_t n = 0;
        tw_live_read(l, &r, &n); /* re-seeds if events were lost */
        free(r);
        tw_live_stats(l, &st);
        printf("lost %llu seeds %llu\n", (unsigned long long)st.lost_events,
               (unsigned long long)st.seeds);
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
