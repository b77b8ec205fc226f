/* pool: app threads, the queue of requests waiting for one, and the way back to the loop
 * (a ready list + an eventfd). With --threads 0 there are no threads: the task's pump runs the
 * app on the loop thread.
 *
 * Locking: one mutex guards the queue, the ready list and every task's shared fields. The
 * GIL is never held while waiting for that mutex's conditions.
 *
 * Parking: an app thread never waits on a client while a request needs a thread. A response
 * whose client does not read fills its output (OUT_HIGH_WATER); its thread then waits for
 * room only as long as no other request is queued. When one is, the waiting thread leaves
 * the response's iterable where it is ("parked": t->parked, no thread, its Python objects
 * untouched) and takes the queued request. When the loop takes the parked response's output
 * (the client read) or releases it (client gone, 504), the task goes back on the queue, and
 * whichever thread takes it continues the iterable (or calls its close()). Each response runs
 * in its own contextvars.Context, entered on whichever thread advances it, so context-local
 * state (Flask's request context, for one) follows the response across threads. The legacy
 * write() callable and blocking wsgi.input reads cannot park: the app's own stack is waiting
 * there.
 *
 * Spooling: before it parks (or waits), a response's output goes on into a temporary file, up
 * to --response-spool bytes per response (and half of --buffer-disk for all), so an app that
 * produces faster than its client reads finishes, and its iterable is closed (a database
 * cursor, a lock, a file), while the loop sends the rest from the file. Only a response that
 * outgrows its spool parks.
 *
 * Fair order: threads that each hold a request and take turns on the GIL convoy — a CPU-bound
 * request is cut every switch interval (5 ms) and waits out the other threads' turns, while
 * newer requests run: with 0.7 ms requests and 4 threads, p99 was twice that of --threads 0.
 * So a thread takes requests from the queue (FIFO) and runs them back to back, keeping the
 * GIL, and another thread is admitted to take one only when the GIL is likely free for it:
 * every thread already running requests either used less than a quarter of a CPU over the
 * last tick (it is blocked: a database call, sleep(), a slow client — the GIL is released) or
 * has been on its current request for LONG_REQUEST_MS (a long one: others interleave with it,
 * as the GIL allows, instead of waiting for its end). One idle thread polls that every
 * ADMIT_TICK_MS while requests wait; a request that finds no thread running is taken at once. */
#include "py.h"

#include "cfg.h"
#include "log.h"
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Admission (see "Fair order" above): what an app thread shows the idle ones. */
struct athread {
    int stat;        /* its /proc/thread-self/stat, -1 */
    clockid_t clock; /* its CPU-time clock */
    bool in_app;     /* it runs requests (or waits for the GIL to) */
    int64_t since;   /* when it took its current request (CLOCK_MONOTONIC ns) */
    int64_t sampled; /* when its CPU time was last read, 0: not since `since` */
    int64_t cpu;     /* its CPU time then */
};

static struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work;
    pthread_cond_t idle_cv;           /* a thread became idle (start-up) */
    struct wsgi_task *qhead, **qtail; /* waiting for a thread */
    size_t qlen, idle, max_queue;
    uint64_t spool_max;                    /* --response-spool; 0 with no threads */
    struct wsgi_task *ready, **ready_tail; /* with news for the loop */
    struct wsgi_task *waiters;             /* threads waiting for room they could park */
    struct loop_io io;                     /* the eventfd */
    struct loop *loop;
    pthread_t *tids;
    struct athread *th; /* per app thread: what admission looks at */
    size_t nthreads, running;
    size_t in_app;     /* threads between taking a request and going idle */
    struct bref *dead; /* written references, to be dropped under the GIL */
    uint64_t dead_bytes;
    bool polling; /* an idle thread polls admission while the queue waits */
    bool stop;
    PyInterpreterState *interp;
    /* The reaper: raises RequestTimeout in app threads for the loop, which must not wait for
     * the GIL itself. */
    pthread_t reaper;
    bool reaper_started;
    pthread_cond_t reap;
    struct wsgi_task *reap_head;
} P = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .idle_cv = PTHREAD_COND_INITIALIZER,
    .reap = PTHREAD_COND_INITIALIZER,
    .io = {.fd = -1},
};

bool wsgi_threaded(void)
{
    return P.nthreads > 0;
}

void wsgi_stats(size_t *queued, size_t *busy, size_t *threads)
{
    pthread_mutex_lock(&P.mu);
    *queued = P.qlen;
    *threads = P.nthreads;
    *busy = P.nthreads > P.idle ? P.nthreads - P.idle : 0;
    pthread_mutex_unlock(&P.mu);
}

/* ---- References ----------------------------------------------------------------------------
 * A bytes object the app returns or yields (REF_MIN bytes or more) is not copied: the task
 * queues a reference to it (struct bref, holding a Python reference), the loop writes from the
 * object's buffer (writev / SSL_write) and, once it is out — or dropped with the connection —
 * releases it. The loop never takes the GIL in thread mode, so a release only links the bref
 * onto P.dead; app threads drop those references in a batch whenever they hold the GIL (before
 * and between requests), and an idle pool wakes a thread for it when DEAD_WAKE bytes wait. With
 * --threads 0 the loop drops them at its next pump, or at once past DEAD_WAKE. */
#define DEAD_WAKE (1024 * 1024)

static void dead_drop_list(struct bref *b)
{
    while (b) {
        struct bref *next = b->next;
        Py_DECREF(b->obj);
        free(b);
        b = next;
    }
}

/* The references written meanwhile, for the caller to drop with the GIL (mutex held). */
static struct bref *take_dead_locked(void)
{
    struct bref *b = P.dead;
    P.dead = NULL;
    P.dead_bytes = 0;
    return b;
}

void pool_drop_written(void)
{
    pthread_mutex_lock(&P.mu);
    struct bref *b = take_dead_locked();
    pthread_mutex_unlock(&P.mu);
    dead_drop_list(b);
}

