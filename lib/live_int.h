/*
 * live_int.h — what the two halves of the live table (live.c, live_bpf.c)
 * share inside the library.
 */
#ifndef TWKIT_LIVE_INT_H
#define TWKIT_LIVE_INT_H

#include <twkit/live.h>

struct tw__live_rows {
    struct tw_live_row *v;
    size_t n, cap;
};

int tw__live_rows_push(struct tw__live_rows *r, const struct tw_live_row *row);
void tw__live_rows_finish(struct tw__live_rows *r);
/* the rows of a sock_diag walk of the current namespace */
int tw__live_walk(struct tw__live_rows *r, char *err, size_t errlen);
int64_t tw__live_compare(const struct tw__live_rows *a, const struct tw__live_rows *t,
                         const struct tw__live_rows *b, struct tw__live_rows *out,
                         uint64_t *unsettled);

#endif
