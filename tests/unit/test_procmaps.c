/* Unit tests: symbolize/procmaps.c and profiler/cgroups.c's mount finder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "profiler/kube/cgroups.h"
#include "symbolize/procmaps.h"

/* A child in a chroot: a container's root as /proc/PID/root shows it. In
 * the root, a regular file and two symlinks that lead out of it (an
 * absolute one to a file that exists only on the host, and ../). */
static void test_open_in_root_stays_inside(void **state)
{
    char dir[] = "/tmp/podflame-root.XXXXXX", root[128], path[256], secret[160], buf[16];
    pid_t child;
    int fd, go[2];
    ssize_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(root, sizeof(root), "%s/root", dir);
    snprintf(secret, sizeof(secret), "%s/secret", dir);
    assert_int_equal(mkdir(root, 0755), 0);
    fd = open(secret, O_WRONLY | O_CREAT, 0600);
    assert_int_equal(write(fd, "host", 4), 4);
    close(fd);
    snprintf(path, sizeof(path), "%s/inside", root);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_int_equal(write(fd, "in", 2), 2);
    close(fd);
    snprintf(path, sizeof(path), "%s/abs", root);
    assert_int_equal(symlink(secret, path), 0);
    snprintf(path, sizeof(path), "%s/rel", root);
    assert_int_equal(symlink("../secret", path), 0);
    assert_int_equal(pipe(go), 0);
    child = fork();
    if (child == 0) {
        char c;

        close(go[1]);
        if (chroot(root) || chdir("/"))
            _exit(1);
        n = read(go[0], &c, 1); /* until the parent is done */
        _exit(n < 0);
    }
    close(go[0]);
    /* wait for the chroot */
    for (int i = 0; i < 200; i++) {
        char link[64], target[256];
        ssize_t len;

        snprintf(link, sizeof(link), "/proc/%d/root", (int)child);
        len = readlink(link, target, sizeof(target) - 1);
        if (len > 0 && (target[len] = '\0', !strcmp(target, root)))
            break;
        usleep(10000);
    }
    fd = procmaps_open_in_root(child, "/inside");
    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf));
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "in", 2);
    close(fd);
    /* the naive path follows the absolute symlink to the host's file... */
    snprintf(path, sizeof(path), "/proc/%d/root/abs", (int)child);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    close(fd);
    /* ...the confined open does not, nor ../ */
    assert_true(procmaps_open_in_root(child, "/abs") < 0);
    assert_true(procmaps_open_in_root(child, "/rel") < 0);
    assert_true(procmaps_open_in_root(child, "/../secret") < 0);
    close(go[1]);
    waitpid(child, NULL, 0);
    /* a process that is gone */
    assert_int_equal(procmaps_open_in_root(child, "/inside"), -ESRCH);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

/* A file opened by path must be the inode that was mapped. */
static void test_open_file_refuses_replaced_binary(void **state)
{
    char path[] = "/tmp/podflame-replaced.XXXXXX", newer[64];
    struct stat st;
    struct vma v = {0};
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    /* no such mapping: map_files fails and the path is used */
    v.start = 0x1000;
    v.end = 0x2000;
    v.inode = (uint64_t)st.st_ino;
    v.path = path;
    fd = procmaps_open_file(getpid(), &v);
    assert_true(fd >= 0);
    close(fd);
    snprintf(newer, sizeof(newer), "%s.new", path);
    fd = open(newer, O_WRONLY | O_CREAT, 0644);
    close(fd);
    assert_int_equal(rename(newer, path), 0);
    assert_int_equal(procmaps_open_file(getpid(), &v), -ESTALE);
    unlink(path);
    assert_int_equal(procmaps_open_file(getpid(), &v), -ENOENT);
}

