/*
 * topo.c — private test hosts and the programs inside them, built so
 * that nothing survives the command that made them (the lab, explain),
 * whatever way it ends.
 *
 * Each host is a *holder* process created with clone(CLONE_NEWPID |
 * CLONE_NEWNET | CLONE_NEWNS): it is PID 1 of its own PID namespace and the
 * first process of a fresh network namespace (with the kernel's default
 * sysctls) and mount namespace.  Nothing is named in /run/netns.  The
 * holder asks for SIGKILL when the lab dies (PR_SET_PDEATHSIG) and also
 * exits when its lifeline pipe from the lab closes.  When PID 1 of a PID
 * namespace dies, the kernel kills every process in it; when the last
 * process of a network namespace is gone, the kernel destroys it with its
 * sockets (TIME_WAIT included) and its end of every veth pair, which takes
 * the peer end with it.  So SIGKILL of the lab removes everything: holders
 * die of PDEATHSIG, then the programs inside them, then the namespaces.
 *
 * A program runs in a host through a *shim*: the lab forks it (PDEATHSIG
 * again), the shim enters the host's mount, network and PID namespaces and
 * forks the program, which is thus a member of the host's PID namespace.
 * The shim forwards SIGTERM/SIGINT to it and exits with its status.
 * twkit's own sub-modes are re-executed from an fd on /proc/self/exe taken
 * at start, so they work even where /tmp is private.
 *
 * Temporary files: a host with private_tmp mounts a tmpfs on /tmp inside
 * its mount namespace (mount propagation made private first), so files the
 * lab writes there (nginx's prefix) exist only in memory and vanish with
 * the host.  The lab writes no file anywhere else.
 *
 * Network configuration (veth pairs, addresses, sysctls, tun devices and
 * sockets made inside a host) is in topo_net.c.
 */
#include "twx/topo.h"
#include "twx/topo_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <twkit/sock.h>

static int g_exe_fd = -1;
static pid_t g_lab_pid;
volatile pid_t twx_topo_all_pids[64];
volatile int twx_topo_n_pids;

static void note_pid(pid_t p)
{
    if (twx_topo_n_pids < 64)
        twx_topo_all_pids[twx_topo_n_pids++] = p;
}

int twx_topo_global_init(char *err, size_t errlen)
{
    g_lab_pid = getpid();
    if (g_exe_fd < 0)
        g_exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (g_exe_fd < 0) {
        snprintf(err, errlen, "cannot open /proc/self/exe: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

void twx_topo_addr(char *buf, size_t len, int net, int host)
{
    snprintf(buf, len, "198.18.%d.%d", net, host);
}

/* In a fresh child: die with the lab, and make sure the lab still lives. */
void twx__topo_child_guard(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
}

int twx__topo_in_host(struct twx_topo *t, int hi, int (*fn)(struct twx_topo *, int, void *),
                      void *arg)
{
    pid_t p = fork();
    if (p < 0)
        return -errno;
    if (p == 0) {
        twx__topo_child_guard();
        if (setns(t->host[hi].netns_fd, CLONE_NEWNET) < 0)
            _exit(errno & 0xff);
        _exit(fn(t, hi, arg) & 0xff);
    }
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? -WEXITSTATUS(st) : -EINTR;
}

/* ---- holders ---------------------------------------------------------------- */

static int open_ns(pid_t pid, const char *kind)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, kind);
    return open(path, O_RDONLY | O_CLOEXEC);
}

static void holder_main(int lifeline, int ready, bool private_tmp)
{
    /* The lab may have died between clone() and PR_SET_PDEATHSIG. */
    struct pollfd pf = {.fd = lifeline, .events = POLLIN};
    if (poll(&pf, 1, 0) == 1)
        _exit(1);
    char st = 0;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        st = 1;
    if (!st && private_tmp && mount("twkit-lab", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
                                    "size=32m,mode=0755") < 0)
        st = 2;
    if (write(ready, &st, 1) != 1)
        _exit(1);
    close(ready);
    /* PID 1: reap orphans until the lifeline closes. */
    for (;;) {
        int r = poll(&pf, 1, 200);
        if (r == 1)
            _exit(0); /* EOF (or data): the lab is gone or done */
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
}

static int spawn_holder(struct twx_topo_host *h, char *err, size_t errlen)
{
    int life[2], rdy[2];
    if (pipe2(life, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(rdy, O_CLOEXEC) < 0) {
        close(life[0]);
        close(life[1]);
        return -errno;
    }
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | SIGCHLD,
                               NULL, NULL, NULL, NULL);
    if (pid < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create the %s host's namespaces: %s%s", h->name,
                 strerror(e), e == EPERM ? " (needs CAP_SYS_ADMIN: run as root, or where "
                                           "unprivileged user namespaces are allowed)" : "");
        close(life[0]); close(life[1]); close(rdy[0]); close(rdy[1]);
        return -e;
    }
    if (pid == 0) {
        twx__topo_child_guard();
        close(life[1]);
        close(rdy[0]);
        holder_main(life[0], rdy[1], h->private_tmp);
        _exit(0);
    }
    note_pid(pid);
    close(life[0]);
    close(rdy[1]);
    h->pid = pid;
    h->lifeline = life[1];
    char st = 1;
    ssize_t r;
    while ((r = read(rdy[0], &st, 1)) < 0 && errno == EINTR)
        ;
    close(rdy[0]);
    if (r != 1 || st) {
        snprintf(err, errlen, "the %s host failed to start (%s)", h->name,
                 st == 2 ? "cannot mount a tmpfs on its /tmp" : "cannot make its mounts private");
        return -EIO;
    }
    h->netns_fd = open_ns(pid, "net");
    h->pidns_fd = open_ns(pid, "pid");
    h->mntns_fd = open_ns(pid, "mnt");
    if (h->netns_fd < 0 || h->pidns_fd < 0 || h->mntns_fd < 0) {
        snprintf(err, errlen, "cannot open the %s host's namespaces: %s", h->name, strerror(errno));
        return -errno;
    }
    return 0;
}

int twx_topo_create(struct twx_topo *t, char *err, size_t errlen)
{
    for (int i = 0; i < t->n_hosts; i++) {
        t->host[i].pid = 0;
        t->host[i].lifeline = t->host[i].netns_fd = t->host[i].pidns_fd = t->host[i].mntns_fd = -1;
    }
    t->n_procs = 0;
    t->up = true;
    for (int i = 0; i < t->n_hosts; i++) {
        int e = spawn_holder(&t->host[i], err, errlen);
        if (e < 0)
            return e;
    }
    for (int i = 0; i < 2 * t->n_hosts; i++) {
        int e = twx__topo_configure(t, i % t->n_hosts, i / t->n_hosts);
        if (e < 0) {
            snprintf(err, errlen, "cannot configure the %s host's network: %s", t->host[i % t->n_hosts].name,
                     strerror(-e));
            return e;
        }
    }
    return 0;
}

static int wait_timeout(pid_t pid, int *status, int timeout_ms)
{
    uint64_t waited = 0;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (timeout_ms >= 0 && waited >= (uint64_t)timeout_ms)
            return -ETIMEDOUT;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        waited += 2;
    }
}

