/*
 * run.c — one run of a scenario variant: its two hosts and their tun
 * devices (twx/topo), the timeline of events, the sampling of the tuple's
 * state in each host after every step, the expectations a script checks
 * against the kernel, and the counter deltas of each host.
 *
 * The hosts are made fresh for each run, so no socket, TIME_WAIT or sysctl
 * of one run can reach the next; they go away in x_run_end, or with twkit
 * itself however it dies (the holder processes of twx/topo).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "explain.h"
#include "twx/clock.h"

const char *x_state_name(int st)
{
    static const char *const names[] = {
        [1] = "ESTABLISHED", [2] = "SYN_SENT",   [3] = "SYN_RECV",  [4] = "FIN_WAIT1",
        [5] = "FIN_WAIT2",   [6] = "TIME_WAIT",  [7] = "CLOSE",     [8] = "CLOSE_WAIT",
        [9] = "LAST_ACK",    [10] = "LISTEN",    [11] = "CLOSING",  [12] = "NEW_SYN_RECV",
    };
    if (st == XS_NONE)
        return "CLOSED";
    if (st == XS_LISTEN_ONLY)
        return "LISTEN";
    if (st > 0 && st < (int)(sizeof(names) / sizeof(names[0])) && names[st])
        return names[st];
    return "?";
}

const char *x_flags_str(uint8_t f, char *buf, size_t len)
{
    static const struct {
        uint8_t bit;
        const char *name;
    } order[] = {{XF_SYN, "SYN"}, {XF_FIN, "FIN"}, {XF_RST, "RST"}, {XF_PSH, "PSH"},
                 {XF_ACK, "ACK"}};
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (f & order[i].bit)
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "",
                                  order[i].name);
    if (!n)
        snprintf(buf, len, "none");
    return buf;
}

uint64_t x_now(const struct xrun *r)
{
    return twx_now_ns() - r->t0;
}

int x_event(struct xrun *r, enum x_ev_kind k, int host, int seg)
{
    if (r->n_ev == X_MAX_EV) {
        if (!r->failed)
            x_fail(r, "more than %d events in one run", X_MAX_EV);
        return -1;
    }
    struct xev *e = &r->ev[r->n_ev];
    memset(e, 0, sizeof(*e));
    e->kind = k;
    e->t_ns = x_now(r);
    e->host = host;
    e->seg = seg;
    e->cause = -1;
    e->expires_ms = -1;
    e->expires_before = -1;
    return r->n_ev++;
}

void x_say(struct xrun *r, int ev, const char *fmt, ...)
{
    if (ev < 0 || ev >= r->n_ev)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->ev[ev].narr, sizeof(r->ev[ev].narr), fmt, ap);
    va_end(ap);
}

void x_say_seg(struct xrun *r, int seg, bool arrival, const char *fmt, ...)
{
    int ev = arrival ? x_deliv_ev(r, seg) : x_send_ev(r, seg);
    if (ev < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->ev[ev].narr, sizeof(r->ev[ev].narr), fmt, ap);
    va_end(ap);
}

int x_find_seg(const struct xrun *r, int from, uint8_t mask, uint8_t value, int first)
{
    for (int i = first < 0 ? 0 : first; i < r->n_seg; i++)
        if (r->seg[i].from == from && (r->seg[i].flags & mask) == value)
            return i;
    return -1;
}

int x_send_ev(const struct xrun *r, int seg)
{
    for (int i = 0; seg >= 0 && i < r->n_ev; i++)
        if (r->ev[i].kind == XE_SEND && r->ev[i].seg == seg)
            return i;
    return -1;
}

int x_deliv_ev(const struct xrun *r, int seg)
{
    for (int i = 0; seg >= 0 && i < r->n_ev; i++)
        if (r->ev[i].kind == XE_DELIVER && r->ev[i].seg == seg)
            return i;
    return -1;
}

const char *x_v(const struct xrun *r)
{
    return r->family == AF_INET6 ? "6" : "4";
}

bool x_expect_path(struct xrun *r, int host, const char *path)
{
    char first[24] = "", got[96] = "";
    sscanf(path, "%23s", first);
    size_t n = 0;
    bool started = false;
    for (int i = 0; i < r->n_ev; i++) {
        const struct xev *e = &r->ev[i];
        if (e->kind != XE_STATE || e->host != host)
            continue;
        const char *name = x_state_name(e->to);
        if (!started && strcmp(name, first))
            continue;
        started = true;
        n += (size_t)snprintf(got + n, n < sizeof(got) ? sizeof(got) - n : 0, "%s%s",
                              n ? " " : "", name);
    }
    /* the path must be what the lane did from there, state by state */
    char want[96];
    snprintf(want, sizeof(want), "%s", path);
    bool ok = !strncmp(got, want, strlen(want)) &&
              (got[strlen(want)] == 0 || got[strlen(want)] == ' ');
    char pretty[128], shown[128];
    size_t k = 0;
    for (const char *p = want; *p && k + 4 < sizeof(pretty); p++)
        k += (size_t)snprintf(pretty + k, sizeof(pretty) - k, *p == ' ' ? " -> " : "%c", *p);
    k = 0;
    for (const char *p = got[0] ? got : "nothing"; *p && k + 4 < sizeof(shown); p++)
        k += (size_t)snprintf(shown + k, sizeof(shown) - k, *p == ' ' ? " -> " : "%c", *p);
    return x_expect(r, ok, shown, "the %s goes %s", host ? "server" : "client", pretty);
}

