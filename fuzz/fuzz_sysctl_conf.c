/*
 * fuzz_sysctl_conf.c — libFuzzer harness for the sysctl.d(5) parser that
 * doctor runs over every file in /etc/sysctl.d and friends.
 *
 * Those files are written by hand, by package scripts and by tuning guides,
 * so the parser must survive anything: the harness feeds arbitrary bytes and
 * checks the invariants every caller relies on — each accepted entry has a
 * non-empty NUL-terminated key made of key characters, a value with no
 * leading/trailing blanks and no newline, and line numbers that never go
 * backwards or past the number of lines in the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/doctor.h>

struct state {
    unsigned last_line, max_line;
};

static int on_entry(const struct tw_sysctl_entry *e, void *arg)
{
    struct state *st = arg;
    size_t kl = strnlen(e->key, sizeof(e->key));
    size_t vl = strnlen(e->value, sizeof(e->value));
    if (kl == 0 || kl == sizeof(e->key) || vl == sizeof(e->value))
        abort();
    if (strchr(e->key, ' ') || strchr(e->key, '=') || strchr(e->value, '\n'))
        abort();
    if (vl && (e->value[0] == ' ' || e->value[vl - 1] == ' ' || e->value[vl - 1] == '\t'))
        abort();
    if (e->line < st->last_line || e->line == 0 || e->line > st->max_line)
        abort();
    st->last_line = e->line;
    return 0;
}

static int on_problem(unsigned line, const char *msg, void *arg)
{
    struct state *st = arg;
    if (!msg || !*msg || line < st->last_line || line == 0 || line > st->max_line)
        abort();
    st->last_line = line;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct state st = {0, 1};
    for (size_t i = 0; i < size; i++)
        st.max_line += data[i] == '\n';
    tw_sysctl_conf_parse((const char *)data, size, on_entry, on_problem, &st);
    return 0;
}