void twx_topo_destroy(struct twx_topo *t)
{
    if (!t->up)
        return;
    for (int i = 0; i < t->n_procs; i++)
        if (t->proc[i].pid > 0)
            kill(t->proc[i].pid, SIGKILL);
    for (int i = 0; i < t->n_hosts; i++)
        if (t->host[i].pid > 0)
            kill(t->host[i].pid, SIGKILL);
    for (int i = 0; i < t->n_procs; i++) {
        if (t->proc[i].pid > 0) {
            int st;
            wait_timeout(t->proc[i].pid, &st, 5000);
            t->proc[i].pid = 0;
        }
        if (t->proc[i].out >= 0) {
            close(t->proc[i].out);
            t->proc[i].out = -1;
        }
        if (t->proc[i].in >= 0) {
            close(t->proc[i].in);
            t->proc[i].in = -1;
        }
    }
    for (int i = 0; i < t->n_hosts; i++) {
        struct twx_topo_host *h = &t->host[i];
        if (h->pid > 0) {
            int st;
            wait_timeout(h->pid, &st, 5000);
            h->pid = 0;
        }
        int *fds[] = {&h->lifeline, &h->netns_fd, &h->pidns_fd, &h->mntns_fd};
        for (int k = 0; k < 4; k++)
            if (*fds[k] >= 0) {
                close(*fds[k]);
                *fds[k] = -1;
            }
    }
    t->n_procs = 0;
    t->up = false;
}

/* ---- programs ------------------------------------------------------------- */

static volatile pid_t g_shim_child;

static void shim_forward(int sig)
{
    if (g_shim_child > 0)
        kill(g_shim_child, sig);
}