bool x_expect_counter(struct xrun *r, int host, enum tw_counter_id id, int64_t want)
{
    int64_t d = x_counter_delta(r, host, id);
    char got[32];
    snprintf(got, sizeof(got), "%+lld", (long long)d);
    return x_expect(r, d == want, got, "%s %s %+lld on the %s", tw_counter_section(id),
                    tw_counter_name(id), (long long)want, host ? "server" : "client");
}

void x_fail(struct xrun *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    r->failed = true;
}

bool x_expect(struct xrun *r, bool ok, const char *got, const char *fmt, ...)
{
    if (r->n_exp == X_MAX_EXP)
        return ok;
    struct xexpect *x = &r->exp[r->n_exp++];
    x->ok = ok;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->what, sizeof(x->what), fmt, ap);
    va_end(ap);
    snprintf(x->got, sizeof(x->got), "%s", got ? got : "");
    return ok;
}

int x_note(struct xrun *r, int host, const char *text, const char *narr)
{
    int e = x_event(r, XE_NOTE, host, -1);
    if (e >= 0) {
        snprintf(r->ev[e].text, sizeof(r->ev[e].text), "%s", text);
        snprintf(r->ev[e].narr, sizeof(r->ev[e].narr), "%s", narr ? narr : "");
    }
    return e;
}

void x_sample(struct xrun *r, int host, int cause)
{
    struct xsock s;
    int e = x_diag_get(r, host, &s);
    if (e < 0) {
        x_fail(r, "sock_diag lookup in the %s host: %s", host ? "server" : "client", strerror(-e));
        return;
    }
    /* The exact lookup falls back to the listener (inet_lookup tries the
     * listening hash after the established one): that is no socket of the
     * tuple's own.  Then the server's lane is LISTEN until the tuple first
     * had a socket there, CLOSED after. */
    if (s.found && s.state == 10)
        s.found = false;
    int lane = s.found ? s.state
               : host == XH_SERVER && r->listener >= 0 &&
                       (r->lane[host] == XS_NONE || r->lane[host] == XS_LISTEN_ONLY) &&
                       !r->server_had_socket
                   ? XS_LISTEN_ONLY
                   : XS_NONE;
    if (s.found && host == XH_SERVER)
        r->server_had_socket = true;
    r->lane_expires[host] = s.found && s.state == 6 ? s.expires_ms : -1;
    if (lane == r->lane[host])
        return;
    int k = x_event(r, XE_STATE, host, -1);
    if (k < 0)
        return;
    r->ev[k].from = r->lane[host];
    r->ev[k].to = lane;
    r->ev[k].cause = cause;
    r->ev[k].expires_ms = r->lane_expires[host];
    if (lane == 6)
        r->tw_entry_ns[host] = r->ev[k].t_ns;
    r->lane[host] = lane;
}

void x_counters_begin(struct xrun *r)
{
    for (int h = 0; h < XH_N; h++)
        if (x_counters_read(r, h, &r->c0[h]) < 0)
            x_fail(r, "cannot read the %s host's counters", h ? "server" : "client");
}

int64_t x_counter_delta(const struct xrun *r, int host, enum tw_counter_id id)
{
    for (int i = 0; i < r->n_count; i++)
        if (r->count[i].host == host && r->count[i].id == id)
            return r->count[i].delta;
    return 0;
}

