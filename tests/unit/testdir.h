/*
 * testdir: a scratch directory for a unit test, under /tmp, and its
 * removal. The tests that write files share these two instead of each
 * keeping its own copy.
 */
#ifndef PODFLAME_TESTDIR_H
#define PODFLAME_TESTDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new empty directory /tmp/podflame-unit-NAME.XXXXXX; free the path. */
static inline char *test_dir_new(const char *name)
{
    char tmpl[256];

    snprintf(tmpl, sizeof(tmpl), "/tmp/podflame-unit-%s.XXXXXX", name);
    assert_non_null(mkdtemp(tmpl));
    return strdup(tmpl);
}

/* Removes dir and all it holds. */
static inline void test_dir_remove(const char *dir)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#endif
