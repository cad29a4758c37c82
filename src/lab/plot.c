/*
 * plot.c — `twkit lab --plot FILE.png|FILE.svg`: a chart that shows at a
 * glance which fix kept TIME_WAIT and failures down.
 *
 * One panel per place where TIME_WAIT lives (the client host, the server
 * host, the proxy host's connections to the backends) and one for the
 * cumulative failures; each panel draws only the runs that have something
 * there and names the others ("none in: ..."), on a log scale because the
 * runs differ by orders of magnitude (20 against 60,000) and a run's zero
 * cannot flatten the rest.  Every run keeps one colour and one dash
 * pattern in every panel; titles and labels are words, drawn without
 * gnuplot's "enhanced" markup (so TIME_WAIT is not a subscript).
 *
 * gnuplot writes the image to its standard output, which is a temporary
 * file beside FILE, renamed into place when gnuplot succeeds; its standard
 * error is kept and reported word for word when it fails.  The script goes
 * in through a memfd, so nothing can block.  lab_plot_check runs before
 * the first run: gnuplot must be in PATH and FILE's directory writable.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab/lab.h"
#include "tool.h"

static const char *const COLOURS[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#000000", "#8C564B",
                                      "#7F7F7F", "#BCBD22", "#9467BD", "#17BECF"};
#define N_COLOURS (sizeof(COLOURS) / sizeof(COLOURS[0]))
/* gnuplot point types: filled and open squares, circles, triangles, ... */
static const int POINTS[] = {5, 7, 9, 11, 13, 4, 6, 8, 10, 12, 1, 2, 3};
#define N_POINTS (sizeof(POINTS) / sizeof(POINTS[0]))

/* gnuplot found in PATH, or false. */
static bool have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        return false;
    char *dup = strdup(path), *save = NULL;
    bool found = false;
    for (char *d = dup ? strtok_r(dup, ":", &save) : NULL; d && !found;
         d = strtok_r(NULL, ":", &save)) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/gnuplot", *d ? d : ".");
        found = access(p, X_OK) == 0;
    }
    free(dup);
    return found;
}

/* Make a temporary file beside path; returns its fd or -errno. */
static int tmp_beside(const char *path, char *tmp, size_t len)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    snprintf(tmp, len, "%s/.twkit-plot-XXXXXX", dirname(copy));
    free(copy);
    int fd = mkostemp(tmp, O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int lab_plot_check(const char *path)
{
    const char *e = path; /* twx_err escapes the message */
    int rc = 0;
    struct stat st;
    char tmp[4096];
    if (!have_gnuplot()) {
        twx_err("lab: --plot needs gnuplot, which is not in PATH (Debian: apt install "
                "gnuplot-nox)");
        rc = -1;
    } else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        twx_err("lab: --plot %s: is a directory", e);
        rc = -1;
    } else {
        int fd = tmp_beside(path, tmp, sizeof(tmp));
        if (fd < 0) {
            twx_err("lab: --plot %s: cannot write there: %s", e, strerror(-fd));
            rc = -1;
        } else {
            close(fd);
            unlink(tmp);
        }
    }
    return rc;
}

/* s as a gnuplot double-quoted string; a newline starts a new line. */
static void gp_text(FILE *g, const char *s)
{
    fputc('"', g);
    for (const char *p = s; *p; p++) {
        if (*p == '\n')
            fputs("\\n", g);
        else if (*p == '"' || *p == '\\')
            fprintf(g, "\\%c", *p);
        else if (*p == '@') /* no macro expansion */
            fputs("\\100", g);
        else
            fputc(*p, g);
    }
    fputc('"', g);
}

/* A run name (outside data): escaped for terminals first, then for gnuplot. */
static void gp_name(FILE *g, const char *s)
{
    char *e = lab_esc(s);
    gp_text(g, e);
    free(e);
}

enum { P_CLIENT, P_SERVER, P_PROXY, P_ERRORS, N_PANELS };

static uint64_t value(const struct lab_run *r, const struct lab_row *row, int panel)
{
    if (panel == P_ERRORS) {
        uint64_t e = 0;
        for (int k = 0; k < r->n_kinds; k++)
            e += row->err[k];
        return e;
    }
    int h = panel == P_CLIENT ? LAB_CLIENT : panel == P_SERVER ? LAB_SERVER : LAB_PROXY;
    return h < r->n_hosts ? row->tw[h] : 0;
}

