/*
 * table.c — the user-space tables of `twkit trace`.  The kernel keeps one
 * interval's rows in bounded hash maps; user space drains them every
 * interval into a table of its own, and adds each interval's table into the
 * totals of the run.  Rows are keyed by the kernel's key bytes (process,
 * destination, call, errno), so merging is exact and needs no knowledge of
 * what the key means.  Open addressing with linear probing over an index of
 * row numbers; rows stay in insertion order in two flat arrays.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

void trace_tab_init(struct trace_tab *t, size_t ksz, size_t nv)
{
    memset(t, 0, sizeof(*t));
    t->ksz = ksz;
    t->nv = nv;
}

void trace_tab_release(struct trace_tab *t)
{
    free(t->keys);
    free(t->vals);
    free(t->slot);
    trace_tab_init(t, t->ksz, t->nv);
}

void trace_tab_clear(struct trace_tab *t)
{
    t->n = 0;
    if (t->slot)
        memset(t->slot, 0, t->nslot * sizeof(*t->slot));
}

static uint64_t hash_key(const unsigned char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;  /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void index_row(struct trace_tab *t, size_t row)
{
    size_t m = t->nslot - 1;
    size_t s = hash_key(t->keys + row * t->ksz, t->ksz) & m;
    while (t->slot[s])
        s = (s + 1) & m;
    t->slot[s] = (uint32_t)(row + 1);
}

static int grow(struct trace_tab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    unsigned char *k = realloc(t->keys, cap * t->ksz);
    if (!k)
        return -ENOMEM;
    t->keys = k;
    uint64_t *v = realloc(t->vals, cap * t->nv * sizeof(uint64_t));
    if (!v)
        return -ENOMEM;
    t->vals = v;
    uint32_t *s = calloc(cap * 2, sizeof(*s));
    if (!s)
        return -ENOMEM;
    free(t->slot);
    t->slot = s;
    t->nslot = cap * 2;
    t->cap = cap;
    for (size_t i = 0; i < t->n; i++)
        index_row(t, i);
    return 0;
}

int trace_tab_add(struct trace_tab *t, const void *key, const uint64_t *vals)
{
    if (t->nslot) {
        size_t m = t->nslot - 1;
        for (size_t s = hash_key(key, t->ksz) & m; t->slot[s]; s = (s + 1) & m) {
            size_t row = t->slot[s] - 1;
            if (!memcmp(t->keys + row * t->ksz, key, t->ksz)) {
                for (size_t j = 0; j < t->nv; j++)
                    t->vals[row * t->nv + j] += vals[j];
                return 0;
            }
        }
    }
    if (t->n == t->cap && grow(t))
        return -ENOMEM;
    memcpy(t->keys + t->n * t->ksz, key, t->ksz);
    memcpy(t->vals + t->n * t->nv, vals, t->nv * sizeof(uint64_t));
    index_row(t, t->n);
    t->n++;
    return 0;
}

int trace_tab_merge(struct trace_tab *t, const struct trace_tab *from)
{
    for (size_t i = 0; i < from->n; i++) {
        int e = trace_tab_add(t, trace_tab_key(from, i), trace_tab_val(from, i));
        if (e)
            return e;
    }
    return 0;
}

static const struct trace_tab *g_sort_tab;
static size_t g_sort_lead;

static uint64_t row_sum(const struct trace_tab *t, size_t i, size_t n)
{
    uint64_t s = 0;
    for (size_t j = 0; j < n && j < t->nv; j++)
        s += t->vals[i * t->nv + j];
    return s;
}

static int by_sum(const void *a, const void *b)
{
    const struct trace_tab *t = g_sort_tab;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    uint64_t sx = row_sum(t, x, g_sort_lead), sy = row_sum(t, y, g_sort_lead);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    sx = row_sum(t, x, t->nv);
    sy = row_sum(t, y, t->nv);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return memcmp(t->keys + x * t->ksz, t->keys + y * t->ksz, t->ksz);
}

size_t *trace_tab_order(const struct trace_tab *t, size_t nlead)
{
    if (!t->n)
        return NULL;
    size_t *o = malloc(t->n * sizeof(*o));
    if (!o)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        o[i] = i;
    g_sort_tab = t;
    g_sort_lead = nlead;
    qsort(o, t->n, sizeof(*o), by_sum);
    g_sort_tab = NULL;
    return o;
}
