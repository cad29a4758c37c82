/*
 * bpf/sockiter.h — what bpf/sockiter.bpf.c (the `--source bpf` walk) and
 * lib/src_bpf.c share: the record the iterator writes for each selected
 * socket.  Included by the BPF program (after vmlinux.h) and by user space
 * (after <linux/types.h>); fixed-size types only, no implicit padding.
 *
 * A record is a 32-byte head followed by the two addresses: 4 bytes each
 * for AF_INET (SOCKITER_REC_V4 = 40 bytes in all), 16 bytes each for
 * AF_INET6 (SOCKITER_REC_V6 = 64).  Records are written back to back into
 * the iterator's seq_file; user space reads them with read() and decodes
 * them with tw__bpf_rec_decode().
 */
#ifndef TWKIT_BPF_SOCKITER_H
#define TWKIT_BPF_SOCKITER_H

#define SOCKITER_REC_HEAD 32
#define SOCKITER_REC_V4 (SOCKITER_REC_HEAD + 8)
#define SOCKITER_REC_V6 (SOCKITER_REC_HEAD + 32)

/* rec.flags: the same bits as TW_SOCK_F_* (include/twkit/sock.h). */
#define SOCKITER_F_REUSE_KNOWN 0x01
#define SOCKITER_F_REUSABLE    0x02

struct sockiter_rec {
    __u8 state;       /* as sock_diag reports it: tw_substate for minisocks,
                         SYN_RECV (3) for request sockets */
    __u8 timer;       /* as sock_diag: 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 probe */
    __u8 flags;       /* SOCKITER_F_* */
    __u8 family;      /* AF_INET (2) or AF_INET6 (10) */
    __u16 lport;      /* host order (skc_num) */
    __u16 rport;      /* host order */
    __u32 ifindex;    /* skc_bound_dev_if */
    __s32 expires_j;  /* timer expiry minus jiffies, in jiffies (may be <= 0) */
    __u32 uid;        /* 0 for minisocks and request sockets, as sock_diag */
    __u32 hz;         /* the kernel's CONFIG_HZ (0 unknown), to turn expires_j into ms */
    __u64 inode;      /* 0 without a struct socket */
    __u32 addr[8];    /* AF_INET: addr[0] local, addr[1] remote (only 8 bytes
                         written); AF_INET6: addr[0..3] local, [4..7] remote */
};

#endif /* TWKIT_BPF_SOCKITER_H */