static uint64_t run_max(const struct lab_run *r, int panel)
{
    uint64_t m = 0;
    for (size_t s = 0; s < r->n_rows; s++) {
        uint64_t v = value(r, &r->rows[s], panel);
        m = v > m ? v : m;
    }
    return m;
}

static void script(FILE *g, const char *path, struct lab_run *runs, size_t n)
{
    static const char *const titles[N_PANELS] = {
        "TIME_WAIT sockets on the client host",
        "TIME_WAIT sockets on the server host (the server closed first)",
        "TIME_WAIT sockets on the proxy host (nginx's connections to the backends)",
        "Failed connections and requests (cumulative)",
    };
    const char *ext = strrchr(path, '.');
    bool svg = ext && !strcmp(ext, ".svg");
    bool show[N_PANELS] = {true, false, false, true};
    double tmax = 1;
    for (size_t i = 0; i < n; i++) {
        if (runs[i].status != LAB_RUN_OK)
            continue;
        show[P_SERVER] |= run_max(&runs[i], P_SERVER) > 0;
        show[P_PROXY] |= runs[i].n_hosts > 2;
        for (size_t s = 0; s < runs[i].n_rows; s++)
            tmax = runs[i].rows[s].t > tmax ? runs[i].rows[s].t : tmax;
    }
    int panels = 0;
    for (int p = 0; p < N_PANELS; p++)
        panels += show[p];
    fprintf(g, "set terminal %s size 1100,%d noenhanced font \"sans,11\" background \"white\"\n",
            svg ? "svg" : "pngcairo", 80 + 300 * panels);
    fprintf(g, "set encoding utf8\nset termoption noenhanced\n");
    for (size_t i = 0; i < n; i++)
        fprintf(g, "set style line %zu lc rgb \"%s\" lw 2 dt %zu pt %d ps 1.1\n", i + 1,
                COLOURS[i % N_COLOURS], (i + i / N_COLOURS) % 4 + 1, POINTS[i % N_POINTS]);
    /* one data block per run: t, client, server, proxy, failures */
    for (size_t i = 0; i < n; i++) {
        struct lab_run *r = &runs[i];
        if (r->status != LAB_RUN_OK)
            continue;
        fprintf(g, "$run%zu << EOD\n", i);
        for (size_t s = 0; s < r->n_rows; s++) {
            fprintf(g, "%.3f", r->rows[s].t);
            for (int p = 0; p < N_PANELS; p++)
                fprintf(g, " %llu", (unsigned long long)value(r, &r->rows[s], p));
            fputc('\n', g);
        }
        fprintf(g, "EOD\n");
    }
    fprintf(g, "set multiplot layout %d,1 title \"twkit lab: which fix keeps TIME_WAIT and "
               "failures down\" font \",14\"\n", panels);
    fprintf(g, "set lmargin 12\nset rmargin 30\nset grid ytics mytics xtics lc rgb \"#dddddd\"\n"
               "set key outside right top vertical Left reverse samplen 3 spacing 1.1\n"
               "set xlabel \"seconds since the load started\"\nset xrange [0:%.3f]\n"
               "set logscale y 10\nset format y \"%%.0f\"\n", tmax * 1.02);
    for (int p = 0; p < N_PANELS; p++) {
        if (!show[p])
            continue;
        uint64_t ymax = 0;
        char *none = NULL;
        size_t nl = 0;
        for (size_t i = 0; i < n; i++) {
            if (runs[i].status != LAB_RUN_OK || (p == P_PROXY && runs[i].n_hosts < 3))
                continue;
            uint64_t m = run_max(&runs[i], p);
            ymax = m > ymax ? m : ymax;
            if (m == 0) {
                char *e = lab_esc(runs[i].name);
                size_t el = strlen(e);
                char *q = realloc(none, nl + el + 3);
                if (q) {
                    none = q;
                    if (nl) { /* a new line every ~100 characters */
                        const char *last = memrchr(none, '\n', nl);
                        size_t line = nl - (last ? (size_t)(last - none) + 1 : 0);
                        memcpy(none + nl, line + el > 100 ? ",\n" : ", ", 2);
                        nl += 2;
                    }
                    memcpy(none + nl, e, el + 1);
                    nl += el;
                }
                free(e);
            }
        }
        fprintf(g, "set title ");
        char *t = NULL;
        size_t tl = 0;
        FILE *tf = open_memstream(&t, &tl);
        if (tf) {
            fputs(titles[p], tf);
            if (none)
                fprintf(tf, "\n%s: %s", p == P_ERRORS ? "no failures" : "none in", none);
            fclose(tf);
            gp_text(g, t ? t : "");
            free(t);
        }
        free(none);
        fprintf(g, "\nset ylabel \"%s (log scale)\"\n", p == P_ERRORS ? "failures" : "sockets");
        fprintf(g, "set yrange [0.5:%llu]\n", (unsigned long long)(ymax ? ymax * 4 : 10));
        fprintf(g, "plot ");
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (runs[i].status != LAB_RUN_OK || (p == P_PROXY && runs[i].n_hosts < 3) ||
                run_max(&runs[i], p) == 0)
                continue;
            size_t every = runs[i].n_rows / 12 + 1, last = runs[i].n_rows - 1;
            fprintf(g, "%s$run%zu using 1:($%d > 0 ? $%d : NaN) with linespoints ls %zu "
                       "pointinterval %zu title ",
                    first ? "" : ", \\\n     ", i, p + 2, p + 2, i + 1, every);
            gp_name(g, runs[i].name);
            /* the last value always gets its mark, even when it is the only one */
            fprintf(g, ", \\\n     $run%zu every ::%zu::%zu using 1:($%d > 0 ? $%d : NaN) "
                       "with points ls %zu notitle", i, last, last, p + 2, p + 2, i + 1);
            first = false;
        }
        if (first) /* nothing to draw: an empty frame with its title */
            fprintf(g, "NaN notitle");
        fputc('\n', g);
    }
    fprintf(g, "unset multiplot\n");
}