static void test_parse_file_mapping(void **state)
{
    struct vma v;

    (void)state;
    assert_int_equal(
        procmaps_parse_line("7f1c2a400000-7f1c2a5d5000 r-xp 00028000 fd:01 1835099"
                            "                    /usr/lib/x86_64-linux-gnu/libc.so.6\n",
                            &v),
        0);
    assert_int_equal(v.start, 0x7f1c2a400000ULL);
    assert_int_equal(v.end, 0x7f1c2a5d5000ULL);
    assert_int_equal(v.offset, 0x28000);
    assert_int_equal(v.dev_major, 0xfd);
    assert_int_equal(v.dev_minor, 1);
    assert_int_equal(v.inode, 1835099);
    assert_string_equal(v.perms, "r-xp");
    assert_string_equal(v.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    assert_false(v.deleted);
    free(v.path);
}

static void test_parse_special_paths(void **state)
{
    struct vma v;

    (void)state;
    assert_int_equal(procmaps_parse_line("7ffd1000-7ffd3000 r-xp 00000000 00:00 0  [vdso]", &v), 0);
    assert_string_equal(v.path, "[vdso]");
    free(v.path);
    assert_int_equal(procmaps_parse_line("1000-2000 rw-p 00000000 00:00 0", &v), 0);
    assert_string_equal(v.path, "");
    free(v.path);
    assert_int_equal(
        procmaps_parse_line("1000-2000 r-xp 00001000 08:02 77 /opt/my app/bin x (deleted)\n", &v),
        0);
    assert_string_equal(v.path, "/opt/my app/bin x");
    assert_true(v.deleted);
    free(v.path);
}

static void test_parse_malformed(void **state)
{
    struct vma v;

    (void)state;
    assert_int_equal(procmaps_parse_line("", &v), -EINVAL);
    assert_int_equal(procmaps_parse_line("garbage", &v), -EINVAL);
    assert_int_equal(procmaps_parse_line("2000-1000 r-xp 0 08:02 77 /x", &v), -EINVAL);
    assert_int_equal(procmaps_parse_line("1000-2000 r-xp zz 08:02 77 /x", &v), -EINVAL);
    assert_int_equal(procmaps_parse_line("1000-2000 r-x 0 08:02 77 /x", &v), -EINVAL);
}

static void test_read_stream_keeps_exec_only(void **state)
{
    const char *text = "400000-401000 r--p 00000000 08:01 5 /bin/x\n"
                       "401000-402000 r-xp 00001000 08:01 5 /bin/x\n"
                       "7f0000-7f1000 r-xp 00000000 00:00 0 [vdso]\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    struct vma *v;
    size_t n, bad = 0;

    (void)state;
    assert_int_equal(procmaps_read_stream(f, &v, &n, &bad), 0);
    fclose(f);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].start, 0x401000);
    assert_ptr_equal(procmaps_find(v, n, 0x401fff), &v[0]);
    assert_null(procmaps_find(v, n, 0x402000));
    assert_ptr_equal(procmaps_find(v, n, 0x7f0000), &v[1]);
    assert_null(procmaps_find(v, n, 0x3fffff));
    procmaps_free(v, n);

    text = "401000-402000 r-xp 00001000 08:01 5 /bin/x\nthis is not maps\n";
    f = fmemopen((void *)text, strlen(text), "r");
    assert_int_equal(procmaps_read_stream(f, &v, &n, &bad), -EINVAL);
    assert_int_equal(bad, 2);
    fclose(f);
}

static void test_read_self(void **state)
{
    struct vma *v;
    size_t n;
    const struct vma *m;

    (void)state;
    assert_int_equal(procmaps_read(getpid(), &v, &n), 0);
    m = procmaps_find(v, n, (uint64_t)(uintptr_t)&test_read_self);
    assert_non_null(m);
    assert_true(strstr(m->path, "test_procmaps") != NULL);
    procmaps_free(v, n);
    assert_int_equal(procmaps_read(0x7ffffff0, &v, &n), -ESRCH);
}

