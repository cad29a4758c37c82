/*
 * twx/clock.h — the clocks of twkit (internal tier; compiled into libtwkit
 * too, hidden).  One monotonic clock for durations, rates and deadlines,
 * and the wall clock for timestamps that users read.  Before this existed
 * seven copies of a monotonic helper lived across lib/, src/ and bench/.
 */
#ifndef TWX_CLOCK_H
#define TWX_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds (never goes back; not wall time). */
uint64_t twx_now_ns(void);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t twx_now_ms(void);
/* CLOCK_MONOTONIC in seconds, for tools that print durations. */
static inline double twx_now_s(void)
{
    return (double)twx_now_ns() / 1e9;
}
/* CLOCK_MONOTONIC_COARSE in nanoseconds: cheaper, jiffy resolution. */
uint64_t twx_now_coarse_ns(void);
/* CLOCK_REALTIME in nanoseconds since the epoch. */
uint64_t twx_wall_ns(void);
/* Seconds between two twx_now_ns() readings. */
static inline double twx_secs(uint64_t from_ns, uint64_t to_ns)
{
    return (double)(to_ns - from_ns) / 1e9;
}
/* Sleep ns nanoseconds, resuming after signals. */
void twx_sleep_ns(uint64_t ns);

#endif /* TWX_CLOCK_H */
