#include "loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

void loop_update_time(struct loop *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    l->now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int loop_init(struct loop *l)
{
    memset(l, 0, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return -errno;
    l->tasks_tail = &l->tasks;
    loop_update_time(l);
    return 0;
}

void loop_deinit(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
}

static int ctl(struct loop *l, int op, struct loop_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(l->epfd, op, io->fd, &ev) < 0 ? -errno : 0;
}

int loop_add(struct loop *l, struct loop_io *io, uint32_t events)
{
    return ctl(l, EPOLL_CTL_ADD, io, events);
}

int loop_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
    return ctl(l, EPOLL_CTL_MOD, io, events);
}

void loop_del(struct loop *l, struct loop_io *io)
{
    (void)ctl(l, EPOLL_CTL_DEL, io, 0);
}

int loop_timer_list(struct loop *l, int64_t timeout_ms)
{
    if (l->nlists == LOOP_MAX_TIMER_LISTS)
        return -1;
    struct timer_list *tl = &l->lists[l->nlists];
    tl->head.next = tl->head.prev = &tl->head;
    tl->timeout_ms = timeout_ms;
    return l->nlists++;
}

void timer_cancel(struct timer *t)
{
    if (!t->next)
        return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

void loop_timer_arm(struct loop *l, struct timer *t, int list)
{
    struct timer_list *tl = &l->lists[list];
    timer_cancel(t);
    t->deadline = l->now + tl->timeout_ms;
    t->prev = tl->head.prev;
    t->next = &tl->head;
    tl->head.prev->next = t;
    tl->head.prev = t;
}

void loop_defer(struct loop *l, struct loop_task *t)
{
    if (t->queued)
        return;
    t->queued = true;
    t->next = NULL;
    *l->tasks_tail = t;
    l->tasks_tail = &t->next;
}

static int next_timeout(struct loop *l)
{
    if (l->tasks)
        return 0;
    int64_t earliest = -1;
    for (int i = 0; i < l->nlists; i++) {
        struct timer *first = l->lists[i].head.next;
        if (first != &l->lists[i].head && (earliest < 0 || first->deadline < earliest))
            earliest = first->deadline;
    }
    if (earliest < 0)
        return -1;
    int64_t d = earliest - l->now;
    if (d <= 0)
        return 0;
    return d > 60000 ? 60000 : (int)d;
}

static void run_timers(struct loop *l)
{
    for (int i = 0; i < l->nlists; i++) {
        struct timer *head = &l->lists[i].head;
        while (head->next != head && head->next->deadline <= l->now) {
            struct timer *t = head->next;
            timer_cancel(t);
            t->cb(t);
        }
    }
}

static void run_tasks(struct loop *l)
{
    /* Only the tasks queued before this point run now; new ones wait for the next turn, so a
     * task that re-queues itself cannot starve the event loop. */
    struct loop_task *t = l->tasks;
    l->tasks = NULL;
    l->tasks_tail = &l->tasks;
    while (t) {
        struct loop_task *next = t->next;
        t->queued = false;
        t->next = NULL;
        t->cb(t);
        t = next;
    }
}

int loop_run(struct loop *l)
{
    struct epoll_event events[256];
    while (!l->stop) {
        int n = epoll_wait(l->epfd, events, 256, next_timeout(l));
        if (n < 0 && errno != EINTR)
            return -errno;
        loop_update_time(l);
        for (int i = 0; i < n; i++) {
            struct loop_io *io = events[i].data.ptr;
            io->cb(io, events[i].events);
        }
        run_timers(l);
        run_tasks(l);
        if (l->on_turn)
            l->on_turn(l->on_turn_arg);
    }
    return 0;
}
