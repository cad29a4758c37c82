/*
 * topo.h — the lab's hosts: private network namespaces owned by processes
 * the lab forks, joined by veth pairs, and the programs run inside them.
 * See topo.c for the lifetime rules that make cleanup survive SIGKILL.
 */
#ifndef TWKIT_LAB_TOPO_H
#define TWKIT_LAB_TOPO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TOPO_MAX_HOSTS 3
#define TOPO_MAX_SYSCTL 6
#define TOPO_MAX_PROCS 8

struct topo_sysctl {
    const char *name;   /* "net.ipv4.tcp_tw_reuse" */
    char value[32];
};

struct topo_host {
    const char *name;       /* "client", "server", "proxy" */
    pid_t pid;              /* the holder: PID 1 of the host's PID namespace */
    int lifeline;           /* write end; the holder exits when it closes */
    int netns_fd, pidns_fd, mntns_fd;
    bool private_tmp;       /* a tmpfs on /tmp, seen only inside this host */
    struct topo_sysctl sysctl[TOPO_MAX_SYSCTL];
    int n_sysctl;
    int n_extra_addrs;      /* extra addresses on the first link (sources) */
};

/* A veth pair between host a (address 198.18.<net>.1) and b (.2). */
struct topo_link {
    int a, b;
    int net;
};

struct topo_proc {
    pid_t pid;              /* the shim, in the lab's PID namespace */
    int out;                /* read end of the program's stdout, or -1 */
    const char *what;
};

struct topo {
    struct topo_host host[TOPO_MAX_HOSTS];
    int n_hosts;
    struct topo_link link[2];
    int n_links;
    struct topo_proc proc[TOPO_MAX_PROCS];
    int n_procs;
    bool up;
};

/* Once per lab run: remember the twkit executable and our PID. */
int topo_global_init(char *err, size_t errlen);
/* Create every host and link.  0, or -errno with err filled. */
int topo_create(struct topo *t, char *err, size_t errlen);
/* Kill everything of t and wait for it (idempotent; async-signal-safe
 * enough to be called from the cleanup path). */
void topo_destroy(struct topo *t);
/*
 * Run a program inside host h: argv[0] "twkit" re-executes this binary
 * (argv then starts with the twkit subcommand), anything else is a path.
 * Its stdout goes to a pipe (proc->out).  Returns the index in t->proc or
 * -errno.
 */
int topo_spawn(struct topo *t, int h, char *const argv[], const char *what,
               const char *file, const char *file_text);
/* SIGTERM a program (forwarded by its shim), or SIGKILL. */
void topo_signal(struct topo *t, int idx, int sig);
/* Wait for a program; returns its exit status (0-255, 128+sig) or -1 on
 * timeout_ms expiry. */
int topo_wait(struct topo *t, int idx, int timeout_ms);
/* Try to connect to addr:port from inside host h until it accepts or
 * timeout_ms passes.  0 or -errno. */
int topo_wait_port(struct topo *t, int h, const char *addr, int port, int timeout_ms);
/* Address helpers: "198.18.<net>.<host>" */
void topo_addr(char *buf, size_t len, int net, int host);

/* Process ids of everything the topology started (for the SIGKILL tests). */
extern volatile pid_t topo_all_pids[];
extern volatile int topo_n_pids;

#endif /* TWKIT_LAB_TOPO_H */
