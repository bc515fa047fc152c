/*
 * Unit tests: formats/perfscript.c. The hand-written frame matcher must give
 * exactly what the reference regular expression gives: the same inputs,
 * mutated at random, are collapsed with and without it and must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "formats/perfscript.h"
#include "formats/stackcount.h"

static int add(void *ctx, const char *stack, size_t len, uint64_t count)
{
    return stackcount_add(ctx, stack, len, count);
}

/* Collapses text with the given options into a sorted "stack count" dump. */
static char *collapse(const char *text, size_t len, struct perfscript_opts o)
{
    FILE *in = fmemopen((void *)text, len, "r");
    struct stackcount sc;
    char *out = NULL;
    size_t olen;
    FILE *f = open_memstream(&out, &olen);

    stackcount_init(&sc);
    assert_int_equal(perfscript_collapse(in, &o, add, &sc, NULL), 0);
    stackcount_sort(&sc);
    for (size_t i = 0; i < sc.n; i++)
        fprintf(f, "%s %llu\n", sc.items[i].stack, (unsigned long long)sc.items[i].count);
    fclose(f);
    fclose(in);
    stackcount_free(&sc);
    return out;
}

static const char sample[] = "java 25607/25610 [002] 1234.5678: 1000 cycles: \n"
                             "\t    7f0a1b2c3d4e Interpreter (/tmp/perf-25607.map)\n"
                             "\t    ffffffff81234567 do_syscall_64+0x3a ([kernel.kallsyms])\n"
                             "\t    4005d6 main (/usr/bin/app (deleted))\n"
                             "\t    400abc foo(int, char*) const (/opt/my app/lib.so)\n"
                             "\t    400def net/http.(*Client).Do (/usr/bin/gosrv)\n"
                             "\t    401000 a->b->c (/usr/bin/inl)\n"
                             "\t    402000 [unknown] ([unknown])\n"
                             "\t    403000 [unknown] (/usr/lib/libz.so.1)\n"
                             "\t    404000 (anonymous namespace)::f() (/x)\n"
                             "\t    405000 \"quoted;name' (/y)\n"
                             "\n";

static void test_fast_path_matches_regex(void **state)
{
    static const char alphabet[] = " \t()->;[]'\"x_0a/.:+";
    struct perfscript_opts fast = {.kernel = true, .jit = true, .addrs = true};
    struct perfscript_opts slow = fast;
    size_t n = strlen(sample);
    char *buf = malloc(n + 64);
    unsigned seed = 7;
    int differ = 0;

    (void)state;
    slow.regex_only = true;
    for (int round = 0; round < 4000; round++) {
        char *a, *b;
        size_t len = n;

        memcpy(buf, sample, n);
        /* overwrite or insert a few characters, keeping the line structure */
        for (int k = 0; k < 1 + round % 5; k++) {
            size_t pos;
            char c;

            seed = seed * 1103515245 + 12345;
            pos = (seed >> 8) % len;
            c = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
            if (buf[pos] == '\n')
                continue;
            if ((seed >> 4) & 1) {
                buf[pos] = c;
            } else if (len < n + 60) {
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = c;
                len++;
            }
        }
        a = collapse(buf, len, fast);
        b = collapse(buf, len, slow);
        if (strcmp(a, b) != 0 && differ++ < 3)
            print_error("differ on input:\n%.*s\nfast:\n%s\nregex:\n%s\n", (int)len, buf, a, b);
        free(a);
        free(b);
    }
    free(buf);
    assert_int_equal(differ, 0);
}

static void test_expected_tidying(void **state)
{
    struct perfscript_opts o = {.kernel = true, .jit = true};
    char *out;

    (void)state;
    out = collapse(sample, strlen(sample), o);
    /* what stackcollapse-perf.pl --kernel --jit prints for it, quirks
     * included: "main (/usr/bin/app (deleted))" keeps "main " and a name
     * that starts with '(' is skipped as a process name */
    assert_string_equal(out, "java;quoted:name;[libz.so.1];[unknown];a;b_[i];c_[i];"
                             "net/http.(*Client).Do;foo;main ;do_syscall_64_[k];"
                             "Interpreter_[j] 1000\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_path_matches_regex),
        cmocka_unit_test(test_expected_tidying),
    };

    return cmocka_run_group_tests_name("perfscript", tests, NULL, NULL);
}
