/*
 * test_twx_text.c — twx_esc keeps what prints as itself and escapes every
 * byte a terminal would obey: escape sequences, newlines, C1 controls,
 * invalid UTF-8, bidirectional overrides.  Numbers for people: thousands
 * separators and binary units, whole at every size.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twx/text.h"

static void esc_is(const char *in, const char *want)
{
    char buf[256];
    cr_assert_str_eq(twx_esc(buf, sizeof(buf), in), want, "escaping '%s'", in);
    cr_assert_eq(twx_esc_len(in), strlen(want) + 1, "length of '%s'", in);
}

Test(esc, plain_ascii_and_utf8_kept)
{
    esc_is("nginx", "nginx");
    esc_is("web-1 (pid 42)", "web-1 (pid 42)");
    esc_is("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");
    esc_is("", "");
}

Test(esc, terminal_controls_escaped)
{
    esc_is("x\x1b[2J\x1b[31mok", "x\\x1b[2J\\x1b[31mok");
    esc_is("a\nb\tc\r", "a\\x0ab\\x09c\\x0d");
    esc_is("del\x7f", "del\\x7f");
    esc_is("back\\slash", "back\\\\slash");
}

Test(esc, invalid_utf8_c1_and_bidi_escaped)
{
    esc_is("\xc2\x9b" "31m", "\\xc2\\x9b31m");      /* C1 CSI as UTF-8 */
    esc_is("\x9b", "\\x9b");                         /* raw C1 byte */
    esc_is("\xc0\xaf", "\\xc0\\xaf");                /* overlong */
    esc_is("\xed\xa0\x80", "\\xed\\xa0\\x80");       /* surrogate */
    esc_is("a\xe2\x80\xae" "b", "a\\xe2\\x80\\xaeb"); /* RIGHT-TO-LEFT OVERRIDE */
    esc_is("\xe2\x80\xa8", "\\xe2\\x80\\xa8");       /* LINE SEPARATOR */
    esc_is("\xf0\x9f", "\\xf0\\x9f");                /* cut sequence */
}

Test(esc, small_buffer_marks_the_cut)
{
    char buf[8];
    cr_assert_str_eq(twx_esc(buf, sizeof(buf), "abcdefghij"), "abcd...");
    cr_assert_str_eq(twx_esc(buf, sizeof(buf), "\x1b\x1b\x1b"), "\\x1b...");
}

Test(esc, dup_is_whole)
{
    char *d = twx_esc_dup("pid 7 (x\x1b[2J\nok)");
    cr_assert_not_null(d);
    cr_assert_str_eq(d, "pid 7 (x\\x1b[2J\\x0aok)");
    free(d);
}

Test(num, count_separators)
{
    char b[TWX_NUM_LEN];
    cr_assert_str_eq(twx_count(b, 0), "0");
    cr_assert_str_eq(twx_count(b, 999), "999");
    cr_assert_str_eq(twx_count(b, 1000), "1,000");
    cr_assert_str_eq(twx_count(b, 28210), "28,210");
    cr_assert_str_eq(twx_count(b, 1000000), "1,000,000");
    cr_assert_str_eq(twx_count(b, UINT64_MAX), "18,446,744,073,709,551,615");
}

Test(num, bytes_units_after_rounding)
{
    char b[TWX_NUM_LEN];
    cr_assert_str_eq(twx_bytes(b, 0), "0 B");
    cr_assert_str_eq(twx_bytes(b, 1023), "1023 B");
    cr_assert_str_eq(twx_bytes(b, 1024), "1.0 KiB");
    cr_assert_str_eq(twx_bytes(b, 7372), "7.2 KiB");
    cr_assert_str_eq(twx_bytes(b, 1048575), "1.0 MiB", "not 1024.0 KiB");
    cr_assert_str_eq(twx_bytes(b, 256ull * 1000000), "244.1 MiB");
    cr_assert_str_eq(twx_bytes(b, 3ull << 30), "3.0 GiB");
    cr_assert_str_eq(twx_bytes(b, UINT64_MAX), "16.0 EiB");
}

Test(num, plural)
{
    cr_assert_str_eq(twx_plural(1, "socket", "sockets"), "socket");
    cr_assert_str_eq(twx_plural(0, "socket", "sockets"), "sockets");
    cr_assert_str_eq(twx_plural(2, "socket", "sockets"), "sockets");
}