int twx_topo_spawn(struct twx_topo *t, int hi, char *const argv[], const char *what,
               const char *file, const char *file_text)
{
    if (t->n_procs == TWX_TOPO_MAX_PROCS)
        return -ENOSPC;
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(in, O_CLOEXEC) < 0) {
        int e = -errno;
        close(out[0]);
        close(out[1]);
        return e;
    }
    struct twx_topo_host *h = &t->host[hi];
    pid_t p = fork();
    if (p < 0) {
        int e = -errno;
        close(out[0]);
        close(out[1]);
        close(in[0]);
        close(in[1]);
        return e;
    }
    if (p == 0) {
        twx__topo_child_guard();
        if (getppid() != g_lab_pid)
            _exit(127);
        /* The shim keeps no end of any program's pipes but its own child's
         * (so that closing proc->in means EOF for every program). */
        close(out[0]);
        close(in[1]);
        for (int k = 0; k < t->n_procs; k++) {
            if (t->proc[k].out >= 0)
                close(t->proc[k].out);
            if (t->proc[k].in >= 0)
                close(t->proc[k].in);
        }
        if (setns(h->mntns_fd, CLONE_NEWNS) < 0 || setns(h->netns_fd, CLONE_NEWNET) < 0 ||
            setns(h->pidns_fd, CLONE_NEWPID) < 0) {
            fprintf(stderr, "twkit: lab: cannot enter the %s host: %s\n", h->name, strerror(errno));
            _exit(127);
        }
        if (file && file_text) {
            /* Inside the host's private /tmp: make the parent dirs, write. */
            char dir[256];
            snprintf(dir, sizeof(dir), "%s", file);
            for (char *s = dir + 1; *s; s++)
                if (*s == '/') {
                    *s = 0;
                    mkdir(dir, 0755);
                    *s = '/';
                }
            FILE *f = fopen(file, "we");
            if (!f || fputs(file_text, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "twkit: lab: cannot write %s: %s\n", file, strerror(errno));
                _exit(127);
            }
        }
        pid_t q = fork();
        if (q < 0)
            _exit(127);
        if (q == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            dup2(out[1], 1);
            dup2(in[0], 0);
            if (!strcmp(argv[0], "twkit")) {
                extern char **environ;
                syscall(SYS_execveat, g_exe_fd, "", argv, environ, AT_EMPTY_PATH);
            } else {
                execv(argv[0], argv);
            }
            fprintf(stderr, "twkit: lab: cannot run %s: %s\n", argv[0], strerror(errno));
            _exit(127);
        }
        close(out[1]);
        close(in[0]);
        g_shim_child = q;
        struct sigaction sa = {.sa_handler = shim_forward};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        int st;
        for (;;) {
            pid_t r = waitpid(q, &st, 0);
            if (r == q)
                break;
            if (r < 0 && errno != EINTR)
                _exit(127);
        }
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    note_pid(p);
    close(out[1]);
    close(in[0]);
    struct twx_topo_proc *pr = &t->proc[t->n_procs];
    pr->pid = p;
    pr->out = out[0];
    pr->in = in[1];
    pr->what = what;
    return t->n_procs++;
}

void twx_topo_signal(struct twx_topo *t, int idx, int sig)
{
    if (idx >= 0 && idx < t->n_procs && t->proc[idx].pid > 0)
        kill(t->proc[idx].pid, sig);
}

int twx_topo_wait(struct twx_topo *t, int idx, int timeout_ms)
{
    if (idx < 0 || idx >= t->n_procs || t->proc[idx].pid <= 0)
        return -1;
    int st;
    if (wait_timeout(t->proc[idx].pid, &st, timeout_ms) < 0)
        return -1;
    t->proc[idx].pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * In a child inside host hi's network namespace, call ready(arg) every
 * 20 ms until it returns true or timeout_ms passes.  0 or -ETIMEDOUT.
 */
struct poll_job {
    bool (*ready)(void *);
    void *arg;
    int timeout_ms;
};

static int poll_job(struct twx_topo *t, int hi, void *arg)
{
    (void)t, (void)hi;
    const struct poll_job *j = arg;
    for (int waited = 0; waited <= j->timeout_ms; waited += 20) {
        if (j->ready(j->arg))
            return 0;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    return ETIMEDOUT;
}

static int poll_in_host(struct twx_topo *t, int hi, bool (*ready)(void *), void *arg,
                        int timeout_ms)
{
    struct poll_job j = {ready, arg, timeout_ms};
    return twx__topo_in_host(t, hi, poll_job, &j) ? -ETIMEDOUT : 0;
}

static bool accepts(void *arg)
{
    const struct sockaddr_in *sa = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int twx_topo_wait_port(struct twx_topo *t, int hi, const char *addr, int port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    return poll_in_host(t, hi, accepts, &sa, timeout_ms);
}

struct listen_arg {
    uint16_t port;
    struct tw_source *src; /* opened in the child, inside the host */
};

static int listen_cb(const struct tw_sock *s, void *arg)
{
    const struct listen_arg *a = arg;
    return s->state == TW_LISTEN && s->lport == a->port ? 1 : 0;
}

static bool listens(void *arg)
{
    struct listen_arg *a = arg;
    if (!a->src && tw_source_open(TW_SOURCE_NETLINK, NULL, &a->src) < 0)
        return false;
    struct tw_query q;
    tw_query_init(&q);
    q.states = TW_STATE_BIT(TW_LISTEN);
    return tw_source_dump(a->src, &q, listen_cb, a) == 1;
}

int twx_topo_wait_listen(struct twx_topo *t, int hi, int port, int timeout_ms)
{
    struct listen_arg a = {(uint16_t)port, NULL};
    return poll_in_host(t, hi, listens, &a, timeout_ms);
}

/* ---- user namespace (without root) ------------------------------------------ */

static int write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, s, strlen(s));
    int e = w < 0 ? -errno : 0;
    close(fd);
    return e;
}

int twx_topo_enter_userns(void)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) < 0)
        return -errno;
    char m[64];
    write_str("/proc/self/setgroups", "deny");
    snprintf(m, sizeof(m), "0 %u 1", (unsigned)uid);
    int e = write_str("/proc/self/uid_map", m);
    snprintf(m, sizeof(m), "0 %u 1", (unsigned)gid);
    if (!e)
        e = write_str("/proc/self/gid_map", m);
    return e;
}
