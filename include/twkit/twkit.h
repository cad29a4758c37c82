/*
 * twkit/twkit.h — the whole public API of libtwkit in one include.
 *
 *   twkit/error.h   error codes and messages
 *   twkit/sock.h    sockets, queries, sources (netlink, /proc, fixtures)
 *   twkit/kernel.h  sysctls, sockstat, counters, slab sizes
 *   twkit/netns.h   network namespaces
 *   twkit/report.h  the one-pass report behind `twkit stat`
 *   twkit/rate.h    rates and time to exhaustion (watch, export)
 *   twkit/pool.h    the connection pool
 *   twkit/doctor.h  the findings engine behind `twkit doctor`
 */
#ifndef TWKIT_TWKIT_H
#define TWKIT_TWKIT_H

#include <twkit/doctor.h>
#include <twkit/error.h>
#include <twkit/kernel.h>
#include <twkit/live.h>
#include <twkit/netns.h>
#include <twkit/pool.h>
#include <twkit/rate.h>
#include <twkit/report.h>
#include <twkit/sock.h>

#define TWKIT_VERSION_MAJOR 0
#define TWKIT_VERSION_MINOR 1

#endif /* TWKIT_TWKIT_H */
