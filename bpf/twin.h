/*
 * bpf/twin.h — no event lost to BPF recursion (for any of twkit's programs).
 *
 * The kernel runs a program at most once per CPU at a time: an event that
 * arrives while the same program is already running on that CPU (an
 * interrupt whose exit runs the network softirq, in the middle of a program
 * that runs in a process's context) is skipped and only counted in the
 * program's recursion_misses.  Under load that loses state changes and
 * timer events.  So a busy tracepoint gets two programs, a twin pair,
 * attached in that order (user space attaches every program named
 * *_nested after the others), which the kernel then calls in that order
 * for every event:
 *
 *   the first   handles every event it runs for, after twin_note();
 *   the second  (*_nested) handles an event only if !twin_seen(): exactly
 *               the events the first was skipped for.
 *
 * An event is identified by two words — its object's address (socket,
 * timer) and the rest of its arguments — kept in a per-CPU ring of the last
 * TWIN_RING events of each pair; they are compared apart because the
 * verifier allows no arithmetic on the kernel's pointers.  An event is lost
 * only if both programs miss it, so a pair loses at most the smaller of
 * their recursion_misses.
 *
 * The includer defines the macro TWIN_MAX (the number of pairs) first.
 */
#ifndef TWKIT_BPF_TWIN_H
#define TWKIT_BPF_TWIN_H

#ifndef TWIN_MAX
#error "define TWIN_MAX, the number of twin pairs, before including twin.h"
#endif

#define TWIN_RING 8

struct twin_ring {
    __u64 ptr[TWIN_RING], aux[TWIN_RING];
    __u64 ts[TWIN_RING]; /* twin_note_ts() only */
    __u32 pos;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TWIN_MAX);
    __type(key, __u32);
    __type(value, struct twin_ring);
} twins SEC(".maps");

/* The first program of pair `pair` is handling this event. */
static __always_inline void twin_note(__u32 pair, const void *ptr, __u64 aux)
{
    struct twin_ring *r = bpf_map_lookup_elem(&twins, &pair);
    if (!r)
        return;
    __u32 i = r->pos++ & (TWIN_RING - 1);
    r->ptr[i] = (unsigned long)ptr;
    r->aux[i] = aux;
}

/* Did the first program of pair `pair` handle this event? */
static __always_inline bool twin_seen(__u32 pair, const void *ptr, __u64 aux)
{
    struct twin_ring *r = bpf_map_lookup_elem(&twins, &pair);
    if (!r)
        return true;
    for (int i = 0; i < TWIN_RING; i++)
        if (r->ptr[i] == (unsigned long)ptr && r->aux[i] == aux)
            return true;
    return false;
}

/*
 * For a program that must not skip an event by mistake (the live table):
 * twin_note_ts() also records when, and twin_take() matches only an entry
 * noted within TWIN_TAKE_NS and forgets it.  The two programs of a pair
 * run for one event microseconds apart (interrupts between them
 * included), so an entry the second program never took (it missed that
 * event itself) cannot make it skip a later event with the same two words
 * (a socket freed and allocated again at the same address, the same
 * transition).  Then an event is lost only if both programs missed it:
 * at most the smaller of their recursion_misses.
 */
#define TWIN_TAKE_NS 100000

static __always_inline void twin_note_ts(__u32 pair, const void *ptr, __u64 aux)
{
    struct twin_ring *r = bpf_map_lookup_elem(&twins, &pair);
    if (!r)
        return;
    __u32 i = r->pos++ & (TWIN_RING - 1);
    r->ptr[i] = (unsigned long)ptr;
    r->aux[i] = aux;
    r->ts[i] = bpf_ktime_get_ns();
}

static __always_inline bool twin_take(__u32 pair, const void *ptr, __u64 aux)
{
    struct twin_ring *r = bpf_map_lookup_elem(&twins, &pair);
    if (!r)
        return true;
    __u64 now = bpf_ktime_get_ns();
    for (int i = 0; i < TWIN_RING; i++)
        if (r->ptr[i] == (unsigned long)ptr && r->aux[i] == aux &&
            now - r->ts[i] < TWIN_TAKE_NS) {
            r->ptr[i] = 0;
            return true;
        }
    return false;
}

#endif /* TWKIT_BPF_TWIN_H */