void x_counters_end(struct xrun *r)
{
    r->n_count = 0;
    r->counted = true;
    for (int h = 0; h < XH_N; h++) {
        struct tw_counters c;
        if (x_counters_read(r, h, &c) < 0) {
            x_fail(r, "cannot read the %s host's counters", h ? "server" : "client");
            return;
        }
        for (int id = 0; id < TW_C_MAX; id++) {
            if (!c.have[id] || id == TW_C_CURR_ESTAB || r->n_count == X_MAX_COUNT)
                continue;
            int64_t d = (int64_t)(c.v[id] - r->c0[h].v[id]);
            if (d)
                r->count[r->n_count++] = (struct xcount){h, (enum tw_counter_id)id, d};
        }
    }
}

/* ---- hosts ------------------------------------------------------------------------ */

static void add_sysctl(struct twx_topo_host *h, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || h->n_sysctl == TWX_TOPO_MAX_SYSCTL)
        return;
    static char names[XH_N * TWX_TOPO_MAX_SYSCTL][64];
    static int n_names;
    char *name = names[n_names++ % (XH_N * TWX_TOPO_MAX_SYSCTL)];
    snprintf(name, 64, "%.*s", (int)(eq - kv), kv);
    struct twx_topo_sysctl *s = &h->sysctl[h->n_sysctl++];
    s->name = name;
    snprintf(s->value, sizeof(s->value), "%s", eq + 1);
}

int x_run_start(struct xrun *r, int *why)
{
    *why = 0;
    for (int h = 0; h < XH_N; h++)
        r->tun[h] = r->diag[h] = r->fd[h] = -1;
    r->listener = -1;
    struct utsname u;
    snprintf(r->kernel, sizeof(r->kernel), "%s", uname(&u) == 0 ? u.release : "");
    bool v6 = r->family == AF_INET6;
    for (int h = 0; h < XH_N; h++) {
        snprintf(r->addr[h], sizeof(r->addr[h]), v6 ? "2001:2::%d" : "198.18.0.%d", h + 1);
        r->port[h] = h == XH_CLIENT ? X_CLIENT_PORT : X_SERVER_PORT;
        r->lane_expires[h] = -1;
    }
    struct twx_topo *t = &r->topo;
    memset(t, 0, sizeof(*t));
    t->n_hosts = XH_N;
    t->host[XH_CLIENT].name = "client";
    t->host[XH_SERVER].name = "server";
    for (int h = 0; h < XH_N; h++)
        for (int i = 0; i < 4 && r->v->sysctl[h][i]; i++)
            add_sysctl(&t->host[h], r->v->sysctl[h][i]);
    int e = twx_topo_create(t, r->err, sizeof(r->err));
    if (e < 0) {
        *why = e == -EPERM ? X_ENOPRIV : 0;
        r->failed = true;
        return e;
    }
    for (int h = 0; h < XH_N; h++) {
        int o = 1 - h;
        struct twx_topo_tun cfg = {.ifname = "tun0"};
        if (v6) {
            cfg.local6 = r->addr[h];
            cfg.peer6 = r->addr[o];
        } else {
            cfg.local4 = r->addr[h];
            cfg.peer4 = r->addr[o];
        }
        char err[200];
        r->tun[h] = twx_topo_tun(t, h, &cfg, err, sizeof(err));
        if (r->tun[h] < 0) {
            e = r->tun[h];
            *why = e == -EPERM || e == -EACCES || e == -ENOENT || e == -ENODEV ? X_ENOPRIV : 0;
            snprintf(r->err, sizeof(r->err), "%s host: %s", h ? "server" : "client", err);
            r->failed = true;
            return e;
        }
        fcntl(r->tun[h], F_SETFL, fcntl(r->tun[h], F_GETFL) | O_NONBLOCK);
        r->diag[h] = twx_topo_socket(t, h, AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
        if (r->diag[h] < 0) {
            e = r->diag[h];
            snprintf(r->err, sizeof(r->err), "cannot open a NETLINK_SOCK_DIAG socket in the %s "
                     "host: %s", h ? "server" : "client", strerror(-e));
            r->failed = true;
            return e;
        }
    }
    r->t0 = twx_now_ns();
    r->wall0_ns = twx_wall_ns();
    x_counters_begin(r);
    return r->failed ? -EIO : 0;
}

void x_run_end(struct xrun *r)
{
    for (int h = 0; h < XH_N; h++) {
        int *fds[] = {&r->tun[h], &r->diag[h], &r->fd[h]};
        for (int k = 0; k < 3; k++)
            if (*fds[k] >= 0) {
                close(*fds[k]);
                *fds[k] = -1;
            }
    }
    if (r->listener >= 0) {
        close(r->listener);
        r->listener = -1;
    }
    twx_topo_destroy(&r->topo);
}
