/*
 * fuzz_kernel_text.c — libFuzzer harness for the text parsers of
 * lib/kernel.c: tw_parse_snmp (/proc/net/snmp, /proc/net/netstat),
 * tw_parse_sockstat (/proc/net/sockstat) and tw_parse_port_list
 * (ip_local_reserved_ports).
 *
 * The first byte picks the parser; the rest is the text, as a
 * NUL-terminated heap copy (tw_parse_port_list reads to the NUL; the
 * others get the length without it, so reading the NUL is already a bug).
 * Checked: results are 0 or the documented errors; sockstat's tw is never
 * negative when accepted; a port list parses to the same bitmap twice and
 * every accepted list holds only ports 0-65535 (the bitmap cannot say
 * otherwise, so: the reparse of the text must agree).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/error.h>
#include <twkit/kernel.h>

static struct tw_kernel k1, k2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    char *text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    int r;
    switch (data[0] % 3) {
    case 0: {
        struct tw_counters c;
        memset(&c, 0, sizeof(c));
        r = tw_parse_snmp(text, len, &c);
        if (r != 0 && r != TW_EMALFORMED && r != TW_ETRUNCATED && r != -ENOMEM)
            abort();
        for (int id = 0; id < TW_C_MAX; id++)
            if (!c.have[id] && c.v[id])
                abort();
        break;
    }
    case 1:
        k1.sock_tw = -1;
        r = tw_parse_sockstat(text, len, &k1);
        if (r != 0 && r != TW_EMALFORMED)
            abort();
        if (r == 0 && k1.sock_tw < 0)
            abort();
        break;
    default:
        r = tw_parse_port_list(text, &k1);
        if (r != 0 && r != TW_EMALFORMED)
            abort();
        if (r == 0) {
            int r2 = tw_parse_port_list(text, &k2);
            if (r2 != 0 || memcmp(k1.reserved, k2.reserved, sizeof(k1.reserved)))
                abort();
        }
        break;
    }
    free(text);
    return 0;
}
