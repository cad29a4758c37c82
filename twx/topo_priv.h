/*
 * twx/topo_priv.h — what topo.c and topo_net.c share (not part of the topo
 * API: use twx/topo.h).
 */
#ifndef TWX_TOPO_PRIV_H
#define TWX_TOPO_PRIV_H

#include "twx/topo.h"

/* In a fresh child: die with the caller (PDEATHSIG), default signals. */
void twx__topo_child_guard(void);
/* Run fn(t, hi, arg) in a child inside host hi's network namespace; fn
 * returns 0 or a positive errno.  0 or -errno (-EINTR if the child died). */
int twx__topo_in_host(struct twx_topo *t, int hi, int (*fn)(struct twx_topo *, int, void *),
                      void *arg);
/* Configure host hi from a child that enters it: phase 0 makes the veth
 * pairs whose first end is in hi, phase 1 addresses, lo and sysctls.
 * 0 or -errno. */
int twx__topo_configure(struct twx_topo *t, int hi, int phase);

#endif
