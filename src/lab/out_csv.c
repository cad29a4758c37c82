/*
 * out_csv.c — `twkit lab --csv DIR`: one DIR/RUN.csv per run with its time
 * series (seconds since the load began, attempts, connections, requests,
 * failures by class, TIME_WAIT per host), and the check that DIR can be
 * written, made before the first run so that a long lab run never ends in
 * "cannot write".
 *
 * File names come from run names, which --from reads from a file: only
 * letters, digits, '-' and '_' are kept (anything else becomes '_'), so a
 * name can never leave DIR; two runs that map to one name get "-2", "-3".
 * Each file is written whole and renamed into place (twx_write_atomic).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/lab.h"
#include "tool.h"
#include "twx/file.h"

int lab_csv_check(const char *dir)
{
    const char *e = dir; /* twx_err escapes the message */
    int rc = 0;
    int err = twx_mkdir_p(dir);
    if (err < 0) {
        twx_err("lab: --csv %s: cannot create the directory: %s", e, strerror(-err));
        rc = -1;
    } else {
        /* A real write, not access(): root passes access() on a read-only mount. */
        char probe[4096];
        snprintf(probe, sizeof(probe), "%s/.twkit-csv-XXXXXX", dir);
        int fd = mkostemp(probe, O_CLOEXEC);
        if (fd < 0) {
            twx_err("lab: --csv %s: cannot write there: %s", e, strerror(errno));
            rc = -1;
        } else {
            close(fd);
            unlink(probe);
        }
    }
    return rc;
}

static void file_name(char *buf, size_t len, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        buf[i] = ok ? c : '_';
    }
    buf[i] = 0;
    if (!i)
        snprintf(buf, len, "run");
}

/* A CSV field: quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_one(const char *dir, const char *base, const struct lab_run *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "t_s,attempted,connections,requests");
    for (int k = 0; k < r->n_kinds; k++) {
        fputc(',', f);
        csv_field(f, r->kind[k]);
    }
    fprintf(f, ",tw_client,tw_server,tw_proxy\n");
    for (size_t s = 0; s < r->n_rows; s++) {
        const struct lab_row *row = &r->rows[s];
        fprintf(f, "%.3f,%llu,%llu,%llu", row->t, (unsigned long long)row->attempted,
                (unsigned long long)row->connected, (unsigned long long)row->requests);
        for (int k = 0; k < r->n_kinds; k++)
            fprintf(f, ",%llu", (unsigned long long)row->err[k]);
        fprintf(f, ",%u,%u,", row->tw[LAB_CLIENT], row->tw[LAB_SERVER]);
        if (r->n_hosts > 2)
            fprintf(f, "%u", row->tw[LAB_PROXY]);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.csv", dir, base);
    int e = twx_write_atomic(path, buf, len, 0644);
    free(buf);
    return e;
}

int lab_write_csv(const char *dir, struct lab_run *runs, size_t n)
{
    char (*names)[256] = calloc(n ? n : 1, sizeof(*names));
    if (!names)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (runs[i].status != LAB_RUN_OK)
            continue;
        char base[240];
        file_name(base, sizeof(base), runs[i].name);
        snprintf(names[i], sizeof(names[i]), "%s", base);
        for (int dup = 2;; dup++) {
            bool clash = false;
            for (size_t k = 0; k < i; k++)
                if (!strcmp(names[k], names[i]))
                    clash = true;
            if (!clash)
                break;
            snprintf(names[i], sizeof(names[i]), "%s-%d", base, dup);
        }
        int e = write_one(dir, names[i], &runs[i]);
        if (e < 0) {
            twx_err("lab: --csv: cannot write %s/%s.csv: %s", dir, names[i], strerror(-e));
            rc = -1;
        }
    }
    free(names);
    return rc;
}