int lab_write_plot(const char *path, struct lab_run *runs, size_t n)
{
    const char *ep = path; /* twx_err escapes the message */
    char tmp[4096] = "";
    int out = -1, in = -1, errp[2] = {-1, -1}, rc = -1;
    char *buf = NULL, *err = NULL;
    size_t len = 0, elen = 0;
    FILE *g = open_memstream(&buf, &len);
    if (!g)
        goto done;
    script(g, path, runs, n);
    if (fclose(g) != 0)
        goto done;
    in = memfd_create("twkit-plot", MFD_CLOEXEC);
    out = tmp_beside(path, tmp, sizeof(tmp));
    if (in < 0 || out < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
        write(in, buf, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) != 0) {
        twx_err("lab: --plot %s: cannot write there: %s", ep,
                strerror(out < 0 ? -out : errno));
        goto done;
    }
    pid_t p = fork();
    if (p < 0)
        goto done;
    if (p == 0) {
        dup2(in, 0);
        dup2(out, 1);
        dup2(errp[1], 2);
        execlp("gnuplot", "gnuplot", (char *)NULL);
        fprintf(stderr, "cannot run gnuplot: %s\n", strerror(errno));
        _exit(127);
    }
    close(errp[1]);
    errp[1] = -1;
    FILE *ef = open_memstream(&err, &elen);
    char chunk[4096];
    ssize_t r;
    while ((r = read(errp[0], chunk, sizeof(chunk))) > 0 || (r < 0 && errno == EINTR))
        if (r > 0 && ef && elen < 65536)
            fwrite(chunk, 1, (size_t)r, ef);
    if (ef)
        fclose(ef);
    int st = 0;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
        ;
    struct stat sb;
    bool wrote = fstat(out, &sb) == 0 && sb.st_size > 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !wrote) {
        const char *m = err && *err ? err : "no message";
        char *msg = malloc(2 * strlen(m) + 1);
        if (msg) { /* its lines kept apart by "; " (twx_err escapes the rest) */
            size_t k = 0, ml = strlen(m);
            while (ml && m[ml - 1] == '\n')
                ml--;
            for (size_t i = 0; i < ml; i++) {
                if (m[i] == '\n') {
                    msg[k++] = ';';
                    msg[k++] = ' ';
                } else {
                    msg[k++] = m[i];
                }
            }
            msg[k] = 0;
        }
        twx_err("lab: --plot %s: gnuplot failed (%s %d): %s", ep,
                WIFEXITED(st) ? "exit status" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), msg ? msg : m);
        free(msg);
        goto done;
    }
    if (fsync(out) < 0 || rename(tmp, path) < 0) {
        twx_err("lab: --plot %s: %s", ep, strerror(errno));
        goto done;
    }
    tmp[0] = 0;
    rc = 0;
done:
    if (out >= 0) {
        close(out);
        if (rc < 0 && tmp[0])
            unlink(tmp);
    }
    if (in >= 0)
        close(in);
    for (int k = 0; k < 2; k++)
        if (errp[k] >= 0)
            close(errp[k]);
    free(buf);
    free(err);
    return rc;
}
