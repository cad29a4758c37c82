/*
 * json.c — the streaming JSON writer of the internal tier.  The command's JSON outputs are
 * documented schemas (docs/NAME-json.md); emitting them through one writer
 * keeps escaping and commas right in one place instead of in printf calls
 * scattered over every renderer.
 */
#include <math.h>

#include "twx/json.h"

void twx_json_init(struct twx_json *j, FILE *f, bool pretty)
{
    j->f = f;
    j->depth = 0;
    j->first[0] = true;
    j->pretty = pretty;
}

static void indent(struct twx_json *j)
{
    if (!j->pretty)
        return;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void member(struct twx_json *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth])
            fputc(',', j->f);
        j->first[j->depth] = false;
        indent(j);
    }
    if (key) {
        put_string(j->f, key);
        fputs(j->pretty ? ": " : ":", j->f);
    }
}

static void open_(struct twx_json *j, const char *key, char c)
{
    member(j, key);
    fputc(c, j->f);
    if (j->depth < 31)
        j->depth++;
    j->first[j->depth] = true;
}

static void close_(struct twx_json *j, char c)
{
    bool empty = j->first[j->depth];
    j->depth--;
    if (!empty)
        indent(j);
    fputc(c, j->f);
}

void twx_json_obj_begin(struct twx_json *j, const char *key) { open_(j, key, '{'); }
void twx_json_obj_end(struct twx_json *j) { close_(j, '}'); }
void twx_json_arr_begin(struct twx_json *j, const char *key) { open_(j, key, '['); }
void twx_json_arr_end(struct twx_json *j) { close_(j, ']'); }

void twx_json_str(struct twx_json *j, const char *key, const char *v)
{
    member(j, key);
    if (v)
        put_string(j->f, v);
    else
        fputs("null", j->f);
}

void twx_json_u64(struct twx_json *j, const char *key, uint64_t v)
{
    member(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void twx_json_i64(struct twx_json *j, const char *key, int64_t v)
{
    member(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

void twx_json_f64(struct twx_json *j, const char *key, double v, int decimals)
{
    member(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.*f", decimals, v);
    else
        fputs("null", j->f);
}

void twx_json_bool(struct twx_json *j, const char *key, bool v)
{
    member(j, key);
    fputs(v ? "true" : "false", j->f);
}

void twx_json_null(struct twx_json *j, const char *key)
{
    member(j, key);
    fputs("null", j->f);
}

void twx_json_end(struct twx_json *j)
{
    fputc('\n', j->f);
}
