/*
 * sample.c — one tick of `twkit watch` for one namespace, and the setup it
 * needs: the namespaces to watch (--netns NAME|PID|PATH|all), the socket
 * source of each, and the frames of a recorded series (--fixture).
 *
 * A tick enters the namespace (sysctls, sockstat and the counters are read
 * from /proc, which shows the calling thread's namespace), builds the same
 * report as `twkit stat` with young_ms = the tick interval, reads the TcpExt
 * and Tcp counters, and feeds both to the namespace's rate engine.  The
 * engine only sees finished reports, so the source behind it (the netlink
 * dump today) can be replaced without touching the views.
 *
 * --record DIR saves every tick as DIR/t<ms since the start>, each a
 * directory that `twkit stat --fixture` reads; --fixture DIR replays such a
 * series tick by tick, at the recorded times (or one recording, every tick).
 * DIR must be new, empty or an earlier series (replaced): never a directory
 * of other files.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "twx/clock.h"
#include "twx/file.h"
#include "watch/watch.h"

bool watch_replaying(const struct watch *w)
{
    return w->n_frames > 1;
}

static int frame_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_recording(const char *dir)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof(p), "%s/sock_diag.bin", dir);
    if (!stat(p, &st))
        return true;
    snprintf(p, sizeof(p), "%s/net/tcp", dir);
    return !stat(p, &st);
}

/* A frame's name as --record writes it: t and up to 11 digits. */
static bool frame_name(const char *n)
{
    return n[0] == 't' && n[1] && strspn(n + 1, "0123456789") == strlen(n + 1) &&
           strlen(n) <= 12;
}

/*
 * Where --record may write: a new directory, an empty one, or an earlier
 * recording of watch (t<ms>/ recordings and nothing else), whose frames are
 * removed first so that a replay does not mix two series.  A directory
 * holding anything else is refused: the recording would be written among
 * someone's files, and a replay would not find a series.
 */
static int record_dir_check(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        twx_err("--record %s: %s", dir, strerror(errno));
        return TW_EXIT_RUNTIME;
    }
    if (!S_ISDIR(st.st_mode)) {
        twx_err("--record %s: exists and is not a directory", dir);
        return TW_EXIT_RUNTIME;
    }
    DIR *d = opendir(dir);
    if (!d) {
        twx_err("--record %s: %s", dir, strerror(errno));
        return TW_EXIT_RUNTIME;
    }
    struct dirent *de;
    char p[4200], other[256] = "";
    while (!other[0] && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (!frame_name(de->d_name) || !is_recording(p))
            snprintf(other, sizeof(other), "%s", de->d_name);
    }
    closedir(d);
    if (other[0]) {
        twx_err("--record %s: the directory holds other files ('%s'); give a new or empty "
                "directory, or an earlier watch --record (which is replaced)", dir, other);
        return TW_EXIT_RUNTIME;
    }
    if (!(d = opendir(dir))) {
        twx_err("--record %s: %s", dir, strerror(errno));
        return TW_EXIT_RUNTIME;
    }
    while ((de = readdir(d))) /* an earlier recording: its frames go */
        if (frame_name(de->d_name)) {
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            twx_rm_tree(p);
        }
    closedir(d);
    return 0;
}

/* A series is DIR/t<digits>/ recordings; else DIR is one recording. */
static int load_frames(struct watch *w, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        twx_err("fixture %s: %s", dir, strerror(errno));
        return TW_EXIT_RUNTIME;
    }
    struct dirent *de;
    size_t cap = 0;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (!frame_name(n))
            continue;
        if (w->n_frames == cap) {
            cap = cap ? cap * 2 : 32;
            char **nf = realloc(w->frames, cap * sizeof(*nf));
            if (!nf)
                break;
            w->frames = nf;
        }
        if (!(w->frames[w->n_frames] = malloc(strlen(dir) + strlen(n) + 2)))
            break;
        sprintf(w->frames[w->n_frames++], "%s/%s", dir, n);
    }
    closedir(d);
    if (!w->n_frames) {
        if (!is_recording(dir)) {
            twx_err("fixture %s: no recording in it (sock_diag.bin, net/tcp, or t<ms>/ "
                    "directories as --record writes them)", dir);
            return TW_EXIT_RUNTIME;
        }
        w->frames = malloc(sizeof(*w->frames));
        if (!w->frames || !(w->frames[0] = strdup(dir)))
            return TW_EXIT_RUNTIME;
        w->n_frames = 1;
    }
    qsort(w->frames, w->n_frames, sizeof(*w->frames), frame_cmp);
    if (!(w->frame_ms = calloc(w->n_frames, sizeof(*w->frame_ms))))
        return TW_EXIT_RUNTIME;
    for (size_t i = 0; i < w->n_frames && w->n_frames > 1; i++) {
        const char *base = strrchr(w->frames[i], '/') + 2;
        w->frame_ms[i] = strtoull(base, NULL, 10);
        if (!is_recording(w->frames[i])) {
            twx_err("fixture %s: no recording in it", w->frames[i]);
            return TW_EXIT_RUNTIME;
        }
    }
    return 0;
}

