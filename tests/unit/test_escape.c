/* Unit tests: formats/escape.c on names no one would choose but anyone can
 * put in a binary or a perf map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "formats/escape.h"

static char *md_code(const char *s, bool cell)
{
    struct buf b = {0};

    assert_int_equal(escape_md_code(&b, s, strlen(s), cell), 0);
    assert_int_equal(buf_put(&b, "", 1), 0);
    return b.d;
}

static void check(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_utf8(void **state)
{
    (void)state;
    check(escaped(escape_utf8, "caf\xc3\xa9"), "caf\xc3\xa9");
    /* a stray byte, a truncated sequence, an overlong '/', a surrogate */
    check(escaped(escape_utf8, "a\xff"
                               "b\xe2\x82"
                               "c\xc0\xaf"
                               "d\xed\xa0\x80"),
          "a\xef\xbf\xbd"
          "b\xef\xbf\xbd\xef\xbf\xbd"
          "c\xef\xbf\xbd\xef\xbf\xbd"
          "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    check(escaped(escape_utf8, NULL), "");
}

static void test_terminal(void **state)
{
    (void)state;
    /* clear screen, red background, bell, a C1 CSI, DEL: all shown, none obeyed */
    check(escaped(escape_terminal, "x\x1b[2J\x1b[41m\x07y\xc2\x9b"
                                   "1m\x7f"),
          "x\\x1b[2J\\x1b[41m\\x07y\\x9b1m\\x7f");
    check(escaped(escape_terminal, "tab\tnl\n"), "tab\\x09nl\\x0a");
    check(escaped(escape_terminal, "ok \xc3\xa9 \xe2\x86\x92"), "ok \xc3\xa9 \xe2\x86\x92");
    check(escaped(escape_terminal, "\xff"), "\xef\xbf\xbd");
}

static void test_markdown(void **state)
{
    (void)state;
    check(md_code("plain::name()", false), "`plain::name()`");
    /* a backtick inside: the fence is longer, with room at its ends */
    check(md_code("a`b", false), "`` a`b ``");
    check(md_code("``x", false), "``` ``x ```");
    /* in a table a pipe would start a cell */
    check(md_code("a|b", true), "`a\\|b`");
    check(md_code("a|b", false), "`a|b`");
    check(md_code("<script>\x1b", false), "`<script>\\x1b`");
    check(escaped(escape_md_text, "shop/checkout-0 *x* [l](u) <b>|"),
          "shop/checkout-0 \\*x\\* \\[l\\](u) \\<b\\>\\|");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_terminal),
        cmocka_unit_test(test_markdown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
