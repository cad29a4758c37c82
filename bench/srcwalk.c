/*
 * srcwalk.c — one socket source's walk, timed in-process, for bench/bpfsrc.sh.
 *
 * Opens a libtwkit source once (for bpf: loading and attaching the iterator,
 * timed apart) and runs ROUNDS dumps of the current namespace with a state
 * mask and a callback that only counts, so what is timed is the source
 * itself: the kernel's walk, the copy to user space and the decoding.
 * With the mask "close" almost nothing matches: the walk alone, what an
 * in-kernel fold could at best cost.
 *
 * Usage: srcwalk netlink|bpf time-wait|close ROUNDS
 * Prints "<open seconds> <median dump seconds> <sockets in the last dump>".
 * Exit: 0 ok, 1 the source failed (message on stderr), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <twkit/twkit.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int count(const struct tw_sock *s, void *arg)
{
    (void)s;
    ++*(unsigned long *)arg;
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: srcwalk netlink|bpf time-wait|close ROUNDS\n");
        return 2;
    }
    enum tw_source_kind kind = !strcmp(argv[1], "bpf") ? TW_SOURCE_BPF : TW_SOURCE_NETLINK;
    struct tw_query q;
    tw_query_init(&q);
    if (tw_state_parse(argv[2], &q.states)) {
        fprintf(stderr, "srcwalk: bad state '%s'\n", argv[2]);
        return 2;
    }
    int rounds = atoi(argv[3]);
    if (rounds < 1 || rounds > 100) {
        fprintf(stderr, "srcwalk: ROUNDS must be 1..100\n");
        return 2;
    }
    struct tw_source *src;
    double t0 = now();
    int e = tw_source_open(kind, NULL, &src);
    double t_open = now() - t0;
    if (e) {
        char why[256] = "";
        if (kind == TW_SOURCE_BPF)
            tw_source_bpf_why(why, sizeof(why));
        fprintf(stderr, "srcwalk: open %s: %s\n", argv[1], why[0] ? why : tw_strerror(e));
        return 1;
    }
    double t[100];
    unsigned long n = 0;
    for (int i = 0; i < rounds; i++) {
        n = 0;
        t0 = now();
        e = tw_source_dump(src, &q, count, &n);
        t[i] = now() - t0;
        if (e) {
            fprintf(stderr, "srcwalk: dump: %s\n", tw_source_errmsg(src));
            tw_source_close(src);
            return 1;
        }
    }
    tw_source_close(src);
    qsort(t, (size_t)rounds, sizeof(t[0]), cmp);
    double med = rounds % 2 ? t[rounds / 2] : (t[rounds / 2 - 1] + t[rounds / 2]) / 2;
    printf("%.6f %.6f %lu\n", t_open, med, n);
    return 0;
}