static int open_source(const struct watch *w, struct watch_ns *ns)
{
    enum tw_source_kind kind = tool_source_kind(w->a->c.source);
    int e = tw_source_open(kind, NULL, &ns->src);
    if (!e)
        return 0;
    if (kind == TW_SOURCE_NETLINK)
        twx_err("cannot open a NETLINK_SOCK_DIAG socket: %s (try --source proc)", tw_strerror(e));
    else if (kind == TW_SOURCE_BPF)
        return tool_bpf_err(e);
    else
        twx_err("cannot open the socket source: %s", tw_strerror(e));
    return TW_EXIT_RUNTIME;
}

static int add_ns(struct watch *w, const char *label, uint64_t inode, struct tw_netns *netns)
{
    struct watch_ns *nn = realloc(w->ns, (w->n_ns + 1) * sizeof(*nn));
    if (!nn)
        return TW_EXIT_RUNTIME;
    w->ns = nn;
    struct watch_ns *ns = &w->ns[w->n_ns];
    memset(ns, 0, sizeof(*ns));
    snprintf(ns->label, sizeof(ns->label), "%s", label);
    ns->inode = inode;
    ns->netns.fd = -1;
    if (netns)
        ns->netns = *netns;
    if (tw_rate_engine_new(NULL, &ns->eng))
        return TW_EXIT_RUNTIME;
    w->n_ns++;
    return 0;
}