static void test_cgroup2_mount_hybrid_and_pure(void **state)
{
    const char *hybrid =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
    const char *pure = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n";
    const char *none = "22 1 0:5 / /proc rw - proc proc rw\n";
    char buf[256];
    FILE *f;

    (void)state;
    f = fmemopen((void *)hybrid, strlen(hybrid), "r");
    assert_int_equal(cgroups_find_mount(f, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/sys/fs/cgroup/unified");
    fclose(f);
    f = fmemopen((void *)pure, strlen(pure), "r");
    assert_int_equal(cgroups_find_mount(f, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/sys/fs/cgroup");
    fclose(f);
    f = fmemopen((void *)none, strlen(none), "r");
    assert_int_equal(cgroups_find_mount(f, buf, sizeof(buf)), -ENOENT);
    fclose(f);
}

static void test_cgroup_root_id_and_path(void **state)
{
    struct cgroups *cg;
    uint64_t id;

    (void)state;
    if (cgroups_open(&cg)) {
        /* a machine without cgroup2 is a failure of this test's premise */
        fail_msg("no cgroup2 mount on this machine");
    }
    assert_int_equal(cgroups_id(cg, "/", &id), 0);
    assert_string_equal(cgroups_path(cg, id), "/");
    assert_int_equal(cgroups_id(cg, cgroups_mount(cg), &id), 0);
    assert_int_equal(cgroups_id(cg, "no/such/cgroup", &id), -ENOENT);
    assert_int_equal(cgroups_id(cg, "/proc/self", &id), -ENOENT);
    assert_null(cgroups_path(cg, 0xfffffffffffULL));
    cgroups_close(cg);
}

static char test_cgroup_dir[4096];

/* Removes the test's cgroup even when an assertion failed first. */
static int remove_test_cgroup(void **state)
{
    (void)state;
    if (test_cgroup_dir[0])
        rmdir(test_cgroup_dir);
    return 0;
}

/* A removed cgroup keeps its path for the grace period, then is forgotten. */
static void test_cgroup_forgotten_after_removal(void **state)
{
    char *dir = test_cgroup_dir, rel[64];
    struct cgroups *cg;
    uint64_t id, root;

    (void)state;
    if (cgroups_open(&cg))
        fail_msg("no cgroup2 mount on this machine");
    snprintf(rel, sizeof(rel), "/podflame-unit-%d", (int)getpid());
    snprintf(dir, sizeof(test_cgroup_dir), "%s%s", cgroups_mount(cg), rel);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(cgroups_id(cg, rel, &id), 0);
    assert_int_equal(cgroups_id(cg, "/", &root), 0);
    assert_string_equal(cgroups_path(cg, id), rel);
    assert_int_equal(rmdir(dir), 0);
    /* a miss forces a walk that no longer sees it: still named */
    assert_null(cgroups_path(cg, 0xffffffffff0ULL));
    assert_string_equal(cgroups_path(cg, id), rel);
    assert_int_equal(cgroups_forgotten(cg), 0);
    cgroups_set_forget_after(cg, 0);
    assert_null(cgroups_path(cg, 0xffffffffff1ULL));
    /* the removed cgroup and the first cached miss are forgotten (the second
     * miss is cached after the walk that forgot them); the root stays */
    assert_int_equal(cgroups_forgotten(cg), 2);
    assert_string_equal(cgroups_path(cg, root), "/");
    assert_null(cgroups_path(cg, id));
    cgroups_close(cg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_file_mapping),
        cmocka_unit_test(test_parse_special_paths),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_read_stream_keeps_exec_only),
        cmocka_unit_test(test_read_self),
        cmocka_unit_test(test_open_in_root_stays_inside),
        cmocka_unit_test(test_open_file_refuses_replaced_binary),
        cmocka_unit_test(test_cgroup2_mount_hybrid_and_pure),
        cmocka_unit_test(test_cgroup_root_id_and_path),
        cmocka_unit_test_teardown(test_cgroup_forgotten_after_removal, remove_test_cgroup),
    };

    return cmocka_run_group_tests_name("procmaps", tests, NULL, NULL);
}
