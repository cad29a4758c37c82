/*
 * twkit/netns.h — naming, listing and entering network namespaces.
 *
 * A namespace is named as ip-netns(8) names it (a file in /run/netns), by
 * the PID of a process inside it, or by a path to an nsfs file.  Entering
 * one is setns(2) on the calling thread and needs CAP_SYS_ADMIN; every
 * libtwkit source and kernel reading opened afterwards sees that namespace.
 *
 * Thread-safety: tw_netns_enter changes the calling thread only.
 */
#ifndef TWKIT_NETNS_H
#define TWKIT_NETNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <twkit/common.h>

TW_BEGIN_DECLS

struct tw_netns {
    int fd;            /* open nsfs file, -1 when released */
    uint64_t inode;    /* namespace id (as in "net:[4026531840]") */
    uint64_t dev;
    pid_t pid;         /* a process inside it, 0 if named or unknown */
    char name[64];     /* ip netns name, "" if none */
    char label[96];    /* what to print: "name", "pid 123 (nginx)", "host" */
};

/*
 * Open a namespace by spec: "NAME" (/run/netns/NAME), "PID" (all digits:
 * /proc/PID/ns/net) or an absolute path.  Returns 0, TW_ENONETNS when it
 * does not exist, -EACCES/-EPERM when it cannot be opened.
 */
TW_EXTERN int tw_netns_open(const char *spec, struct tw_netns *out);
/*
 * The host's namespace, labelled "host": that of PID 1, or, where PID 1's is
 * unreadable (some sandboxes), that of kthreadd (a kernel thread, always in
 * the initial namespace).  Returns 0 or TW_ENONETNS / -EACCES.
 */
TW_EXTERN int tw_netns_host(struct tw_netns *out);
/* The calling thread's current namespace (label "current" or its name). */
TW_EXTERN int tw_netns_current(struct tw_netns *out);
/*
 * Every distinct namespace on the host: named ones first, then those of
 * processes, each once (deduplicated by inode).  *out is malloc'd; free it
 * with tw_netns_list_free.  Processes that vanish while listing are skipped.
 */
TW_EXTERN int tw_netns_list(struct tw_netns **out, size_t *n);
TW_EXTERN void tw_netns_list_free(struct tw_netns *list, size_t n);
/* setns(2) into ns.  Returns 0, -EPERM (needs CAP_SYS_ADMIN), -errno. */
TW_EXTERN int tw_netns_enter(const struct tw_netns *ns);
/* Close ns->fd. */
TW_EXTERN void tw_netns_release(struct tw_netns *ns);

TW_END_DECLS

#endif /* TWKIT_NETNS_H */
