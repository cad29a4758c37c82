/*
 * internal.h — what libtwkit's own files share and nothing else sees:
 * the source vtable and the tw__ internal names.  Clocks and file
 * helpers come from the internal tier (twx/), compiled in hidden.
 */
#ifndef TWKIT_INTERNAL_H
#define TWKIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <twkit/error.h>
#include <twkit/kernel.h>
#include <twkit/sock.h>

#include "twx/clock.h"
#include "twx/file.h"

#define TW__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TW__LIKELY(x) __builtin_expect(!!(x), 1)
#define TW__UNLIKELY(x) __builtin_expect(!!(x), 0)

struct tw_source {
    enum tw_source_kind kind;
    char *path;            /* proc root or fixture dir (owned), NULL = /proc */
    int nl_fd;             /* netlink socket, -1 if none */
    int nl_compat;         /* 1: one AF_UNSPEC walk works, 0: per family, -1: unknown */
    int record_fd;         /* when recording a netlink dump: fd of sock_diag.bin */
    uint8_t *rbuf;         /* netlink receive buffer, allocated on the first dump */
    uint32_t seq;          /* sequence number of the last netlink request */
    struct tw__bpf *bpf;   /* the loaded iterator (src_bpf.c), NULL if none */
    char errmsg[256];
};

/* netlink source (src_netlink.c) */
int tw__nl_open(struct tw_source *src);
void tw__nl_close(struct tw_source *src);
int tw__nl_dump(struct tw_source *src, const struct tw_query *q, tw_sock_cb cb, void *arg);
/* Replay a recorded netlink dump file (fixtures). */
int tw__nl_replay(struct tw_source *src, const char *file, const struct tw_query *q,
                  tw_sock_cb cb, void *arg);
/* Compile the port/address part of q into inet_diag bytecode.  Returns
 * length in bytes (0 = no filter) or TW_EBADOPT if it does not fit. */
int tw__bc_compile(const struct tw_query *q, void *buf, size_t len);

/* BPF iterator source (src_bpf.c).  open: 0 or a negative error, the reason
 * kept for tw_source_bpf_why(). */
int tw__bpf_open(struct tw_source *src);
void tw__bpf_close(struct tw_source *src);
int tw__bpf_dump(struct tw_source *src, const struct tw_query *q, tw_sock_cb cb, void *arg);
/* jiffies -> ms as the kernel's jiffies_to_msecs() (0 for j <= 0 or hz 0) */
uint32_t tw__jiffies_to_ms(int32_t j, uint32_t hz);

/* proc source (src_proc.c): dir is the root holding net/tcp and net/tcp6. */
int tw__proc_dump(struct tw_source *src, const char *root, const struct tw_query *q,
                  tw_sock_cb cb, void *arg);

#endif /* TWKIT_INTERNAL_H */
