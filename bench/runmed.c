/*
 * runmed.c — time a command for bench/stat.sh: run it K times, one after
 * another, and print the median wall time and the peak resident set size.
 *
 * Wall time is CLOCK_MONOTONIC from fork() to the child's reaping, so every
 * command measured pays the same fork+exec cost.  Peak RSS is ru_maxrss
 * from wait4(): the child's own high-water mark, or that of its largest
 * waited-for descendant (for `sh -c 'a | b'` it is the biggest stage, not
 * the sum).  The child runs in its own process group with stdin from
 * /dev/null and stdout to FILE (default /dev/null); a child that outlives
 * the time limit, or a SIGINT/SIGTERM to runmed, kills that whole group.
 *
 * Usage: runmed [-k RUNS] [-o FILE] [-t SECONDS] -- COMMAND [ARG...]
 * Prints one line on stdout: "<median seconds> <peak RSS KiB> <status>",
 * status 0 when every run exited 0, else the first failing run's exit code
 * (128+signal if killed, 124 on the time limit).
 * Exit: 0 measured (whatever the child's status), 1 could not run, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "twx/clock.h"

#define MAX_RUNS 1000

static volatile sig_atomic_t child_pgid;

static void on_signal(int sig)
{
    if (child_pgid > 0)
        kill(-child_pgid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: runmed [-k RUNS] [-o FILE] [-t SECONDS] -- COMMAND [ARG...]\n"
               "Run COMMAND RUNS times (default 1); print \"<median s> <peak RSS KiB> <status>\".\n");
}

/* Run once; *secs, *rss_kib, *status filled.  Returns 0 or -1 (fork failed). */
static int run_once(char **cmd, const char *outfile, int limit_ms, double *secs, long *rss_kib,
                    int *status)
{
    struct rusage ru;
    int ws = 0, pfd, timed_out = 0;
    double t0 = twx_now_s();
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0) {
            fprintf(stderr, "runmed: cannot open /dev/null or %s: %s\n", outfile, strerror(errno));
            _exit(126);
        }
        execvp(cmd[0], cmd);
        fprintf(stderr, "runmed: %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* both sides, so no race with the kill below */
    child_pgid = pid;

    pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
        struct pollfd p = { .fd = pfd, .events = POLLIN };
        int r;
        do
            r = poll(&p, 1, limit_ms);
        while (r < 0 && errno == EINTR);
        if (r == 0) {
            timed_out = 1;
            kill(-pid, SIGKILL);
        }
        close(pfd);
    }
    while (wait4(pid, &ws, 0, &ru) < 0) {
        if (errno != EINTR) {
            memset(&ru, 0, sizeof ru);
            ws = 0;
            break;
        }
    }
    *secs = twx_now_s() - t0;
    child_pgid = 0;
    *rss_kib = ru.ru_maxrss;
    if (timed_out) {
        fprintf(stderr, "runmed: %s: killed after %d ms\n", cmd[0], limit_ms);
        *status = 124;
    } else if (WIFEXITED(ws)) {
        *status = WEXITSTATUS(ws);
    } else if (WIFSIGNALED(ws)) {
        *status = 128 + WTERMSIG(ws);
    } else {
        *status = 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *outfile = "/dev/null";
    long runs = 1, limit_s = 120, peak = 0;
    int opt, first_bad = 0;
    double times[MAX_RUNS], med;
    char *end;

    while ((opt = getopt(argc, argv, "+k:o:t:h")) != -1) {
        switch (opt) {
        case 'k':
            errno = 0;
            runs = strtol(optarg, &end, 10);
            if (errno || *end || runs < 1 || runs > MAX_RUNS) {
                fprintf(stderr, "runmed: -k wants 1..%d, not '%s'\n", MAX_RUNS, optarg);
                return 2;
            }
            break;
        case 'o': outfile = optarg; break;
        case 't':
            errno = 0;
            limit_s = strtol(optarg, &end, 10);
            if (errno || *end || limit_s < 1 || limit_s > 3600) {
                fprintf(stderr, "runmed: -t wants 1..3600 seconds, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    for (long i = 0; i < runs; i++) {
        long rss;
        int st;
        if (run_once(argv + optind, outfile, (int)(limit_s * 1000), &times[i], &rss, &st) < 0) {
            fprintf(stderr, "runmed: fork: %s\n", strerror(errno));
            return 1;
        }
        if (rss > peak)
            peak = rss;
        if (st && !first_bad)
            first_bad = st;
    }
    qsort(times, (size_t)runs, sizeof times[0], cmp_double);
    med = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    printf("%.6f %ld %d\n", med, peak, first_bad);
    return 0;
}
