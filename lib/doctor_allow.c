/*
 * doctor_allow.c — the settings `twkit doctor` may write, and the values it
 * may write to them.
 *
 * Everything doctor writes (a sysctl.d drop-in, a live value through
 * /proc/sys) passes through tw_doctor_change_safe: the key must be one of
 * the few TIME_WAIT-related settings doctor manages and the value must be in
 * the range the kernel accepts (net/ipv4/sysctl_net_ipv4.c extra1/extra2).
 * A rule that proposes anything else has its proposal dropped, and
 * tw_doctor_apply refuses it again.  tcp_tw_recycle (removed in 4.12) and
 * tcp_fin_timeout (does not touch TIME_WAIT) are never written; the latter
 * is only range-checked when a configuration file sets it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_int.h"

struct managed {
    const char *key;
    long lo, hi;     /* inclusive range of each number */
    int nums;        /* numbers in the value (2 for the port range); 0: a port list */
};

/* What the kernel accepts (net/ipv4/sysctl_net_ipv4.c extra1/extra2). */
static const struct managed managed[] = {
    {"net.ipv4.tcp_tw_reuse", 0, 2, 1},
    {"net.ipv4.tcp_tw_reuse_delay", 1, 60000, 1},
    {"net.ipv4.tcp_timestamps", 0, 2, 1},
    {"net.ipv4.tcp_max_tw_buckets", 0, INT_MAX, 1},
    {"net.ipv4.tcp_rfc1337", 0, 1, 1},
    {"net.ipv4.ip_local_port_range", 1, 65535, 2},
    {"net.ipv4.ip_local_reserved_ports", 0, 65535, 0},
};

/* Settings a conf file may hold that doctor checks but never writes. */
static const struct managed checked_only[] = {
    {"net.ipv4.tcp_fin_timeout", 1, INT_MAX / 1000, 1},
};

static const struct managed *find_managed(const char *key, bool include_checked)
{
    for (size_t i = 0; i < TW__ARRAY_LEN(managed); i++)
        if (!strcmp(managed[i].key, key))
            return &managed[i];
    if (include_checked)
        for (size_t i = 0; i < TW__ARRAY_LEN(checked_only); i++)
            if (!strcmp(checked_only[i].key, key))
                return &checked_only[i];
    return NULL;
}

/* One decimal number in [lo, hi] at *p; advances *p. */
static bool number(const char **p, long lo, long hi, long *out)
{
    if (**p < '0' || **p > '9')
        return false;
    char *end;
    errno = 0;
    long x = strtol(*p, &end, 10);
    if (errno || x < lo || x > hi || end - *p > 6)
        return false;
    *p = end;
    *out = x;
    return true;
}

/* "N", "N-M" items separated by ',' (as the kernel prints the list); "" clears it. */
static bool port_list_ok(const struct managed *m, const char *p)
{
    while (*p) {
        long a, b;
        if (!number(&p, m->lo, m->hi, &a))
            return false;
        b = a;
        if (*p == '-' && (p++, !number(&p, m->lo, m->hi, &b)))
            return false;
        if (b < a || (*p && *p != ','))
            return false;
        if (*p == ',' && !*++p)
            return false;
    }
    return true;
}

/* Parse value as m->nums decimal numbers in range (whitespace separated). */
static bool value_ok(const struct managed *m, const char *value)
{
    const char *p = value;
    long v[2] = {0, 0};

    if (m->nums == 0)
        return port_list_ok(m, value);
    for (int i = 0; i < m->nums; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || x < m->lo || x > m->hi)
            return false;
        v[i] = x;
        p = end;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return false;
    return m->nums < 2 || v[0] <= v[1];
}

bool tw__doctor_managed(const char *key)
{
    return key && find_managed(key, false) != NULL;
}

bool tw_doctor_change_safe(const char *key, const char *value)
{
    const struct managed *m = key && value ? find_managed(key, false) : NULL;
    return m && value_ok(m, value);
}

int tw__doctor_value_check(const char *key, const char *value, char *accepted, size_t len)
{
    const struct managed *m = key && value ? find_managed(key, true) : NULL;
    if (!m)
        return -1;
    if (m->nums == 0)
        snprintf(accepted, len, "ports %ld-%ld and ranges A-B, comma separated", m->lo, m->hi);
    else if (m->nums == 2)
        snprintf(accepted, len, "two numbers %ld-%ld, low <= high", m->lo, m->hi);
    else
        snprintf(accepted, len, "%ld-%ld", m->lo, m->hi);
    return value_ok(m, value) ? 1 : 0;
}
