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

/* ---- layout ---------------------------------------------------------------------- */

static char *flow_out;
static size_t flow_len;

static FILE *mem(void)
{
    free(flow_out);
    flow_out = NULL;
    FILE *f = open_memstream(&flow_out, &flow_len);
    cr_assert_not_null(f);
    return f;
}

Test(layout, width_skips_colour_and_counts_characters)
{
    cr_assert_eq(twx_width("abc"), 3);
    cr_assert_eq(twx_width("\033[1mabc\033[0m"), 3);
    cr_assert_eq(twx_width("caf\xc3\xa9"), 4);
    cr_assert_eq(twx_width(""), 0);
    FILE *f = mem();
    twx_pad(f, "ab", 5);
    twx_pad(f, "toolong", 3);
    fclose(f);
    cr_assert_str_eq(flow_out, "ab   toolong", "pads, never cuts");
}

Test(layout, flow_wraps_at_the_width_and_indents)
{
    FILE *f = mem();
    struct twx_flow w;
    twx_flow_begin(&w, f, 20, 2, 4);
    twx_flow_put(&w, NULL, "range 1-9:");
    twx_flow_put(&w, " ", "9 ports");
    twx_flow_put(&w, " ", "- 1 reserved");
    twx_flow_putf(&w, " ", "= %d left", 8);
    twx_flow_end(&w);
    fclose(f);
    cr_assert_str_eq(flow_out, "  range 1-9: 9 ports\n    - 1 reserved\n    = 8 left\n");
}

Test(layout, flow_never_cuts_a_long_piece)
{
    FILE *f = mem();
    struct twx_flow w;
    twx_flow_begin(&w, f, 10, 0, 2);
    twx_flow_put(&w, NULL, "a");
    twx_flow_put(&w, " ", "averyveryverylongword");
    twx_flow_words(&w, "b  c");
    char big[700];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    twx_flow_putf(&w, " ", "%s", big); /* longer than putf's own buffer */
    twx_flow_end(&w);
    fclose(f);
    char want[800];
    snprintf(want, sizeof(want), "a\n  averyveryverylongword\n  b c\n  %s\n", big);
    cr_assert_str_eq(flow_out, want);
    free(flow_out);
    flow_out = NULL;
}
