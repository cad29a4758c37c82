/*
 * test_twx_errclass.c — errno values map to their classes, names round-trip
 * through twx_errclass_find, and nothing outside the table has a name.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "twx/errclass.h"

Test(twx_errclass, errno_to_class)
{
    cr_assert_eq(twx_errclass_of(EADDRNOTAVAIL), TWX_EC_ADDRNOTAVAIL);
    cr_assert_eq(twx_errclass_of(EADDRINUSE), TWX_EC_ADDRINUSE);
    cr_assert_eq(twx_errclass_of(ECONNREFUSED), TWX_EC_CONNREFUSED);
    cr_assert_eq(twx_errclass_of(ECONNRESET), TWX_EC_CONNRESET);
    cr_assert_eq(twx_errclass_of(ETIMEDOUT), TWX_EC_TIMEDOUT);
    cr_assert_eq(twx_errclass_of(EPIPE), TWX_EC_PIPE);
    cr_assert_eq(twx_errclass_of(EHOSTUNREACH), TWX_EC_UNREACH);
    cr_assert_eq(twx_errclass_of(ENETUNREACH), TWX_EC_UNREACH);
    cr_assert_eq(twx_errclass_of(EMFILE), TWX_EC_MFILE);
    cr_assert_eq(twx_errclass_of(ENFILE), TWX_EC_MFILE);
    cr_assert_eq(twx_errclass_of(EBADMSG), TWX_EC_BADMSG);
    cr_assert_eq(twx_errclass_of(EINVAL), TWX_EC_OTHER);
    cr_assert_eq(twx_errclass_of(0), TWX_EC_OTHER);
}

Test(twx_errclass, names_round_trip)
{
    for (int k = 0; k < TWX_EC_MAX; k++) {
        const char *n = twx_errclass_name(k);
        cr_assert(n && *n);
        cr_assert_eq(twx_errclass_find(n), k, "%s", n);
        for (int j = 0; j < k; j++)
            cr_assert_str_neq(n, twx_errclass_name(j), "two classes named %s", n);
    }
    cr_assert_str_eq(twx_errclass_name(TWX_EC_ADDRNOTAVAIL), "EADDRNOTAVAIL");
    cr_assert_str_eq(twx_errclass_name(TWX_EC_HTTP), "HTTP_STATUS");
}

Test(twx_errclass, unknown_names_and_values)
{
    cr_assert_eq(twx_errclass_find("eaddrnotavail"), -1, "names are case-sensitive");
    cr_assert_eq(twx_errclass_find("EADDRNOTAVAIL "), -1);
    cr_assert_eq(twx_errclass_find(""), -1);
    cr_assert_eq(twx_errclass_find(NULL), -1);
    cr_assert_str_eq(twx_errclass_name(-1), "OTHER");
    cr_assert_str_eq(twx_errclass_name(TWX_EC_MAX), "OTHER");
}
