/*
 * live_table.h — one live table's kernel half, as live_bpf.c uses it
 * (lib/live_table.c): load, attach and seed it, read its counts and
 * counters, free it.  Built only with the BPF programs (TWKIT_BPF).
 */
#ifndef TWKIT_LIVE_TABLE_H
#define TWKIT_LIVE_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "live_int.h"
#include "twx/bpfcaps.h"

struct live_bpf;
struct bpf_link;

struct tw__table {
    struct live_bpf *skel;
    struct bpf_link *links[16];
    size_t n_links;
    bool substate_events; /* on_drop is loaded (the kernel's kfree_skb has rx_sk) */
    uint16_t port_lo, port_hi; /* ip_local_port_range the sides were told apart by */
    struct tw__census census;  /* the kernel's counts to check it with (fds -1: none) */
};

/* after a failed seed, no new attempt for this long (a load costs ~1 s) */
#define LIVE_RETRY_NS (10ull * 1000000000ull)

/* Load, attach and seed a new table into *t, in the current namespace: 0,
 * or a negative errno with the reason in *why. */
int tw__table_open(const struct tw_live_opts *o, struct tw__table *t, double *seed_s,
                   struct twx_why *why);
void tw__table_free(struct tw__table *t);
/* one of the programs' counters (LIVE_ST_*), summed over the CPUs */
uint64_t tw__table_stat(const struct tw__table *t, uint32_t i);
/* events lost: refused updates, and each twin pair's common recursion misses */
uint64_t tw__table_lost(const struct tw__table *t);
/* the counts as sorted rows; ev (if not NULL): each destination's events so
 * far, as rows of state 0 (LIVE_EVENTS); *keys (if not NULL): destinations
 * in the map */
int tw__table_counts(struct tw__table *t, struct tw__live_rows *r, struct tw__live_rows *ev,
                     size_t *keys);

#endif
