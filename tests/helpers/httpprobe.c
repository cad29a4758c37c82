/*
 * httpprobe.c — a misbehaving HTTP client for the tests of `twkit export`:
 * exact bytes, slow bytes, many idle connections and a steady scrape load,
 * with what the server did in answer measured on the client's side.
 *
 *   httpprobe raw ADDR PORT DATA [SECS]
 *       send DATA (C escapes \r \n \\ \xNN), read until the server closes
 *       or SECS (default 5) pass; print "status N" (or "status none"),
 *       "bytes N" and "closed yes|no".
 *   httpprobe slow ADDR PORT N EVERY_MS SECS
 *       open N connections and drip one byte of a never-ending request
 *       header on each every EVERY_MS; print "held_max S" (the longest any
 *       connection stayed open, in seconds) and "open_at_end N".
 *   httpprobe load ADDR PORT PATH IDLE RATE SECS [SRC,SRC...]
 *       hold IDLE idle connections (from the source addresses given, round
 *       robin; reopened when the server closes them) while making RATE
 *       scrapes of PATH per second for SECS seconds, each on a new
 *       connection from ADDR's loopback; every scrape must be a 200 whose
 *       body holds "twkit_exporter_dumps_total".  Prints one line of
 *       "key value" pairs: scrapes, ok, failed, max_ms, p99_ms,
 *       idle_min (fewest idle connections open at once after the first
 *       second), reopened.
 * Exit: 0 ran (the numbers tell), 1 could not run, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "twx/clock.h"

#define MAX_IDLE 4096
#define SCRAPERS 4
#define MAX_SAMPLES 100000

static struct sockaddr_in g_dst;

static int dial(const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (src) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        if (inet_pton(AF_INET, src, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof(a))) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&g_dst, sizeof(g_dst))) {
        close(fd);
        return -1;
    }
    return fd;
}

static size_t unescape(const char *s, char *out)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s != '\\' || !s[1]) {
            out[n++] = *s;
            continue;
        }
        s++;
        if (*s == 'r')
            out[n++] = '\r';
        else if (*s == 'n')
            out[n++] = '\n';
        else if (*s == 'x' && s[1] && s[2]) {
            char h[3] = {s[1], s[2], 0};
            out[n++] = (char)strtol(h, NULL, 16);
            s += 2;
        } else
            out[n++] = *s;
    }
    return n;
}

/* Read until close or deadline; returns bytes read, sets *closed. */
static size_t drain(int fd, double deadline, char *head, size_t headlen, bool *closed)
{
    size_t total = 0;
    char buf[65536];
    *closed = false;
    for (;;) {
        int left = (int)((deadline - twx_now_s()) * 1000);
        if (left <= 0)
            return total;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            return total;
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0) {
            *closed = true;
            return total;
        }
        if (total < headlen - 1) {
            size_t c = (size_t)r < headlen - 1 - total ? (size_t)r : headlen - 1 - total;
            memcpy(head + total, buf, c);
            head[total + c] = '\0';
        }
        total += (size_t)r;
    }
}

static int do_raw(const char *data, double secs)
{
    static char req[1 << 20];
    size_t n = unescape(data, req);
    int fd = dial(NULL);
    if (fd < 0) {
        perror("httpprobe: connect");
        return 1;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may close before reading it all */
        off += (size_t)w;
    }
    char head[256] = "";
    bool closed;
    size_t got = drain(fd, twx_now_s() + secs, head, sizeof(head), &closed);
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) == 1)
        printf("status %d\n", status);
    else
        printf("status none\n");
    printf("bytes %zu\nclosed %s\n", got, closed ? "yes" : "no");
    close(fd);
    return 0;
}

static int do_slow(int n, int every_ms, double secs)
{
    static int fds[MAX_IDLE];
    static double opened[MAX_IDLE], held[MAX_IDLE];
    if (n < 1 || n > MAX_IDLE)
        return 2;
    const char *drip = "GET /metrics HTTP/1.1\r\nX-Slow: ";
    size_t pos[MAX_IDLE] = {0};
    for (int i = 0; i < n; i++) {
        fds[i] = dial(NULL);
        opened[i] = twx_now_s();
        held[i] = -1;
    }
    double end = twx_now_s() + secs;
    while (twx_now_s() < end) {
        for (int i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            char c = drip[pos[i] < strlen(drip) ? pos[i] : strlen(drip) - 1];
            if (pos[i] >= strlen(drip))
                c = 'a';
            pos[i]++;
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            bool gone = send(fds[i], &c, 1, MSG_NOSIGNAL) != 1 ||
                        (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)));
            if (gone) { /* an answer (an error page) or a close: the server let go */
                held[i] = twx_now_s() - opened[i];
                close(fds[i]);
                fds[i] = -1;
            }
        }
        usleep((useconds_t)every_ms * 1000);
    }
    double max = 0;
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            open++;
            held[i] = twx_now_s() - opened[i];
            close(fds[i]);
        }
        if (held[i] > max)
            max = held[i];
    }
    printf("held_max %.1f\nopen_at_end %d\n", max, open);
    return 0;
}