static void bref_release(struct buf_ref *r)
{
    struct bref *b = (struct bref *)((char *)r - offsetof(struct bref, r));
    pthread_mutex_lock(&P.mu);
    b->next = P.dead;
    P.dead = b;
    P.dead_bytes += (uint64_t)PyBytes_GET_SIZE(b->obj);
    bool wake = P.dead_bytes >= DEAD_WAKE;
    if (wake && P.nthreads && P.in_app == 0 && P.idle)
        pthread_cond_signal(&P.work); /* an idle thread drops them (wait_for_work_locked) */
    pthread_mutex_unlock(&P.mu);
    if (wake && P.nthreads == 0 && W.main_ts) { /* the loop runs Python itself: now */
        PyEval_RestoreThread(W.main_ts);
        pool_drop_written();
        W.main_ts = PyEval_SaveThread();
    }
}

struct bref *bref_new(PyObject *obj)
{
    struct bref *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    b->obj = Py_NewRef(obj);
    b->r.p = PyBytes_AS_STRING(obj);
    b->r.n = (size_t)PyBytes_GET_SIZE(obj);
    b->r.release = bref_release;
    b->at = 0;
    b->next = NULL;
    return b;
}

void outq_ref(struct outq *q, struct bref *b)
{
    b->at = buf_size(&q->bytes);
    b->next = NULL;
    if (q->last)
        q->last->next = b;
    else
        q->refs = b;
    q->last = b;
    q->ref_bytes += b->r.n;
}

int outq_move(struct outq *dst, struct outq *src)
{
    if (outq_size(dst) == 0) { /* hand the buffer over instead of copying */
        struct buf tmp = dst->bytes;
        *dst = *src;
        src->bytes = tmp;
        buf_reset(&src->bytes);
        src->refs = src->last = NULL;
        src->ref_bytes = 0;
        return 0;
    }
    size_t base = buf_size(&dst->bytes);
    if (buf_append(&dst->bytes, buf_data(&src->bytes), buf_size(&src->bytes)) < 0)
        return -ENOMEM;
    buf_reset(&src->bytes);
    for (struct bref *b = src->refs; b; b = b->next)
        b->at += base;
    if (src->refs) {
        if (dst->last)
            dst->last->next = src->refs;
        else
            dst->refs = src->refs;
        dst->last = src->last;
    }
    dst->ref_bytes += src->ref_bytes;
    src->refs = src->last = NULL;
    src->ref_bytes = 0;
    return 0;
}

void outq_drop(struct outq *q, bool gil, bool free_mem)
{
    struct bref *b = q->refs;
    q->refs = q->last = NULL;
    q->ref_bytes = 0;
    if (free_mem)
        buf_free(&q->bytes);
    else
        buf_reset(&q->bytes);
    if (gil) {
        dead_drop_list(b);
        return;
    }
    while (b) {
        struct bref *next = b->next;
        b->r.release(&b->r);
        b = next;
    }
}

/* Give x the next piece of q: its bytes when it holds no reference (the buffer is taken, not
 * copied), else the bytes before the first reference (copied), then that reference. 0 or -1. */
static int outq_give(struct outq *q, struct exchange *x)
{
    struct bref *b = q->refs;
    if (!b)
        return x->ops->data_buf(x, &q->bytes); /* leaves it empty */
    if (b->at) {
        if (x->ops->data(x, buf_data(&q->bytes), b->at) < 0)
            return -1;
        buf_consume(&q->bytes, b->at);
        for (struct bref *o = b->next; o; o = o->next)
            o->at -= b->at;
    }
    q->refs = b->next;
    if (!q->refs)
        q->last = NULL;
    q->ref_bytes -= b->r.n;
    b->next = NULL;
    return x->ops->data_ref(x, &b->r);
}

static void task_free(struct wsgi_task *t)
{
    body_free(&t->body);
    buf_free(&t->in);
    outq_drop(&t->out, false, true);
    outq_drop(&t->taken, false, true);
    buf_free(&t->head);
    buf_free(&t->reason);
    buf_free(&t->r.reason);
    spool_free(&t->spool);
    outq_drop(&t->r.stage, false, true);
    buf_free(&t->r.head);
    if (t->file_fd >= 0)
        close(t->file_fd);
    if (t->r.file_fd >= 0)
        close(t->r.file_fd);
    pthread_cond_destroy(&t->room);
    free(t); /* with its header table and strings */
}

static void unref_locked(struct wsgi_task *t, bool *last)
{
    *last = --t->refs == 0;
}

static void unref(struct wsgi_task *t)
{
    bool last;
    pthread_mutex_lock(&P.mu);
    unref_locked(t, &last);
    pthread_mutex_unlock(&P.mu);
    if (last)
        task_free(t);
}

/* Tell the loop about t (mutex held). */
static void wake_loop_locked(struct wsgi_task *t)
{
    if (t->in_ready || P.nthreads == 0)
        return;
    t->in_ready = true;
    t->refs++;
    t->next = NULL;
    bool was_empty = P.ready == NULL;
    *P.ready_tail = t;
    P.ready_tail = &t->next;
    if (was_empty) {
        uint64_t one = 1;
        if (write(P.io.fd, &one, sizeof one) < 0 && errno != EAGAIN)
            log_error("eventfd write: %s", strerror(errno));
    }
}

/* Ask one thread that waits for output room to park its response, so that its thread takes
 * the request just queued (mutex held). */
static void ask_to_park_locked(void)
{
    if (P.idle == 0 && P.waiters)
        pthread_cond_signal(&P.waiters->room);
}

static void waiters_link_locked(struct wsgi_task *t)
{
    t->wprev = NULL;
    t->wnext = P.waiters;
    if (P.waiters)
        P.waiters->wprev = t;
    P.waiters = t;
}

static void waiters_unlink_locked(struct wsgi_task *t)
{
    if (t->wprev)
        t->wprev->wnext = t->wnext;
    else
        P.waiters = t->wnext;
    if (t->wnext)
        t->wnext->wprev = t->wprev;
    t->wprev = t->wnext = NULL;
}

#define SPOOL_GRACE_MS 10    /* out stayed full this long: the client is slow, spool */
#define PUMP_MAX (64 * 1024) /* spool bytes given per take; with no threads, produced per pump */

static bool spool_empty_locked(const struct wsgi_task *t)
{
    return t->spool_head == t->spool_tail;
}

