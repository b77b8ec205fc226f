/* loop: one epoll event loop per worker, with O(1) timers and deferred tasks.
 * Everything here runs on the loop's own thread; nothing is thread-safe. */
#ifndef HTTPSD_LOOP_H
#define HTTPSD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_io;
struct timer;
struct loop_task;

typedef void (*loop_io_cb)(struct loop_io *io, uint32_t events);
typedef void (*timer_cb)(struct timer *t);
typedef void (*loop_task_cb)(struct loop_task *t);

/* A file descriptor watched by the loop; embed it and recover the owner with container_of. */
struct loop_io {
    int fd;
    loop_io_cb cb;
};

/* A deadline on one of the loop's timer lists. Every list has one fixed timeout, so arming
 * appends at the tail and each list stays sorted: arm, re-arm and cancel are O(1). */
struct timer {
    struct timer *prev, *next; /* NULL when not armed */
    int64_t deadline;          /* monotonic ms */
    timer_cb cb;
};

/* Work to run after the current batch of events (e.g. freeing a connection, or continuing a
 * transfer that yielded for fairness). */
struct loop_task {
    struct loop_task *next;
    loop_task_cb cb;
    bool queued;
};

#define LOOP_MAX_TIMER_LISTS 16

struct timer_list {
    struct timer head; /* sentinel of a circular list */
    int64_t timeout_ms;
};

struct loop {
    int epfd;
    bool stop;
    int64_t now; /* monotonic ms, refreshed after every wait */
    struct timer_list lists[LOOP_MAX_TIMER_LISTS];
    int nlists;
    struct loop_task *tasks, **tasks_tail;
    void (*on_turn)(void *arg); /* called once per turn, after timers and tasks */
    void *on_turn_arg;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* 0 or -errno. */
int loop_init(struct loop *l) __attribute__((warn_unused_result));
void loop_deinit(struct loop *l);
/* Register/modify/remove io->fd for events (EPOLLIN, EPOLLOUT, EPOLLET…). 0 or -errno. */
int loop_add(struct loop *l, struct loop_io *io, uint32_t events)
    __attribute__((warn_unused_result));
int loop_mod(struct loop *l, struct loop_io *io, uint32_t events)
    __attribute__((warn_unused_result));
void loop_del(struct loop *l, struct loop_io *io);
/* Create a timer list with a fixed timeout; returns its index. */
int loop_timer_list(struct loop *l, int64_t timeout_ms);
/* (Re-)arm t on list: deadline = now + the list's timeout. */
void loop_timer_arm(struct loop *l, struct timer *t, int list);
void timer_cancel(struct timer *t);
static inline bool timer_is_armed(const struct timer *t)
{
    return t->next != 0;
}
/* Queue t to run after this turn's events; a queued task is not queued twice. */
void loop_defer(struct loop *l, struct loop_task *t);
/* Refresh l->now. */
void loop_update_time(struct loop *l);
/* Run until l->stop. 0 or -errno from epoll_wait. */
int loop_run(struct loop *l);

#include <stddef.h>

#endif
