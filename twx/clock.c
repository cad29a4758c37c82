/*
 * clock.c — monotonic and wall clocks in integer nanoseconds.  Durations,
 * rates and deadlines all use CLOCK_MONOTONIC so that a wall-clock step
 * (NTP, a user's date command) never makes a rate negative or a deadline
 * fire early.
 */
#include <errno.h>
#include <time.h>

#include "twx/clock.h"

static uint64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t twx_now_ns(void) { return read_clock(CLOCK_MONOTONIC); }
uint64_t twx_now_ms(void) { return read_clock(CLOCK_MONOTONIC) / 1000000u; }
uint64_t twx_now_coarse_ns(void) { return read_clock(CLOCK_MONOTONIC_COARSE); }
uint64_t twx_wall_ns(void) { return read_clock(CLOCK_REALTIME); }

void twx_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}
