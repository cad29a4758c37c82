/*
 * fuzz_proc_line.c — libFuzzer harness for tw_parse_proc_line, the parser of
 * one /proc/net/tcp or /proc/net/tcp6 row (lib/src_proc.c).
 *
 * The first byte picks the family (bit 0) and USER_HZ (bits 1-2); the rest
 * is the line, handed over in an exact-size heap copy so that ASan sees any
 * read past len.  Besides "no crash", it checks the parser's contract: the
 * result is 0, TW_EMALFORMED or TW_EUNKSTATE; an accepted line has a known
 * state, a timer of 0-4 and addresses of the asked family (IPv4 with a zero
 * tail); and trailing blanks or a newline after an accepted line change
 * nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <twkit/error.h>
#include <twkit/sock.h>

static void check_sock(const struct tw_sock *s, int family)
{
    if (s->state < 1 || s->state >= TW_STATE_MAX || s->timer > 4)
        abort();
    if (s->laddr.family != family || s->raddr.family != family)
        abort();
    if (family == AF_INET)
        for (int i = 4; i < 16; i++)
            if (s->laddr.u.b[i] || s->raddr.u.b[i])
                abort();
    if (s->ifindex || s->pad)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long hz[4] = {100, 1000, 250, 0};
    if (size < 1)
        return 0;
    int family = data[0] & 1 ? AF_INET6 : AF_INET;
    long user_hz = hz[(data[0] >> 1) & 3];
    size_t len = size - 1;
    char *line = malloc(len + 2);
    if (!line)
        return 0;
    memcpy(line, data + 1, len);

    struct tw_sock s;
    int r = tw_parse_proc_line(line, len, family, user_hz, &s);
    if (r != 0 && r != TW_EMALFORMED && r != TW_EUNKSTATE)
        abort();
    if (r == 0) {
        check_sock(&s, family);
        /* the same line as the kernel ends it: a blank and a newline */
        struct tw_sock t;
        line[len] = ' ';
        line[len + 1] = '\n';
        if (tw_parse_proc_line(line, len + 2, family, user_hz, &t) != 0 ||
            memcmp(&s, &t, sizeof(s)))
            abort();
    }
    free(line);
    return 0;
}
