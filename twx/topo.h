/*
 * twx/topo.h — test hosts (internal tier): private network namespaces
 * owned by holder processes that the caller forks, joined by veth pairs
 * (the lab) or by tun devices the caller relays between (explain), the
 * programs run inside them, and sockets made inside them.  Used by every
 * command that needs a host of its own.  See topo.c for the lifetime
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
/*
 * File descriptors made inside a host.  A forked child enters host h's
 * network namespace, makes the descriptor and passes it back over a unix
 * socket (SCM_RIGHTS); the caller's own namespace never changes, so this
 * works in a user namespace too, where the caller could not return to its
 * original network namespace.  A socket or tun device stays in the
 * namespace it was made in wherever its descriptor is used, and goes away
 * with the last descriptor (or with the namespace).
 */
/* socket(domain, type | SOCK_CLOEXEC, proto) inside host h: fd or -errno. */
int twx_topo_socket(struct twx_topo *t, int h, int domain, int type, int proto);

/* open(path, flags | O_CLOEXEC) inside host h: /proc/sys/net/... then shows
 * that host's sysctls.  fd or -errno. */
int twx_topo_open(struct twx_topo *t, int h, const char *path, int flags);

/* A point-to-point tun device (IFF_TUN | IFF_NO_PI: one IP packet per
 * read/write) inside a host, up, with a local address and a host route to
 * the peer through it, for IPv4 and/or IPv6 (NULL: none).  The IPv6
 * address skips duplicate address detection. */
struct twx_topo_tun {
    const char *ifname;         /* "tun0" */
    const char *local4, *peer4; /* "198.18.0.1", "198.18.0.2" */
    const char *local6, *peer6; /* "2001:2::1", "2001:2::2" */
};
/* Returns the tun fd (O_CLOEXEC, blocking) or -errno with err filled
 * (-ENOENT/-EACCES/-EPERM from /dev/net/tun say why there is no tun). */
int twx_topo_tun(struct twx_topo *t, int h, const struct twx_topo_tun *cfg, char *err,
                 size_t errlen);

/*
 * Without root: make a user namespace for the calling process (before any
 * host is created) in which it is uid 0 with every capability over the
 * namespaces it then creates.  0 or -errno (unprivileged user namespaces
 * are disabled, or the process has threads).
 */
int twx_topo_enter_userns(void);

/* Address helpers: "198.18.<net>.<host>" */
void twx_topo_addr(char *buf, size_t len, int net, int host);

/* Process ids of everything the topology started (for the SIGKILL tests). */
extern volatile pid_t twx_topo_all_pids[];
extern volatile int twx_topo_n_pids;

#endif /* TWX_TOPO_H */