/* ---- load ------------------------------------------------------------------------ */

static const char *g_path;
static double g_rate, g_end;
static atomic_uint g_scrapes, g_ok, g_failed;
static double g_lat[MAX_SAMPLES];
static atomic_uint g_nlat;

static void *scraper(void *arg)
{
    int idx = (int)(long)arg;
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", g_path);
    double period = SCRAPERS / g_rate, next = twx_now_s() + idx * period / SCRAPERS;
    static __thread char body[1 << 20];
    while (next < g_end) {
        double t = twx_now_s();
        if (t < next)
            usleep((useconds_t)((next - t) * 1e6));
        next += period;
        double t0 = twx_now_s();
        atomic_fetch_add(&g_scrapes, 1);
        int fd = dial(NULL);
        bool ok = false;
        if (fd >= 0 && send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
            size_t got = 0;
            bool closed = false;
            double dl = t0 + 5;
            while (!closed && twx_now_s() < dl && got < sizeof(body) - 1) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, 100) <= 0)
                    continue;
                ssize_t r = recv(fd, body + got, sizeof(body) - 1 - got, 0);
                if (r <= 0)
                    closed = true;
                else
                    got += (size_t)r;
            }
            body[got] = '\0';
            ok = closed && !strncmp(body, "HTTP/1.1 200", 12) && strstr(body, "twkit_exporter_dumps_total");
        }
        if (fd >= 0)
            close(fd);
        double lat = twx_now_s() - t0;
        unsigned k = atomic_fetch_add(&g_nlat, 1);
        if (k < MAX_SAMPLES)
            g_lat[k] = lat;
        atomic_fetch_add(ok ? &g_ok : &g_failed, 1);
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int do_load(int idle, double rate, double secs, char *srcs)
{
    static int fds[MAX_IDLE];
    static const char *src_of[MAX_IDLE];
    const char *src[64];
    int nsrc = 0;
    for (char *s = srcs ? strtok(srcs, ",") : NULL; s && nsrc < 64; s = strtok(NULL, ","))
        src[nsrc++] = s;
    if (idle < 0 || idle > MAX_IDLE || rate <= 0)
        return 2;
    for (int i = 0; i < idle; i++) {
        src_of[i] = nsrc ? src[i % nsrc] : NULL;
        fds[i] = dial(src_of[i]);
    }
    g_end = twx_now_s() + secs;
    g_rate = rate;
    pthread_t th[SCRAPERS];
    for (long i = 0; i < SCRAPERS; i++)
        pthread_create(&th[i], NULL, scraper, (void *)i);
    unsigned reopened = 0;
    int idle_min = idle;
    double start = twx_now_s();
    static struct pollfd pf[MAX_IDLE];
    while (twx_now_s() < g_end) {
        int open = 0;
        for (int i = 0; i < idle; i++) {
            pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
            open += fds[i] >= 0;
        }
        if (twx_now_s() - start > 1 && open < idle_min)
            idle_min = open;
        poll(pf, (nfds_t)idle, 100);
        for (int i = 0; i < idle; i++) {
            if (fds[i] >= 0 && !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (fds[i] >= 0)
                close(fds[i]);
            fds[i] = dial(src_of[i]);
            reopened++;
        }
    }
    for (int i = 0; i < SCRAPERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < idle; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    unsigned n = atomic_load(&g_nlat) < MAX_SAMPLES ? atomic_load(&g_nlat) : MAX_SAMPLES;
    qsort(g_lat, n, sizeof(double), cmp_d);
    printf("scrapes %u ok %u failed %u max_ms %.1f p99_ms %.1f idle_min %d reopened %u\n",
           atomic_load(&g_scrapes), atomic_load(&g_ok), atomic_load(&g_failed),
           n ? g_lat[n - 1] * 1000 : 0, n ? g_lat[(size_t)(n * 0.99)] * 1000 : 0, idle_min, reopened);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        goto usage;
    g_dst.sin_family = AF_INET;
    g_dst.sin_port = htons((uint16_t)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &g_dst.sin_addr) != 1)
        goto usage;
    if (!strcmp(argv[1], "raw") && argc >= 5)
        return do_raw(argv[4], argc > 5 ? atof(argv[5]) : 5);
    if (!strcmp(argv[1], "slow") && argc == 7)
        return do_slow(atoi(argv[4]), atoi(argv[5]), atof(argv[6]));
    if (!strcmp(argv[1], "load") && argc >= 8) {
        g_path = argv[4];
        return do_load(atoi(argv[5]), atof(argv[6]), atof(argv[7]), argc > 8 ? argv[8] : NULL);
    }
usage:
    fprintf(stderr, "usage: httpprobe raw|slow|load ADDR PORT ... (see the source)\n");
    return 2;
}