/* Whether t's spool could take more output (mutex held): it is under --response-spool (an
 * empty one starts again at 0) and the budget has room. */
static bool spool_room_locked(const struct wsgi_task *t)
{
    uint64_t used = spool_empty_locked(t) ? 0 : t->spool_tail;
    return used < P.spool_max && spool_budget_fits(1);
}

/* Whether t's output is full: the writer must wait or park (mutex held). Out is full at
 * OUT_HIGH_WATER; a spooling response's spool when it can take no more. */
static bool out_full_locked(const struct wsgi_task *t)
{
    if (spool_empty_locked(t) && outq_size(&t->out) < OUT_HIGH_WATER)
        return false;
    return !t->spooling || !spool_room_locked(t);
}

/* Out is full: let the response go on into its spool, if that has room (mutex held). True
 * when it does (out_full_locked turned false). */
static bool start_spooling_locked(struct wsgi_task *t)
{
    if (t->spooling || !spool_room_locked(t))
        return false;
    t->spooling = true;
    return true;
}

/* Put the staged output in t's spool while it is spooling; the file is written without the
 * mutex (only this thread writes it, and the loop reads below spool_tail). 0 or -errno. */
static int spool_stage(struct wsgi_task *t)
{
    struct outq *stage = &t->r.stage;
    uint64_t n = outq_size(stage);
    if (!n || !P.spool_max)
        return 0;
    pthread_mutex_lock(&P.mu);
    bool empty = spool_empty_locked(t);
    if (empty && outq_size(&t->out) < OUT_HIGH_WATER)
        t->spooling = false; /* the client caught up: memory again */
    bool to_spool = !t->released && t->spooling;
    if (to_spool && empty)
        t->spool_head = t->spool_tail = 0; /* the reader has all: start the file again */
    uint64_t at = t->spool_tail;
    pthread_mutex_unlock(&P.mu);
    if (!to_spool)
        return 0;
    if (at == 0)
        spool_rewind(&t->spool);
    /* Past the spool's limits the bytes still go there (after it they must come); the
     * writer then waits or parks until the loop has taken it all. */
    int e = 0;
    uint64_t w = at;
    size_t done = 0; /* of stage's bytes */
    for (struct bref *b = stage->refs; b && e == 0; b = b->next) {
        e = spool_write(&t->spool, w, buf_data(&stage->bytes) + done, b->at - done, true);
        w += b->at - done;
        done = b->at;
        if (e == 0)
            e = spool_write(&t->spool, w, b->r.p, b->r.n, true);
        w += b->r.n;
    }
    if (e == 0)
        e = spool_write(&t->spool, w, buf_data(&stage->bytes) + done,
                        buf_size(&stage->bytes) - done, true);
    outq_drop(stage, true, false); /* the GIL is held here */
    if (e == 0) {
        pthread_mutex_lock(&P.mu);
        t->spool_tail = at + n;
        pthread_mutex_unlock(&P.mu);
    }
    return e;
}

/* CLOCK_REALTIME ms milliseconds (under a second) from now: a pthread_cond_timedwait
 * deadline. */
static struct timespec deadline_in_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Wait on t->room (mutex held) until woken, or until the deadline when there is one. */
static void room_wait_locked(struct wsgi_task *t, const struct timespec *deadline)
{
    t->waiting = true;
    if (deadline)
        pthread_cond_timedwait(&t->room, &P.mu, deadline);
    else
        pthread_cond_wait(&t->room, &P.mu);
}

