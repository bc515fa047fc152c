/*
 * waitwork: a thread whose wall-clock time splits in known shares between
 * running and three ways of waiting. Each 100 ms round of the thread
 * "ww-worker" does, each phase ending at a fixed point of the round:
 *   spin_cpu     30 ms on the CPU            (running)
 *   nap          20 ms in nanosleep          (sleeping)
 *   wait_pipe    30 ms in read() on a pipe   (sleeping; "ww-waker" writes)
 *   wait_child   20 ms in clone(CLONE_VFORK) (blocked: the parent of a
 *                                             vfork waits uninterruptibly)
 * so that its wall time is 30% running, 50% sleeping, 20% blocked, and
 * the four functions hold 30/20/30/20 % of it.
 *
 * usage: waitwork SECONDS
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000L

static int ask[2], answer[2]; /* worker -> waker, waker -> worker */
static volatile unsigned long sink;

static long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Until the monotonic clock reads t: phases end at fixed points of each
 * round, so that what it costs to enter a phase (the fork in wait_child)
 * is that phase's time and the shares stay exact. */
static void sleep_until(long t)
{
    struct timespec ts = {t / 1000000000L, t % 1000000000L};

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
        ;
}

/* By the clock, not by a count: the share is of wall time. */
__attribute__((noinline)) void spin_cpu(long until)
{
    unsigned long x = sink;

    while (now_ns() < until) {
        for (int i = 0; i < 1000; i++)
            x = x * 2862933555777941757UL + 3037000493UL;
    }
    sink = x;
}

__attribute__((noinline)) void nap(long until)
{
    sleep_until(until);
}

/* The waker answers at the time the worker sends it. */
__attribute__((noinline)) void wait_pipe(long until)
{
    char c;

    if (write(ask[1], &until, sizeof(until)) != sizeof(until) || read(answer[0], &c, 1) != 1)
        exit(1);
}

/* clone(CLONE_VFORK) without CLONE_VM: a copy of the process, as fork
 * makes, whose parent waits uninterruptibly until it exits. Through
 * syscall(), a plain function, not vfork(), whose wrapper keeps its return
 * address in a register. */
__attribute__((noinline)) void wait_child(long until)
{
    long pid = syscall(SYS_clone, CLONE_VFORK | SIGCHLD, 0, NULL, NULL, 0);

    if (pid == 0) {
        sleep_until(until);
        _exit(0);
    }
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
}

static void *waker(void *arg)
{
    long until;
    char c = 'w';

    (void)arg;
    prctl(PR_SET_NAME, "ww-waker");
    while (read(ask[0], &until, sizeof(until)) == sizeof(until)) {
        sleep_until(until);
        if (write(answer[1], &c, 1) != 1)
            break;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3;
    long start, end;
    pthread_t t;

    if (pipe(ask) || pipe(answer) || pthread_create(&t, NULL, waker, NULL))
        return 1;
    prctl(PR_SET_NAME, "ww-worker");
    start = now_ns();
    end = start + (long)(seconds * 1e9);
    for (long round = start; round < end; round += 100 * MS) {
        spin_cpu(round + 30 * MS);
        nap(round + 50 * MS);
        wait_pipe(round + 80 * MS);
        wait_child(round + 100 * MS);
    }
    return 0;
}
