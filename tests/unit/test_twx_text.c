/*
 * test_twx_text.c — twx_esc keeps what prints as itself and escapes every
 * byte a terminal would obey: escape sequences, newlines, C1 controls,
 * invalid UTF-8, bidirectional overrides.
 */
#include <criterion/criterion.h>
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
