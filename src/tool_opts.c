/*
 * tool_opts.c — the options several commands share (--state, --sport,
 * --dport, --src, --dst, -4/-6, --source, --color), parsed once here so
 * that stat, doctor, watch and export accept exactly the same values with
 * the same messages.  The table entries themselves are the TOOL_OPT_*
 * macros in tool.h.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <twkit/twkit.h>

#include "tool.h"

const char *const tool_source_choices[] = {"auto", "netlink", "proc", "bpf", NULL};
const char *const tool_source_live_choices[] = {"auto", "netlink", "proc", "bpf", "live", NULL};
const char *const tool_color_choices[] = {"auto", "always", "never", NULL};

enum tw_source_kind tool_source_kind(int choice)
{
    static const enum tw_source_kind kinds[] = {TW_SOURCE_AUTO, TW_SOURCE_NETLINK,
                                                TW_SOURCE_PROC, TW_SOURCE_BPF};
    return choice >= 0 && choice < (int)(sizeof(kinds) / sizeof(kinds[0])) ? kinds[choice]
                                                                           : TW_SOURCE_AUTO;
}

int tool_bpf_err(int e)
{
    char why[256];
    int w = tw_source_bpf_why(why, sizeof(why));
    twx_err("--source bpf: %s", w && why[0] ? why : tw_strerror(e));
    return TW_EXIT_RUNTIME;
}

int tool_opt_state(void *field, const char *v, char *err, size_t len)
{
    unsigned *states = field;
    const char *p = v;
    if (!*v) {
        snprintf(err, len, "the value is empty");
        return -1;
    }
    while (*p) {
        size_t n = strcspn(p, ",");
        char name[32];
        unsigned m;
        if (n == 0 || n >= sizeof(name)) {
            snprintf(err, len, "'%s' is not a list of states", v);
            return -1;
        }
        memcpy(name, p, n);
        name[n] = 0;
        if (tw_state_parse(name, &m)) {
            snprintf(err, len, "unknown state '%s' (try time-wait, established, syn-sent, "
                     "fin-wait-2, listen, all)", name);
            return -1;
        }
        *states |= m;
        p += n;
        if (*p == ',' && !*++p) {
            snprintf(err, len, "'%s' ends with a comma", v);
            return -1;
        }
    }
    return 0;
}

static int port_range(uint16_t *lo, uint16_t *hi, const char *v, char *err, size_t len)
{
    if (tw_parse_port_range(v, lo, hi)) {
        snprintf(err, len, "'%s' is not a port or PORT-PORT range", v);
        return -1;
    }
    return 0;
}

int tool_opt_sport(void *field, const char *v, char *err, size_t len)
{
    struct tw_query *q = field;
    return port_range(&q->sport_lo, &q->sport_hi, v, err, len);
}

int tool_opt_dport(void *field, const char *v, char *err, size_t len)
{
    struct tw_query *q = field;
    return port_range(&q->dport_lo, &q->dport_hi, v, err, len);
}

static int cidr(struct tw_cidr *list, unsigned *n, const char *v, char *err, size_t len)
{
    if (*n >= TW_QUERY_MAX_CIDR) {
        snprintf(err, len, "at most %d prefixes", TW_QUERY_MAX_CIDR);
        return -1;
    }
    if (tw_parse_cidr(v, &list[*n])) {
        snprintf(err, len, "'%s' is not an address or CIDR prefix", v);
        return -1;
    }
    ++*n;
    return 0;
}

int tool_opt_src(void *field, const char *v, char *err, size_t len)
{
    struct tw_query *q = field;
    return cidr(q->src, &q->n_src, v, err, len);
}

int tool_opt_dst(void *field, const char *v, char *err, size_t len)
{
    struct tw_query *q = field;
    return cidr(q->dst, &q->n_dst, v, err, len);
}

void tool_common_init(struct tool_common *c)
{
    memset(c, 0, sizeof(*c));
    tw_query_init(&c->query);
}

void tool_common_finish(struct tool_common *c)
{
    if (c->ipv4)
        c->query.want_v6 = false;
    if (c->ipv6)
        c->query.want_v4 = false;
    if (c->states)
        c->query.states = c->states;
}

/* ---- colour -------------------------------------------------------------------- */

bool tool_color;

void tool_color_init(int choice, FILE *out)
{
    if (choice == 0) {
        const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
        tool_color = isatty(fileno(out)) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
    } else {
        tool_color = choice == 1;
    }
}
