/*
 * doctor_rules_conf.c — doctor's rules about the sysctl configuration files
 * and the myths they carry: tcp_fin_timeout lowered to shorten TIME_WAIT,
 * tcp_tw_recycle (removed in 4.12), unreadable files, malformed lines and
 * out-of-range values.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "doctor_int.h"

static const char SRC_FIN[] = "include/net/tcp.h TCP_TIMEWAIT_LEN, tcp_fin_time(); "
                              "net/ipv4/tcp.c tcp_close()";
static const char EXPL_FIN[] =
    "tcp_fin_timeout only bounds how long an orphaned FIN_WAIT2 socket (this side closed, "
    "the peer never did) waits for the peer's FIN. TIME_WAIT lasts TCP_TIMEWAIT_LEN = 60 "
    "s, a compile-time constant; no sysctl changes it.";

void tw__rule_fin_timeout(struct tw__dctx *x)
{
    const struct tw_sysctl_entry *e = tw_sysctl_conf_find(&x->s->conf, "net.ipv4.tcp_fin_timeout");
    if (x->k->fin_timeout < 0 || x->k->fin_timeout >= 60)
        return;
    struct tw_finding *f = ADD(x, "fin-timeout-myth", TW_SEV_INFO, EXPL_FIN, SRC_FIN,
                               "tcp_fin_timeout = %d does not shorten TIME_WAIT (it stays "
                               "60 s)",
                               x->k->fin_timeout);
    EVN(f, "tcp_fin_timeout", "%d", x->k->fin_timeout);
    EVN(f, "timewait_len_s", "%d", 60);
    if (x->rep)
        EVN(f, "fin_wait2_orphans", "%" PRIu64, x->rep->fw2_minisocks);
    if (e)
        EVS(f, "configured_in", "%s:%u", e->file, e->line);
    FIX(f, "Nothing to tune for TIME_WAIT: its length is fixed. Leave tcp_fin_timeout at "
           "its default (60) unless orphaned FIN_WAIT2 sockets pile up.");
    FIX(f, "To have less TIME_WAIT: keep-alive, a pool, or let the server close first.");
}

static const char SRC_RECYCLE[] = "commit 4396e46187ca \"tcp: remove tcp_tw_recycle\" (Linux "
                                  "4.12); commit d82bae12dc38";
static const char EXPL_RECYCLE[] =
    "tcp_tw_recycle cut TIME_WAIT to about 3.5 RTO and made the passive side drop SYNs "
    "whose timestamp was older than the last one seen from that address; clients behind "
    "NAT (several hosts, one address, unrelated timestamps) saw SYNs never answered. Linux "
    "4.12 removed it. On current kernels the line does nothing except make "
    "`sysctl --system` report an error, and it misleads the next reader.";

void tw__rule_recycle(struct tw__dctx *x)
{
    const struct tw_sysctl_conf *c = &x->s->conf;
    unsigned n = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct tw_sysctl_entry *e = &c->e[i];
        if (strcmp(e->key, "net.ipv4.tcp_tw_recycle"))
            continue;
        bool live = x->s->tw_recycle_exists && x->s->tw_recycle > 0;
        struct tw_finding *f =
            ADD(x, "tw-recycle-config", live ? TW_SEV_CRIT : TW_SEV_WARN, EXPL_RECYCLE, SRC_RECYCLE,
                "%s:%u sets net.ipv4.tcp_tw_recycle, removed in Linux 4.12", e->file, e->line);
        EVS(f, "file", "%s", e->file);
        EVN(f, "line", "%u", e->line);
        EVS(f, "value", "%s", e->value);
        EVS(f, "kernel_has_it", "%s", x->s->tw_recycle_exists ? "yes" : "no");
        FIX(f, "Delete line %u of %s.", e->line, e->file);
        if (live)
            FIX(f, "This kernel still has it and it is on: sysctl -w "
                   "net.ipv4.tcp_tw_recycle=0");
        if (++n >= 8)
            break;
    }
}

static const char SRC_CONF[] = "sysctl.d(5); net/ipv4/sysctl_net_ipv4.c (accepted ranges)";
static const char EXPL_CONF[] =
    "`sysctl --system` and systemd-sysctl skip a line they cannot parse and a value the "
    "kernel rejects, with one log line at boot; the setting then silently keeps its "
    "default.";

void tw__rule_conf(struct tw__dctx *x)
{
    const struct tw_sysctl_conf *c = &x->s->conf;
    unsigned n = 0;
    for (size_t i = 0; i < c->n_problems && n < 8; i++, n++) {
        const struct tw_sysctl_problem *p = &c->p[i];
        struct tw_finding *f;
        if (p->line)
            f = ADD(x, "sysctl-conf", TW_SEV_WARN, EXPL_CONF, SRC_CONF, "%s:%u: %s", p->file,
                    p->line, p->msg);
        else
            f = ADD(x, "sysctl-conf", TW_SEV_WARN, EXPL_CONF, SRC_CONF,
                    "%s: %s (doctor cannot check what it configures)", p->file, p->msg);
        EVS(f, "file", "%s", p->file);
        EVN(f, "line", "%u", p->line);
        EVS(f, "problem", "%s", p->msg);
        if (p->line)
            FIX(f, "Fix or delete line %u of %s.", p->line, p->file);
        else
            FIX(f, "Make %s readable (run doctor as root?).", p->file);
    }
    for (size_t i = 0; i < c->n && n < 8; i++) {
        const struct tw_sysctl_entry *e = &c->e[i];
        char accepted[64];
        if (tw__doctor_value_check(e->key, e->value, accepted, sizeof(accepted)) != 0)
            continue; /* in range, or a setting doctor does not check */
        n++;
        struct tw_finding *f = ADD(x, "sysctl-conf", TW_SEV_WARN, EXPL_CONF, SRC_CONF,
                                   "%s:%u: %s = %s is out of range; the kernel rejects it", e->file,
                                   e->line, e->key, e->value);
        EVS(f, "file", "%s", e->file);
        EVN(f, "line", "%u", e->line);
        EVS(f, "key", "%s", e->key);
        EVS(f, "value", "%s", e->value);
        EVS(f, "accepted", "%s", accepted);
        FIX(f, "Fix or delete line %u of %s.", e->line, e->file);
    }
}