enum pool_pub pool_publish(struct wsgi_task *t, bool may_park)
{
    struct resp *r = &t->r;
    int e = spool_stage(t);
    pthread_mutex_lock(&P.mu);
    if (t->released) {
        pthread_mutex_unlock(&P.mu);
        outq_drop(&r->stage, true, false);
        return PUB_RELEASED;
    }
    if (outq_size(&r->stage) && outq_move(&t->out, &r->stage) < 0)
        e = -ENOMEM; /* the stage is dropped below, without the mutex (a __del__ may run) */
    if (r->file_fd >= 0) {
        t->file_fd = r->file_fd;
        t->file_off = r->file_off;
        t->file_len = r->file_len;
        r->file_fd = -1;
    }
    if (r->headers_sent && !t->started) { /* the head: the loop's from now on */
        struct buf tmp = t->head;
        t->head = r->head;
        r->head = tmp;
        tmp = t->reason;
        t->reason = r->reason;
        r->reason = tmp;
        t->content_length = r->content_length;
        t->has_server = r->has_server;
        t->has_date = r->has_date;
        t->has_sts = r->has_sts;
        t->status = r->status;
        t->started = true;
    }
    if (e)
        r->broken = true;
    if (r->finished || e) {
        t->done = true;
        t->broken = r->broken;
    }
    wake_loop_locked(t);
    bool wait = P.nthreads > 0 && !t->done && out_full_locked(t);
    if (wait && may_park && P.qhead) { /* a request waits for a thread: spool or park at once */
        wait = !start_spooling_locked(t);
        if (wait) {
            pthread_mutex_unlock(&P.mu);
            return PUB_PARK;
        }
    }
    pthread_mutex_unlock(&P.mu);
    if (e) {
        outq_drop(&r->stage, true, false);
        return PUB_RELEASED;
    }
    if (!wait)
        return PUB_OK;
    /* Backpressure: the client reads slower than the app writes. Wait without the GIL; past
     * SPOOL_GRACE_MS (a slow client, not a busy loop), or as soon as a request needs this
     * thread, go on into the spool if it has room, else park when a request needs the
     * thread. */
    PyThreadState *ts = PyEval_SaveThread();
    struct timespec grace = deadline_in_ms(SPOOL_GRACE_MS);
    pthread_mutex_lock(&P.mu);
    bool park = false;
    if (may_park)
        waiters_link_locked(t);
    while (!t->released && out_full_locked(t)) {
        if (may_park && P.qhead) {
            if (start_spooling_locked(t))
                break;
            park = true;
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        bool graced = now.tv_sec > grace.tv_sec ||
                      (now.tv_sec == grace.tv_sec && now.tv_nsec >= grace.tv_nsec);
        if (graced && start_spooling_locked(t))
            break;
        room_wait_locked(t, !graced && !t->spooling && P.spool_max ? &grace : NULL);
    }
    t->waiting = false;
    if (may_park)
        waiters_unlink_locked(t);
    bool released = t->released;
    pthread_mutex_unlock(&P.mu);
    PyEval_RestoreThread(ts);
    return released ? PUB_RELEASED : park ? PUB_PARK : PUB_OK;
}

#define ADMIT_TICK_MS 1    /* how often an idle thread looks whether to take a request */
#define LONG_REQUEST_MS 20 /* a request running this long lets another thread in */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* a's thread's CPU time (ns), -1 when it cannot be read. */
static int64_t cpu_ns(const struct athread *a)
{
    struct timespec ts;
    if (clock_gettime(a->clock, &ts) < 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether a's thread is on a CPU or runnable, waiting for one ("R" in its /proc stat): a
 * thread the loop or another process preempted still holds the GIL. */
static bool runnable(const struct athread *a)
{
    char b[512];
    ssize_t n = a->stat >= 0 ? pread(a->stat, b, sizeof b - 1, 0) : -1;
    if (n <= 0)
        return false;
    b[n] = 0;
    const char *paren = strrchr(b, ')'); /* "tid (comm) S ..." */
    return paren && paren[1] == ' ' && paren[2] == 'R';
}

/* May an idle thread take a queued request now (mutex held)? See "Fair order". */
static bool admit_locked(void)
{
    if (P.in_app == 0)
        return true;
    int64_t now = mono_ns();
    bool admit = true;
    for (size_t i = 0; i < P.nthreads; i++) {
        struct athread *a = &P.th[i];
        if (!a->in_app || now - a->since >= LONG_REQUEST_MS * 1000000LL)
            continue;
        int64_t cpu = cpu_ns(a);
        if (cpu < 0)
            continue;
        int64_t wall = now - a->sampled;
        if (a->sampled == 0 || wall < ADMIT_TICK_MS * 1000000LL / 2) {
            if (a->sampled == 0) {
                a->sampled = now; /* a window starts: decide at the next tick */
                a->cpu = cpu;
            }
            admit = false;
            continue;
        }
        bool busy = (cpu - a->cpu) * 4 >= wall || runnable(a);
        a->sampled = now;
        a->cpu = cpu;
        if (busy)
            admit = false;
    }
    return admit;
}

/* Wake an idle thread for the queue (mutex held): unless one already polls admission. */
static void wake_worker_locked(void)
{
    if (P.idle && !P.polling)
        pthread_cond_signal(&P.work);
}

/* Put t on the queue (mutex held): a new request (counted against --max-queue) or a parked
 * response to continue (not counted: it was accepted already). */
static void enqueue_locked(struct wsgi_task *t, bool resumed)
{
    t->resumed = resumed;
    t->qnext = NULL;
    *P.qtail = t;
    P.qtail = &t->qnext;
    if (!resumed)
        P.qlen++;
    if (P.idle)
        wake_worker_locked();
    else
        ask_to_park_locked();
}

/* A parked response can go on (its client read, or it was released): queue it for a thread
 * (mutex held). */
static void unpark_locked(struct wsgi_task *t)
{
    if (!t->parked)
        return;
    t->parked = false;
    enqueue_locked(t, true);
}

/* After run_task was told PUB_PARK and left the task's context: park t, unless room came or
 * it was released meanwhile (then the caller goes on with it). */
static bool park(struct wsgi_task *t)
{
    pthread_mutex_lock(&P.mu);
    bool parked = !t->released && out_full_locked(t);
    t->parked = parked;
    pthread_mutex_unlock(&P.mu);
    return parked;
}

/* Enter / leave the response's own contextvars.Context (GIL held). */
static void ctx_enter(struct wsgi_task *t)
{
    struct resp *r = &t->r;
    if (!r->ctx && !(r->ctx = PyContext_CopyCurrent())) {
        PyErr_Clear(); /* out of memory: run in the thread's context */
        return;
    }
    if (PyContext_Enter(r->ctx) < 0) {
        PyErr_Clear();
        Py_CLEAR(r->ctx);
    }
}

static void ctx_exit(struct wsgi_task *t, bool done)
{
    struct resp *r = &t->r;
    if (!r->ctx)
        return;
    if (PyContext_Exit(r->ctx) < 0)
        PyErr_Clear();
    if (done)
        Py_CLEAR(r->ctx);
}

/* Run t on this thread (GIL held) until its response is complete, it is released, or it
 * parks. True when it parked: the app thread's reference stays with the task, and whoever
 * unparks it queues it again. */
/* Say which thread advances t (GIL held, so the reaper sees either this or none). */
static void set_running(struct wsgi_task *t, bool on)
{
    pthread_mutex_lock(&P.mu);
    t->running_on = on ? PyThread_get_thread_ident() : 0;
    bool interrupted = t->interrupted;
    pthread_mutex_unlock(&P.mu);
    /* A RequestTimeout raised for t but not delivered (t ended in C code) must not hit the
     * next request this thread runs. */
    if (!on && interrupted)
        PyThreadState_SetAsyncExc(PyThread_get_thread_ident(), NULL);
}

static bool run_task(struct wsgi_task *t)
{
    set_running(t, true);
    ctx_enter(t);
    if (!t->r.started_app)
        response_start(t);
    for (;;) {
        enum pool_pub pub = pool_publish(t, true);
        if (t->r.finished)
            break;
        if (pub == PUB_RELEASED) { /* the client went away or got a 504 */
            response_abandon(t);
            break;
        }
        if (pub == PUB_PARK) {
            ctx_exit(t, false); /* nothing of this thread may stay in the task */
            set_running(t, false);
            if (park(t))
                return true;
            set_running(t, true);
            ctx_enter(t); /* room came meanwhile: go on here */
            continue;
        }
        /* One item at a time: a slow generator's chunks must reach the client as they come
         * (and start the response before --timeout), not when 64 KiB have piled up. The
         * publish is a mutex and at most one eventfd write until the loop has caught up. */
        response_produce(t, 1);
    }
    if (t->r.finished)
        response_abandon(t); /* frees the staging buffer; close() was called already */
    ctx_exit(t, true);
    set_running(t, false);
    return false;
}

static void *reaper_main(void *arg)
{
    (void)arg;
    PyThreadState *ts = PyThreadState_New(P.interp);
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (!P.reap_head && !P.stop)
            pthread_cond_wait(&P.reap, &P.mu);
        struct wsgi_task *t = P.reap_head;
        if (!t)
            break;
        P.reap_head = t->rnext;
        pthread_mutex_unlock(&P.mu);
        PyEval_RestoreThread(ts); /* the app thread is between bytecodes now, or not in t */
        pthread_mutex_lock(&P.mu);
        if (t->running_on && !t->done) {
            t->interrupted = true;
            PyThreadState_SetAsyncExc(t->running_on, W.timeout_exc);
        }
        pthread_mutex_unlock(&P.mu);
        ts = PyEval_SaveThread();
        unref(t);
        pthread_mutex_lock(&P.mu);
    }
    pthread_mutex_unlock(&P.mu);
    PyEval_RestoreThread(ts);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
    return NULL;
}

static inline struct wsgi_task *task_of(struct xhandler *h)
{
    return (struct wsgi_task *)((char *)h - offsetof(struct wsgi_task, xh));
}

/* --timeout's 504: raise httpsd.RequestTimeout in the app thread running t, if one is (best
 * effort: it takes effect at the thread's next Python bytecode, not inside a blocking C call
 * such as time.sleep). Never blocks: the reaper thread takes the GIL for it. */
static void task_interrupt(struct xhandler *h)
{
    struct wsgi_task *t = task_of(h);
    if (!P.reaper_started)
        return;
    pthread_mutex_lock(&P.mu);
    if (t->running_on && !t->done) {
        t->refs++; /* the reaper's, until it is done with t */
        t->rnext = P.reap_head;
        P.reap_head = t;
        pthread_cond_signal(&P.reap);
    }
    pthread_mutex_unlock(&P.mu);
}

/* Take t off the queue if it waits there for its first run (mutex held): a request whose
 * client went away must not keep its place (counted against --max-queue) until a thread
 * comes by to skip it. True when it was taken off (the queue's reference is the caller's). */
static bool dequeue_locked(struct wsgi_task *t)
{
    if (t->resumed)
        return false; /* a parked response: a thread must still call its close() */
    struct wsgi_task **pp = &P.qhead, *prev = NULL;
    while (*pp && *pp != t) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return false;
    *pp = t->qnext;
    if (P.qtail == &t->qnext)
        P.qtail = prev ? &prev->qnext : &P.qhead;
    t->qnext = NULL;
    P.qlen--;
    return true;
}

/* Take the next task off the queue (mutex held); NULL when there is none. */
static struct wsgi_task *pop_locked(void)
{
    struct wsgi_task *t = P.qhead;
    if (!t)
        return NULL;
    P.qhead = t->qnext;
    if (!P.qhead)
        P.qtail = &P.qhead;
    if (!t->resumed)
        P.qlen--;
    t->qnext = NULL;
    return t;
}

/* Wait (mutex held) until this idle thread may take a request, or the pool stops. */
static void wait_for_work_locked(void)
{
    for (;;) {
        if (P.stop || (P.qhead && admit_locked()))
            break;
        if (P.dead_bytes >= DEAD_WAKE && P.in_app == 0)
            break; /* written references to drop, and nobody running who would */
        if (!P.qhead || P.polling) {
            pthread_cond_wait(&P.work, &P.mu);
            continue;
        }
        P.polling = true; /* requests wait while threads run: look again in a tick */
        struct timespec until = deadline_in_ms(ADMIT_TICK_MS);
        pthread_cond_timedwait(&P.work, &P.mu, &until);
        P.polling = false;
    }
}

/* This thread starts on a request, or stops running them (mutex held). */
static void set_in_app_locked(struct athread *a, bool on)
{
    if (on) {
        a->since = mono_ns();
        a->sampled = 0;
    }
    if (on && !a->in_app)
        P.in_app++;
    else if (!on && a->in_app)
        P.in_app--;
    a->in_app = on;
}

static void *thread_main(void *arg)
{
    struct athread *a = arg;
    PyThreadState *ts = PyThreadState_New(P.interp);
    pthread_mutex_lock(&P.mu);
    a->stat = open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC);
    if (pthread_getcpuclockid(pthread_self(), &a->clock) != 0)
        a->clock = CLOCK_THREAD_CPUTIME_ID; /* unreadable from others: counts as blocked */
    for (;;) {
        P.idle++;
        pthread_cond_broadcast(&P.idle_cv); /* pool_start waits for the first one */
        wait_for_work_locked();
        P.idle--;
        struct wsgi_task *t = pop_locked();
        if (!t && P.stop)
            break;
        if (t) {
            set_in_app_locked(a, true);
            if (P.qhead) /* another idle thread polls for the rest */
                wake_worker_locked();
        }
        struct bref *dead = take_dead_locked();
        pthread_mutex_unlock(&P.mu);
        /* Keep the GIL while requests keep coming: one acquisition for a whole run of
         * queued requests rather than a GIL hand-off (and its futex calls) for each. */
        PyEval_RestoreThread(ts);
        dead_drop_list(dead);
        while (t) {
            bool skip; /* gone before it started: the app is not called at all */
            pthread_mutex_lock(&P.mu);
            skip = t->released && !t->resumed;
            pthread_mutex_unlock(&P.mu);
            if (skip || !run_task(t))
                unref(t);
            pthread_mutex_lock(&P.mu);
            t = pop_locked();
            set_in_app_locked(a, t != NULL);
            dead = take_dead_locked();
            pthread_mutex_unlock(&P.mu);
            dead_drop_list(dead);
        }
        ts = PyEval_SaveThread();
        pthread_mutex_lock(&P.mu);
    }
    pthread_mutex_unlock(&P.mu);
    PyEval_RestoreThread(ts);
    errors_release();
    if (a->stat >= 0) {
        close(a->stat);
        a->stat = -1;
    }
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
    pthread_mutex_lock(&P.mu);
    P.running--;
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

static void on_ready(struct loop_io *io, uint32_t events)
{
    (void)events;
    uint64_t v;
    if (read(io->fd, &v, sizeof v) < 0 && errno != EAGAIN)
        log_error("eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&P.mu);
    struct wsgi_task *list = P.ready;
    P.ready = NULL;
    P.ready_tail = &P.ready;
    pthread_mutex_unlock(&P.mu);
    while (list) {
        /* Unlink one task at a time under the lock: once its in_ready is false an app thread
         * may put it on the (new) ready list again, which rewrites its next pointer; the tasks
         * still on this detached list keep in_ready set, so theirs stay as they are. */
        pthread_mutex_lock(&P.mu);
        struct wsgi_task *t = list;
        list = t->next;
        t->next = NULL;
        t->in_ready = false;
        pthread_mutex_unlock(&P.mu);
        /* released is only set on this thread: no lock needed to read it here */
        if (!t->released && t->x)
            t->x->ops->wake(t->x);
        unref(t);
    }
}

int pool_start(const struct cfg *cfg, struct loop *loop, char *err, size_t errlen)
{
    P.interp = PyInterpreterState_Get();
    P.loop = loop;
    P.max_queue = cfg->max_queue;
    P.spool_max = cfg->threads ? cfg->response_spool : 0;
    P.qtail = &P.qhead;
    P.ready_tail = &P.ready;
    if (cfg->threads == 0)
        return 0;
    P.io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    P.io.cb = on_ready;
    if (P.io.fd < 0 || loop_add(loop, &P.io, EPOLLIN) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        return -1;
    }
    P.tids = calloc(cfg->threads, sizeof *P.tids);
    P.th = calloc(cfg->threads, sizeof *P.th);
    if (!P.tids || !P.th) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* SCHED_BATCH for the loop and (inherited) the app threads: a woken thread of ours does
     * not preempt the running one, so the loop hands over a whole batch of requests before
     * an app thread runs, and the app thread answers all of them before the loop runs again.
     * On a shared core that is ~0.2 context switches per request instead of ~2.2: hello-world
     * 60k -> 110k req/s on one pinned CPU (bench/wsgi.sh). Idle CPUs still take woken
     * threads at once; only the wake-up preemption of a busy CPU is given up. */
    struct sched_param sp = {0};
    int se = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    if (se)
        log_info("SCHED_BATCH not available (%s): app threads hand over per request", strerror(se));
    /* Signals belong to the loop thread's signalfd: app threads start with them blocked
     * (they are already blocked in this thread when the server set up its signalfd). */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 8u << 20); /* deep recursion in apps, as in python */
    for (size_t i = 0; i < cfg->threads; i++) {
        int e = pthread_create(&P.tids[i], &attr, thread_main, &P.th[i]);
        if (e) {
            snprintf(err, errlen, "cannot start app thread: %s", strerror(e));
            pthread_attr_destroy(&attr);
            return -1;
        }
        P.nthreads++;
        P.running++;
    }
    if (cfg->app_timeout_ms > 0) { /* --timeout: the reaper raises RequestTimeout */
        int e = pthread_create(&P.reaper, &attr, reaper_main, NULL);
        if (e) {
            snprintf(err, errlen, "cannot start a thread: %s", strerror(e));
            pthread_attr_destroy(&attr);
            return -1;
        }
        P.reaper_started = true;
    }
    pthread_attr_destroy(&attr);
    /* Announce nothing before every thread waits for work: a request arriving first would
     * find no idle thread, and with --max-queue 0 be answered 503 (seen in a test). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&P.mu);
    while (P.idle < P.nthreads && pthread_cond_timedwait(&P.idle_cv, &P.mu, &until) == 0)
        ;
    pthread_mutex_unlock(&P.mu);
    return 0;
}

bool pool_stop(void)
{
    pthread_mutex_lock(&P.mu);
    P.stop = true;
    pthread_cond_broadcast(&P.work);
    pthread_cond_broadcast(&P.reap);
    pthread_mutex_unlock(&P.mu);
    /* Threads still inside the app (a request cut by the graceful timeout) are given a
     * moment; past it they are left behind and Python is not finalised. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    bool all = true;
    for (size_t i = 0; i < P.nthreads; i++)
        if (pthread_timedjoin_np(P.tids[i], NULL, &until) != 0)
            all = false;
    if (P.reaper_started && pthread_timedjoin_np(P.reaper, NULL, &until) != 0)
        all = false;
    P.reaper_started = false;
    free(P.tids);
    P.tids = NULL;
    if (all) { /* a thread left behind may still look at it */
        free(P.th);
        P.th = NULL;
    }
    if (P.io.fd >= 0) {
        loop_del(P.loop, &P.io);
        close(P.io.fd);
        P.io.fd = -1;
    }
    /* Tasks still queued or ready belong to connections that are gone by now. */
    return all;
}

/* ---- the loop's side -------------------------------------------------------------------- */

static size_t span_size(struct span s)
{
    return s.p ? s.n : 0;
}

static struct span copy_span(char **w, struct span s)
{
    if (!s.p)
        return s;
    memcpy(*w, s.p, s.n);
    struct span r = {*w, s.n};
    *w += s.n;
    return r;
}

static const struct xhandler_ops task_ops;

int wsgi_start(struct exchange *x, const struct xin *in)
{
    const struct request *req = x->req;
    /* One allocation: the task, then the header table, then the bytes of every span. */
    size_t n = span_size(req->method) + span_size(req->target) + span_size(req->path) +
               span_size(req->query) + span_size(req->host) + 1;
    for (size_t i = 0; i < req->nheaders; i++)
        n += req->headers[i].name.n + req->headers[i].value.n;
    size_t table = req->nheaders * sizeof(struct req_header);
    struct wsgi_task *t = calloc(1, sizeof *t + table + n);
    if (!t)
        return -ENOMEM;
    t->hdrs = (struct req_header *)(t + 1);
    t->strs = (char *)(t + 1) + table;
    if (pthread_cond_init(&t->room, NULL) != 0) {
        free(t);
        return -ENOMEM;
    }
    char *w = t->strs;
    t->req = *req;
    t->req.method = copy_span(&w, req->method);
    t->req.target = copy_span(&w, req->target);
    t->req.path = copy_span(&w, req->path);
    t->req.query = copy_span(&w, req->query);
    t->req.host = copy_span(&w, req->host);
    for (size_t i = 0; i < req->nheaders; i++) {
        t->hdrs[i].name = copy_span(&w, req->headers[i].name);
        t->hdrs[i].value = copy_span(&w, req->headers[i].value);
    }
    t->req.headers = t->hdrs;
    static const struct xin none = {0};
    if (!in)
        in = &none;
    if (in->body) {
        t->body = *in->body;
        body_init(in->body);
    } else {
        body_init(&t->body);
    }
    t->chunked = in->chunked;
    t->streaming = in->streams;
    t->stream_len = in->streams ? in->length : 0;
    t->in_eof = !in->streams;
    const struct client *cl = x->ops->client(x);
    t->https = cl->https;
    strncpy(t->remote_addr, cl->addr, sizeof t->remote_addr - 1);
    t->remote_port = cl->port;
    if (!req->host.n) /* SERVER_NAME falls back to the listener's address: one syscall */
        x->ops->local(x, t->local_addr, sizeof t->local_addr, &t->local_port);
    t->conn_id = x->id;
    t->x = x;
    t->xh.ops = &task_ops;
    t->xh.on_loop = P.nthreads == 0;
    t->file_fd = -1;
    t->r.file_fd = -1;
    spool_init(&t->spool);
    t->refs = 1;
    if (P.nthreads > 0) {
        pthread_mutex_lock(&P.mu);
        if (P.qlen >= P.idle + P.max_queue) {
            pthread_mutex_unlock(&P.mu);
            task_free(t); /* with the body: the request is answered 503 */
            return -EBUSY;
        }
        t->refs++;
        enqueue_locked(t, false);
        pthread_mutex_unlock(&P.mu);
    }
    x->handler = &t->xh;
    return 0;
}

/* Read up to max bytes from the front of t's spool into out (mutex held, dropped while the
 * file is read: the writer only appends past spool_tail, and rewinds only when the spool is
 * empty). 0 or -errno. */
static int spool_take_locked(struct wsgi_task *t, struct buf *out, size_t max)
{
    uint64_t at = t->spool_head;
    size_t n = t->spool_tail - at < max ? (size_t)(t->spool_tail - at) : max;
    pthread_mutex_unlock(&P.mu);
    char *dst = buf_reserve(out, n, 0);
    ssize_t got = dst ? spool_read(&t->spool, at, dst, n) : -ENOMEM;
    pthread_mutex_lock(&P.mu);
    if (got < 0)
        return (int)got;
    buf_commit(out, (size_t)got);
    t->spool_head += (uint64_t)got;
    return 0;
}

/* Take the next piece of t's body (mutex held, dropped while the spool is read): its memory
 * part into t->taken, else up to max bytes of its spool, else its file (*file). 0 or -errno. */
static int take_locked(struct wsgi_task *t, size_t max, bool *file)
{
    *file = false;
    if (outq_size(&t->out)) {
        (void)outq_move(&t->taken, &t->out); /* taken is empty: a hand-over, no copy */
    } else if (!spool_empty_locked(t)) {
        int e = spool_take_locked(t, &t->taken.bytes, max);
        if (e < 0)
            return e;
    } else if (t->file_fd >= 0) {
        *file = true;
    }
    if (t->waiting)
        pthread_cond_signal(&t->room);
    if (!out_full_locked(t))
        unpark_locked(t);
    return 0;
}

/* Whether everything the app produced has been taken (mutex held). */
static bool all_taken_locked(const struct wsgi_task *t)
{
    return outq_size(&t->out) == 0 && spool_empty_locked(t) && t->file_fd < 0;
}

/* The head the app gave, for the protocol. */
static void head_of(const struct wsgi_task *t, struct response *res)
{
    response_init(res);
    res->status = t->status;
    res->reason = buf_size(&t->reason) ? buf_data(&t->reason) : NULL;
    res->reason_len = buf_size(&t->reason);
    res->lines = buf_data(&t->head);
    res->lines_len = buf_size(&t->head);
    res->content_length = t->content_length;
    res->has_server = t->has_server;
    res->has_date = t->has_date;
    res->has_sts = t->has_sts;
}

/* Give x what the app produced so far: its head (once), body bytes and a file range while x
 * has room, then the end (abort when the app failed after its head). With --threads 0 this is
 * where the app's iterable is advanced, 64 KiB at a time. */
static int task_pump(struct xhandler *h, struct exchange *x, struct xprogress *p)
{
    struct wsgi_task *t = task_of(h);
    if (P.nthreads == 0 && !t->done && outq_size(&t->out) < PUMP_MAX && x->ops->room(x)) {
        PyEval_RestoreThread(W.main_ts);
        pool_drop_written();
        ctx_enter(t); /* responses interleave on this thread: each in its own context */
        if (!t->r.started_app)
            response_start(t);
        if (!t->r.finished)
            response_produce(t, PUMP_MAX);
        (void)pool_publish(t, false); /* no threads: never waits */
        if (t->r.finished)
            response_abandon(t); /* frees the staging buffer */
        ctx_exit(t, t->r.finished);
        W.main_ts = PyEval_SaveThread();
    }
    /* One turn of the mutex per piece: the head's state, the next piece of the body, and
     * whether that was the last. */
    int e = 0;
    bool done = false, broken = false, more = x->ops->room(x);
    while (e == 0) {
        bool file = false;
        pthread_mutex_lock(&P.mu);
        bool started = t->started;
        if (started && more && outq_size(&t->taken) == 0)
            e = take_locked(t, PUMP_MAX, &file);
        bool all = t->done && all_taken_locked(t) && !file;
        done = all && outq_size(&t->taken) == 0;
        broken = t->broken;
        p->started = started;
        pthread_mutex_unlock(&P.mu);
        if (e < 0 || !started)
            break;
        if (!t->head_given) { /* t->head is the loop's once started */
            t->head_given = true;
            struct response res;
            head_of(t, &res);
            if (x->ops->head(x, &res) < 0)
                return -1;
        }
        if (outq_size(&t->taken)) {
            if (!more)
                break; /* what is left of it waits for room */
            e = outq_give(&t->taken, x);
            done = all && outq_size(&t->taken) == 0;
        } else if (file) { /* its fd is ours again once the protocol has it (it dups) */
            e = x->ops->file(x, t->file_fd, t->file_off, (uint64_t)t->file_len);
            pthread_mutex_lock(&P.mu);
            close(t->file_fd);
            t->file_fd = -1;
            done = t->done && all_taken_locked(t);
            pthread_mutex_unlock(&P.mu);
        } else {
            break; /* nothing more for now */
        }
        if (done || !(more = x->ops->room(x)))
            break;
    }
    if (e < 0)
        return -1;
    /* The end goes after everything given, so only when there is room (a chunked body's last
     * chunk must not pass a file range still going out). */
    if (done && !t->ended && (broken || x->ops->room(x))) {
        t->ended = true;
        if (broken)
            x->ops->abort(x, "the app failed after its response had started");
        else if (x->ops->end(x) < 0)
            return -1;
    }
    p->done = t->ended;
    return 0;
}

/* A released or finished task takes nothing (the bytes are dropped). */
static int task_feed(struct xhandler *h, const char *p, size_t n)
{
    struct wsgi_task *t = task_of(h);
    int r = 0;
    pthread_mutex_lock(&P.mu);
    if (!t->released && !t->done) {
        if (buf_append(&t->in, p, n) < 0)
            r = -ENOMEM;
        else if (buf_size(&t->in) >= WSGI_IN_HIGH_WATER)
            r = 1;
        t->want_input = r == 1;
        if (t->waiting)
            pthread_cond_signal(&t->room);
    }
    pthread_mutex_unlock(&P.mu);
    return r;
}

static void task_feed_end(struct xhandler *h)
{
    struct wsgi_task *t = task_of(h);
    pthread_mutex_lock(&P.mu);
    t->in_eof = true;
    if (t->waiting)
        pthread_cond_signal(&t->room);
    pthread_mutex_unlock(&P.mu);
}

static bool task_input_room(struct xhandler *h)
{
    struct wsgi_task *t = task_of(h);
    pthread_mutex_lock(&P.mu);
    bool room = t->done || buf_size(&t->in) < WSGI_IN_HIGH_WATER;
    if (room)
        t->want_input = false;
    pthread_mutex_unlock(&P.mu);
    return room;
}

/* Wait (P.mu held, the GIL not) for streamed body bytes: 1 when t->in has some, 0 at the end of
 * the body, -1 when the request was released. */
static int input_wait_locked(struct wsgi_task *t)
{
    while (!t->released && !t->in_eof && buf_size(&t->in) == 0) {
        t->waiting = true;
        pthread_cond_wait(&t->room, &P.mu);
    }
    t->waiting = false;
    return t->released ? -1 : buf_size(&t->in) ? 1 : 0;
}

/* After input_wait_locked's caller took the GIL back: the exception for a negative result. */
static void input_error(int r)
{
    if (r == -2)
        PyErr_NoMemory();
    else if (r < 0)
        PyErr_SetString(PyExc_OSError, "client disconnected while sending the request body");
}

ssize_t pool_input_copy(struct wsgi_task *t, char *dst, size_t max)
{
    PyThreadState *ts = PyEval_SaveThread();
    pthread_mutex_lock(&P.mu);
    int r = input_wait_locked(t);
    size_t n = 0;
    if (r == 1) {
        n = buf_size(&t->in) < max ? buf_size(&t->in) : max;
        memcpy(dst, buf_data(&t->in), n);
        buf_consume(&t->in, n);
        if (t->want_input) /* the loop stopped reading for this room: tell it */
            wake_loop_locked(t);
    }
    pthread_mutex_unlock(&P.mu);
    PyEval_RestoreThread(ts);
    input_error(r);
    return r < 0 ? -1 : (ssize_t)n;
}

int pool_input_pull(struct wsgi_task *t, struct buf *dst)
{
    PyThreadState *ts = PyEval_SaveThread();
    pthread_mutex_lock(&P.mu);
    int r = input_wait_locked(t);
    if (r == 1) {
        if (buf_size(dst) == 0) {
            struct buf tmp = *dst;
            *dst = t->in;
            t->in = tmp;
            buf_reset(&t->in);
        } else if (buf_append(dst, buf_data(&t->in), buf_size(&t->in)) == 0) {
            buf_reset(&t->in);
        } else {
            r = -2;
        }
        if (t->want_input) /* the loop stopped reading for this room: tell it */
            wake_loop_locked(t);
    }
    pthread_mutex_unlock(&P.mu);
    PyEval_RestoreThread(ts);
    input_error(r);
    return r < 0 ? -1 : r;
}

/* If the response is not complete the app is abandoned: its output is discarded and its
 * iterable's close() is still called. */
static void task_release(struct xhandler *h)
{
    struct wsgi_task *t = task_of(h);
    if (P.nthreads == 0 && t->r.started_app && !t->r.finished) {
        PyEval_RestoreThread(W.main_ts);
        ctx_enter(t);
        response_abandon(t); /* close() on this thread, now */
        ctx_exit(t, true);
        W.main_ts = PyEval_SaveThread();
    }
    bool last;
    pthread_mutex_lock(&P.mu);
    t->released = true;
    t->x = NULL;
    if (t->waiting)
        pthread_cond_signal(&t->room);
    unpark_locked(t);      /* a thread calls its close() */
    if (dequeue_locked(t)) /* never started: it gives its place in the queue back now */
        unref_locked(t, &last);
    unref_locked(t, &last);
    pthread_mutex_unlock(&P.mu);
    if (last)
        task_free(t);
}

static const struct xhandler_ops task_ops = {
    .pump = task_pump,
    .feed = task_feed,
    .feed_end = task_feed_end,
    .input_room = task_input_room,
    .interrupt = task_interrupt,
    .release = task_release,
};
