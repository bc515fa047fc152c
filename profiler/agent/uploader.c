/*
 * The agent's uploaders: spooled objects to the target, with exponential
 * backoff and jitter on failure, until drained or out of time at a stop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/clock.h"
#include "profiler/agent/state.h"

#define BACKOFF_MIN_NS 1000000000LL
#define BACKOFF_MAX_NS (60 * 1000000000LL)

/* Sleeps until t or a wake-up; with the lock held. */
static void wait_until(struct agent *ag, int64_t t)
{
    struct timespec ts;
    int64_t now = mono_ns();

    if (t <= now)
        return;
    if (t > now + 500000000LL)
        t = now + 500000000LL; /* a second SIGTERM must not wait for a long backoff */
    /* the condition variable runs on CLOCK_MONOTONIC (see agent_init) */
    ts.tv_sec = t / 1000000000LL;
    ts.tv_nsec = t % 1000000000LL;
    pthread_cond_timedwait(&ag->wake, &ag->lock, &ts);
}

static int upload_item(struct agent *ag, const struct spool_item *it, char *err, size_t errlen)
{
    char ikey[1600];
    size_t klen = strlen(it->key);
    int rc;

    rc =
        bucket_put(ag->target, it->key, it->data, it->len, "application/octet-stream", err, errlen);
    if (rc || !*it->index)
        return rc; /* a finding's files have no index line */
    /* the index line next to its object: KEY.pb.gz -> KEY.json */
    snprintf(ikey, sizeof(ikey), "%.*s.json",
             (int)(klen > 6 && !strcmp(it->key + klen - 6, ".pb.gz") ? klen - 6 : klen), it->key);
    {
        size_t ilen = strlen(it->index);
        char *body = malloc(ilen + 2);

        if (!body) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        memcpy(body, it->index, ilen);
        body[ilen] = '\n';
        rc = bucket_put(ag->target, ikey, body, ilen + 1, "application/json", err, errlen);
        free(body);
    }
    return rc;
}

/* Exponential backoff with jitter, after failures in a row: many nodes
 * must not retry in step. */
static int64_t backoff_ns(unsigned failures)
{
    int64_t delay = BACKOFF_MIN_NS << (failures < 6 ? failures : 6);

    if (delay > BACKOFF_MAX_NS)
        delay = BACKOFF_MAX_NS;
    return delay / 2 + (int64_t)((double)rand() / RAND_MAX * ((double)delay / 2));
}

void agent_wake(struct agent *ag)
{
    pthread_mutex_lock(&ag->lock);
    pthread_cond_broadcast(&ag->wake);
    pthread_mutex_unlock(&ag->lock);
}

void *agent_uploader(void *arg)
{
    struct agent *ag = arg;
    char err[1024];

    pthread_mutex_lock(&ag->lock);
    for (;;) {
        struct spool_item it;
        int64_t now = mono_ns();
        int rc;

        if (ag->stopping && (now >= ag->deadline_ns || *ag->c->stop_count > 1))
            break; /* out of time, or told twice */
        if (now < ag->next_try_ns) {
            wait_until(ag, ag->stopping && ag->deadline_ns < ag->next_try_ns ? ag->deadline_ns
                                                                             : ag->next_try_ns);
            continue;
        }
        rc = spool_take(ag->spool, &it, err, sizeof(err));
        if (rc == -ENOENT) {
            if (ag->stopping && !ag->in_flight)
                break; /* drained */
            wait_until(ag, ag->stopping ? ag->deadline_ns : now + 1000000000LL);
            continue;
        }
        if (rc) {
            wait_until(ag, now + 1000000000LL);
            continue;
        }
        ag->in_flight++;
        pthread_mutex_unlock(&ag->lock);

        rc = upload_item(ag, &it, err, sizeof(err));
        if (!rc) {
            atomic_fetch_add(&ag->m.objects, 1);
            atomic_fetch_add(&ag->m.upload_bytes, it.len);
            atomic_store(&ag->m.last_upload_s, realtime_ns() / 1000000000LL);
            spool_done(ag->spool, &it);
        } else {
            atomic_fetch_add(&ag->m.upload_failures, 1);
            spool_release(ag->spool, &it);
        }

        pthread_mutex_lock(&ag->lock);
        ag->in_flight--;
        if (!rc) {
            if (ag->failures_run)
                fprintf(ag->log, "podflame: uploads work again after %u failure%s\n",
                        ag->failures_run, ag->failures_run == 1 ? "" : "s");
            ag->failures_run = 0;
            ag->next_try_ns = 0;
        } else {
            int64_t delay = backoff_ns(ag->failures_run);

            ag->failures_run++;
            ag->next_try_ns = mono_ns() + delay;
            fprintf(ag->log, "podflame: upload failed (%u in a row): %s; retrying in %.1f s\n",
                    ag->failures_run, err, delay / 1e9);
            snprintf(ag->last_error, sizeof(ag->last_error), "%s", err);
        }
        pthread_cond_broadcast(&ag->wake);
    }
    pthread_mutex_unlock(&ag->lock);
    return NULL;
}
