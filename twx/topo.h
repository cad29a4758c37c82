/*
 * twx/topo.h — test hosts (internal tier): private network namespaces
 * owned by holder processes that the caller forks, joined by veth pairs,
 * and the programs run inside them.  Used by the lab, and by every command
 * that needs a host of its own (explain).  See topo.c for the lifetime
 * rules that make cleanup survive SIGKILL of the caller.  Traffic stays in
 * 198.18.0.0/15 (RFC 2544): link n joins 198.18.n.1 and 198.18.n.2.
 */
#ifndef TWX_TOPO_H
#define TWX_TOPO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TWX_TOPO_MAX_HOSTS 3
#define TWX_TOPO_MAX_SYSCTL 6
#define TWX_TOPO_MAX_PROCS 8

struct twx_topo_sysctl {
    const char *name;   /* "net.ipv4.tcp_tw_reuse" */
    char value[32];
};

struct twx_topo_host {
    const char *name;       /* "client", "server", "proxy" */
    pid_t pid;              /* the holder: PID 1 of the host's PID namespace */
    int lifeline;           /* write end; the holder exits when it closes */
    int netns_fd, pidns_fd, mntns_fd;
    bool private_tmp;       /* a tmpfs on /tmp, seen only inside this host */
    struct twx_topo_sysctl sysctl[TWX_TOPO_MAX_SYSCTL];
    int n_sysctl;
    int n_extra_addrs;      /* extra addresses on the first link (sources) */
};

/* A veth pair between host a (address 198.18.<net>.1) and b (.2). */
struct twx_topo_link {
    int a, b;
    int net;
};

struct twx_topo_proc {
    pid_t pid;              /* the shim, in the lab's PID namespace */
    int out;                /* read end of the program's stdout, or -1 */
    int in;                 /* write end of the program's stdin (a pipe), or -1;
                             * close it and the program reads EOF */
    const char *what;
};

struct twx_topo {
    struct twx_topo_host host[TWX_TOPO_MAX_HOSTS];
    int n_hosts;
    struct twx_topo_link link[2];
    int n_links;
    struct twx_topo_proc proc[TWX_TOPO_MAX_PROCS];
    int n_procs;
    bool up;
};

/* Once per lab run: remember the twkit executable and our PID. */
int twx_topo_global_init(char *err, size_t errlen);
/* Create every host and link.  0, or -errno with err filled. */
int twx_topo_create(struct twx_topo *t, char *err, size_t errlen);
/* Kill everything of t and wait for it (idempotent; async-signal-safe
 * enough to be called from the cleanup path). */
void twx_topo_destroy(struct twx_topo *t);
/*
 * Run a program inside host h: argv[0] "twkit" re-executes this binary
 * (argv then starts with the twkit subcommand), anything else is a path.
 * Its stdout goes to a pipe (proc->out) and its stdin comes from another
 * (proc->in), never from the caller's terminal.  Returns the index in
 * t->proc or -errno.
 */
int twx_topo_spawn(struct twx_topo *t, int h, char *const argv[], const char *what,
               const char *file, const char *file_text);
/* SIGTERM a program (forwarded by its shim), or SIGKILL. */
void twx_topo_signal(struct twx_topo *t, int idx, int sig);
/* Wait for a program; returns its exit status (0-255, 128+sig) or -1 on
 * timeout_ms expiry. */
int twx_topo_wait(struct twx_topo *t, int idx, int timeout_ms);
/* Try to connect to addr:port from inside host h until it accepts or
 * timeout_ms passes.  0 or -errno. */
int twx_topo_wait_port(struct twx_topo *t, int h, const char *addr, int port, int timeout_ms);
/*
 * Wait until a socket listens on TCP port `port` in host h (any address),
 * looking with sock_diag from inside the host instead of connecting, so the
 * wait leaves no TIME_WAIT socket and moves none of the host's counters.
 * 0, or -ETIMEDOUT after timeout_ms.
 */
int twx_topo_wait_listen(struct twx_topo *t, int h, int port, int timeout_ms);
/* Address helpers: "198.18.<net>.<host>" */
void twx_topo_addr(char *buf, size_t len, int net, int host);

/* Process ids of everything the topology started (for the SIGKILL tests). */
extern volatile pid_t twx_topo_all_pids[];
extern volatile int twx_topo_n_pids;

#endif /* TWX_TOPO_H */
