/*
 * scrape.c — the client of bench/export.sh: N scrapes of one URL at the
 * same moment, as N Prometheus servers (or N dashboards) would make them,
 * each on its own connection, and wait for every whole answer.
 *
 * Threads connect first, meet at a barrier, then each sends its GET
 * together, so the exporter sees the scrapes arrive while one collection
 * runs.  Each answer must be "HTTP/1.1 200" with a body of the announced
 * Content-Length.  bench/export.sh times the whole program with
 * bench/runmed, against the floor timed the same way.
 *
 * Usage: scrape [-c N] [-o FILE] ADDR PORT [PATH]
 *   -c N     scrapes at once (default 1, at most 64)
 *   -o FILE  write the first answer's body to FILE
 * Prints "<N> scrapes, <bytes> bytes each" on stdout.
 * Exit: 0 every scrape answered 200 in full, 1 otherwise, 2 usage.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 64
#define MAXBODY (8u << 20)

static struct sockaddr_in g_dst;
static const char *g_path = "/metrics";
static pthread_barrier_t g_bar;

struct job {
    char *buf;
    size_t len;
    bool ok;
};

static void *one(void *arg)
{
    struct job *j = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool conn = fd >= 0 && connect(fd, (struct sockaddr *)&g_dst, sizeof(g_dst)) == 0;
    pthread_barrier_wait(&g_bar);
    if (!conn)
        goto out;
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", g_path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto out;
    j->buf = malloc(MAXBODY);
    if (!j->buf)
        goto out;
    for (;;) {
        ssize_t r = recv(fd, j->buf + j->len, MAXBODY - 1 - j->len, 0);
        if (r <= 0)
            break;
        j->len += (size_t)r;
        if (j->len >= MAXBODY - 1)
            break;
    }
    j->buf[j->len] = '\0';
    const char *body = strstr(j->buf, "\r\n\r\n");
    const char *cl = strstr(j->buf, "Content-Length: ");
    if (!cl)
        cl = strstr(j->buf, "content-length: ");
    j->ok = !strncmp(j->buf, "HTTP/1.1 200", 12) && body && cl && cl < body &&
            strtoul(cl + 16, NULL, 10) == (unsigned long)(j->len - (size_t)(body + 4 - j->buf));
out:
    if (fd >= 0)
        close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    int c = 1, opt;
    const char *out = NULL;
    while ((opt = getopt(argc, argv, "c:o:")) != -1) {
        if (opt == 'c')
            c = atoi(optarg);
        else if (opt == 'o')
            out = optarg;
        else
            return 2;
    }
    if (c < 1 || c > MAXC || argc - optind < 2)
        goto usage;
    g_dst.sin_family = AF_INET;
    g_dst.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
    if (inet_pton(AF_INET, argv[optind], &g_dst.sin_addr) != 1)
        goto usage;
    if (argc - optind > 2)
        g_path = argv[optind + 2];
    struct job jobs[MAXC];
    pthread_t th[MAXC];
    memset(jobs, 0, sizeof(jobs));
    pthread_barrier_init(&g_bar, NULL, (unsigned)c);
    for (int i = 0; i < c; i++)
        pthread_create(&th[i], NULL, one, &jobs[i]);
    int bad = 0;
    for (int i = 0; i < c; i++) {
        pthread_join(th[i], NULL);
        bad += !jobs[i].ok;
    }
    if (out && jobs[0].buf) {
        FILE *f = fopen(out, "w");
        const char *body = strstr(jobs[0].buf, "\r\n\r\n");
        if (f && body)
            fputs(body + 4, f);
        if (f)
            fclose(f);
    }
    printf("%d scrapes, %zu bytes each\n", c, jobs[0].len);
    for (int i = 0; i < c; i++)
        free(jobs[i].buf);
    if (bad)
        fprintf(stderr, "scrape: %d of %d scrapes were not a whole 200 answer\n", bad, c);
    return bad ? 1 : 0;
usage:
    fprintf(stderr, "usage: scrape [-c N] [-o FILE] ADDR PORT [PATH]\n");
    return 2;
}
