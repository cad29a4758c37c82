/*
 * report_collect.c — the whole picture of one namespace in one call: read
 * the kernel's settings, dump the listeners (so that server-side TIME_WAIT
 * is known as such), dump the rest with the user's filters run by the
 * source, check the TIME_WAIT count against the kernel's own (sockstat,
 * read just before and after the dump), and finish.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "report_int.h"

static double now_s(void)
{
    return (double)twx_now_ns() / 1e9;
}

int tw_report_collect(struct tw_source *src, const struct tw_report_opts *o,
                      const char *proc_root, struct tw_report **out, char *err, size_t errlen)
{
    struct tw_report *r = NULL;
    struct tw_kernel *k = NULL;
    int e = tw_report_new(o, &r);
    if (e) {
        snprintf(err, errlen, "%s", tw_strerror(e));
        return e;
    }
    if (!(k = malloc(sizeof(*k)))) {
        e = -ENOMEM;
        goto fail;
    }
    const char *root = proc_root;
    if (!root && tw_source_kind(src) == TW_SOURCE_FIXTURE)
        root = src->path;
    if ((e = tw_kernel_read(k, root, err, errlen)))
        goto fail;
    tw_report_set_kernel(r, k);
    r->source = tw_source_kind(src);

    const struct tw_query *uq = &r->priv->opts.query;
    struct tw_query lq;
    tw_query_init(&lq);
    lq.states = TW_STATE_BIT(TW_LISTEN);
    double t0 = now_s();
    /* pass 1: every listener (no filter): the ports that make TIME_WAIT server side */
    if ((e = tw_source_dump(src, &lq, tw_report_add, r)) != 0)
        goto dump_fail;
    /* pass 2: the rest, with the user's states and filters run by the source */
    struct tw_query mq = *uq;
    mq.states &= ~TW_STATE_BIT(TW_LISTEN);
    long before = -1;
    if (tw_kernel_read_sockstat(k, root) == 0)
        before = k->sock_tw;
    if (mq.states && (e = tw_source_dump(src, &mq, tw_report_add, r)) != 0)
        goto dump_fail;
    r->dump_seconds = now_s() - t0;
    r->sockstat_tw_before = before;
    if (tw_kernel_read_sockstat(&r->kernel, root) != 0)
        r->kernel.sock_tw = -1;
    unsigned need = TW_STATE_BIT(TW_TIME_WAIT) | TW_STATE_BIT(TW_FIN_WAIT2);
    if (!r->filtered && (uq->states & need) == need && before >= 0 && r->kernel.sock_tw >= 0) {
        uint64_t dumped = r->tw_total + r->fw2_minisocks;
        long lo = before < r->kernel.sock_tw ? before : r->kernel.sock_tw;
        long hi = before < r->kernel.sock_tw ? r->kernel.sock_tw : before;
        long slack = hi / 100 + 2; /* sockets that came and went during the dump */
        r->sockstat_checked = true;
        r->sockstat_agrees = (long)dumped >= lo - slack && (long)dumped <= hi + slack;
    }
    if ((e = tw_report_finish(r))) {
        snprintf(err, errlen, "%s", tw_strerror(e));
        goto fail;
    }
    free(k);
    *out = r;
    return 0;
dump_fail:
    if (e > 0)
        e = -EINTR; /* tw_report_add never stops a dump on purpose */
    snprintf(err, errlen, "%s", tw_source_errmsg(src)[0] ? tw_source_errmsg(src) : tw_strerror(e));
fail:
    free(k);
    tw_report_free(r);
    *out = NULL;
    return e;
}
