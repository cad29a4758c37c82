/*
 * test_twx_msg.c — the one wording of stderr messages: "twkit: " first, a
 * usage error ends with the --help hint and returns 2, and the formatted
 * message is escaped whole, so that a name from outside cannot send
 * control sequences to the terminal or forge a second line.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "twx/msg.h"

Test(msg, error_and_warning_prefixes, .init = cr_redirect_stderr)
{
    twx_err("cannot open %s: %s", "x", "gone");
    twx_warn("skipping %d", 3);
    fflush(stderr);
    cr_assert_stderr_eq_str("twkit: cannot open x: gone\ntwkit: warning: skipping 3\n");
}

Test(msg, usage_error_names_the_help, .init = cr_redirect_stderr)
{
    cr_assert_eq(twx_usage_err("stat", "--top: '%s' is not a number", "x"), 2);
    cr_assert_eq(twx_usage_err(NULL, "no command"), 2);
    fflush(stderr);
    cr_assert_stderr_eq_str("twkit: --top: 'x' is not a number\nTry 'twkit stat --help'.\n"
                            "twkit: no command\nTry 'twkit --help'.\n");
}

Test(msg, outside_strings_escaped, .init = cr_redirect_stderr)
{
    twx_err("no network namespace '%s'", "ns\x1b[2J\nforged");
    twx_warn("skipping namespace %s", "pid 7 (x\x1b]0;t\x07)");
    fflush(stderr);
    cr_assert_stderr_eq_str("twkit: no network namespace 'ns\\x1b[2J\\x0aforged'\n"
                            "twkit: warning: skipping namespace pid 7 (x\\x1b]0;t\\x07)\n");
}