int watch_open(struct watch *w, const struct watch_args *a)
{
    memset(w, 0, sizeof(*w));
    w->a = a;
    w->orig.fd = -1;
    int rc;
    if (a->record && (rc = record_dir_check(a->record)))
        return rc;
    if (a->c.fixture) {
        if ((rc = load_frames(w, a->c.fixture)))
            return rc;
        char label[4200];
        snprintf(label, sizeof(label), "fixture %s", a->c.fixture);
        return add_ns(w, label, 0, NULL);
    }
    if (!a->c.netns) {
        char label[96];
        uint64_t inode;
        tool_netns_label(label, sizeof(label), &inode);
        if ((rc = add_ns(w, label, inode, NULL)))
            return rc;
        return open_source(w, &w->ns[0]);
    }
    int e = tw_netns_current(&w->orig);
    if (e) {
        twx_err("cannot open the current network namespace: %s", tw_strerror(e));
        return TW_EXIT_RUNTIME;
    }
    w->entered = true;
    struct tw_netns *list = NULL;
    size_t n = 0;
    if (!strcmp(a->c.netns, "all")) {
        if ((e = tw_netns_list(&list, &n))) {
            twx_err("listing network namespaces: %s", tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
    } else {
        list = calloc(1, sizeof(*list));
        if (!list)
            return TW_EXIT_RUNTIME;
        if ((e = tw_netns_open(a->c.netns, &list[0]))) {
            free(list);
            return tool_netns_err(a->c.netns, e, false);
        }
        n = 1;
    }
    rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if ((rc = add_ns(w, list[i].label, list[i].inode, &list[i])))
            break;
        list[i].fd = -1; /* owned by w->ns now */
        if ((e = tw_netns_enter(&w->ns[w->n_ns - 1].netns))) {
            rc = tool_netns_err(list[i].label, e, true);
            break;
        }
        rc = open_source(w, &w->ns[w->n_ns - 1]);
        if ((e = tw_netns_enter(&w->orig))) {
            twx_err("cannot return to the original namespace: %s", tw_strerror(e));
            rc = TW_EXIT_RUNTIME;
        }
    }
    tw_netns_list_free(list, n);
    return rc;
}

void watch_close(struct watch *w)
{
    for (size_t i = 0; i < w->n_ns; i++) {
        struct watch_ns *ns = &w->ns[i];
        tw_source_close(ns->src);
        tw_report_free(ns->rep);
        tw_rate_engine_free(ns->eng);
        if (ns->netns.fd >= 0)
            tw_netns_release(&ns->netns);
    }
    free(w->ns);
    for (size_t i = 0; i < w->n_frames; i++)
        free(w->frames[i]);
    free(w->frames);
    free(w->frame_ms);
    if (w->orig.fd >= 0)
        tw_netns_release(&w->orig);
    memset(w, 0, sizeof(*w));
}

/* The dump, the counters and the engine, inside the namespace. */
static int tick(struct watch *w, struct watch_ns *ns, uint64_t t_ms, uint32_t young_ms)
{
    const struct watch_args *a = w->a;
    const char *root = NULL;
    struct tw_source *fsrc = NULL, *src = ns->src;
    int e;
    if (w->n_frames) {
        root = w->frames[w->frame];
        if ((e = tw_source_open(TW_SOURCE_FIXTURE, root, &fsrc))) {
            snprintf(ns->err, sizeof(ns->err), "fixture %s: %s", root, tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
        src = fsrc;
    }
    if (a->record) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/t%07llu", a->record, (unsigned long long)t_ms);
        if ((e = tw_source_record(src, dir)) || (e = tw_kernel_record(NULL, dir))) {
            snprintf(ns->err, sizeof(ns->err), "--record %s: %s", dir, tw_strerror(e));
            tw_source_close(fsrc);
            return TW_EXIT_RUNTIME;
        }
    }
    struct tw_report_opts ro = {.top_n = 1, .young_ms = young_ms, .query = a->c.query};
    struct tw_report *r = NULL;
    char err[256] = "";
    e = tw_report_collect(src, &ro, root, &r, err, sizeof(err));
    tw_source_close(fsrc);
    if (e) {
        if (e == -EACCES || e == -EPERM)
            snprintf(ns->err, sizeof(ns->err), "%s (reading it needs more privileges)", err);
        else
            snprintf(ns->err, sizeof(ns->err), "%s", err[0] ? err : tw_strerror(e));
        return TW_EXIT_RUNTIME;
    }
    struct tw_counters c;
    bool have = tw_counters_read(&c, root) == 0;
    if ((e = tw_rate_engine_tick(ns->eng, t_ms, r, have ? &c : NULL, young_ms))) {
        snprintf(ns->err, sizeof(ns->err), "rate engine: %s", tw_strerror(e));
        tw_report_free(r);
        return TW_EXIT_RUNTIME;
    }
    tw_report_free(ns->rep);
    ns->rep = r;
    ns->ctr = c;
    ns->have_ctr = have;
    return 0;
}

int watch_sample(struct watch *w, size_t i, uint64_t t_ms, uint32_t young_ms)
{
    struct watch_ns *ns = &w->ns[i];
    uint64_t t0 = twx_now_ns();
    int e, rc;
    if (w->n_frames > 1) {
        if (w->frame >= w->n_frames)
            return WATCH_END;
        t_ms = w->frame_ms[w->frame];
        if (w->frame)
            young_ms = (uint32_t)(t_ms - w->frame_ms[w->frame - 1]);
    }
    ns->err[0] = 0;
    if (ns->netns.fd >= 0 && (e = tw_netns_enter(&ns->netns))) {
        snprintf(ns->err, sizeof(ns->err), "cannot enter the namespace: %s", tw_strerror(e));
        return TW_EXIT_RUNTIME;
    }
    /* no TIME_WAIT is older than 60 s: a longer window would count them all
     * and divide by more than their lifetime */
    if (young_ms > TW_TIMEWAIT_LEN_MS)
        young_ms = TW_TIMEWAIT_LEN_MS;
    if (!young_ms)
        young_ms = 1;
    rc = tick(w, ns, t_ms, young_ms);
    if (ns->netns.fd >= 0 && (e = tw_netns_enter(&w->orig))) {
        snprintf(ns->err, sizeof(ns->err), "cannot return to the original namespace: %s",
                 tw_strerror(e));
        rc = TW_EXIT_RUNTIME;
    }
    if (w->n_frames > 1)
        w->frame++;
    if (!rc) {
        ns->ticks++;
        ns->t_ms = t_ms;
        ns->tick_s = twx_secs(t0, twx_now_ns());
    }
    return rc;
}
