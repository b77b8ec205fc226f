/* wsgi: the WSGI (PEP 3333) bridge as the rest of the server sees it. No Python here: the
 * interpreter, the app and its threads live behind this interface in src/wsgi/.
 *
 * A request crosses as a C copy (struct wsgi_req_info → a task). The app runs on a pool thread
 * (or, with --threads 0, on the loop thread inside wsgi_task_pump), and its response comes back
 * through the request's exchange (exchange.h): a head, body bytes or a file, the end. */
#ifndef HTTPSD_WSGI_H
#define HTTPSD_WSGI_H

#include "body.h"
#include "buf.h"
#include "exchange.h"
#include "request.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cfg;
struct loop;
struct wsgi_task;

/* What the HTTP layer knows about a request for the app; everything is borrowed for the call
 * of wsgi_submit, which copies it (the body is stolen). */
struct wsgi_req_info {
    const struct request *req;
    struct body *body;       /* stolen: left empty */
    bool chunked;            /* the body came chunked (its length is known now) */
    bool streaming;          /* the body is still to come: wsgi_task_feed / _feed_end */
    uint64_t content_length; /* of a streaming body */
    bool https;              /* wsgi.url_scheme */
    const char *remote_addr; /* "" for UNIX sockets */
    unsigned remote_port;
    const char *local_addr; /* the listener's address: SERVER_NAME without a Host header */
    unsigned local_port;
    uint64_t conn_id;
};

/* What wsgi_task_pump reports. */
struct wsgi_progress {
    bool started; /* the head has been produced */
    bool done;    /* the response is complete: given to the exchange, ended or aborted */
};

/* Initialise Python (PyConfig, --virtualenv, --chdir, --pythonpath), import the app and start
 * --threads app threads; notifications arrive through an eventfd registered on loop. Main
 * thread, once, before serving. 0, or -1 with a one-line reason in err (the Python traceback
 * has been logged). */
int wsgi_init(const struct cfg *cfg, struct loop *loop, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* --preload, in the master before it forks: start Python and import the app (no threads, no
 * loop); wsgi_init in each forked worker then takes it over. 0, or -1 with a one-line reason
 * in err (the traceback has been logged). Main thread, once. */
int wsgi_preload(const struct cfg *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Stop the threads and finalise Python. Main thread, after the loop ended. false when an app
 * thread is still busy in the app: Python was left as it is and the process should end with
 * _exit (no atexit handlers, which could wait for that thread). */
bool wsgi_deinit(void);
/* "3.11.2": the Python this binary embeds (compile-time version). */
const char *wsgi_python_version(void);

/* Called on the loop thread when a task has new output or finished (thread mode only). */
typedef void (*wsgi_notify_cb)(void *arg);

/* Hand a request to the app. Loop thread. 0 with *out set (the caller owns one reference,
 * given back with wsgi_task_release), -EBUSY when the queue of requests waiting for a thread
 * is full (answer 503), -ENOMEM. */
int wsgi_submit(const struct wsgi_req_info *info, wsgi_notify_cb notify, void *arg,
                struct wsgi_task **out) __attribute__((warn_unused_result));
/* Give x what the app produced so far: its head (once), body bytes and a file range while x
 * has room, then the end (abort when the app failed after its head); report progress. With
 * --threads 0 this is where the app's iterable is advanced, 64 KiB at a time. Loop thread; call
 * again on the task's notification and whenever x has room. 0, or -1 when x failed or memory
 * ran out (the caller cuts the connection). */
int wsgi_task_pump(struct wsgi_task *t, struct exchange *x, struct wsgi_progress *p)
    __attribute__((warn_unused_result));
/* The body of a streaming request, as it arrives. Loop thread. 0, 1 when the app has
 * WSGI_IN_HIGH_WATER unread (stop reading until wsgi_task_input_room), or -ENOMEM. A
 * released or finished task takes nothing (the bytes are dropped). */
int wsgi_task_feed(struct wsgi_task *t, const char *p, size_t n)
    __attribute__((warn_unused_result));
/* The whole body has been fed. Loop thread. */
void wsgi_task_feed_end(struct wsgi_task *t);
/* After a feed returned 1: has the app read enough to go on? Loop thread. */
bool wsgi_task_input_room(struct wsgi_task *t);

#define WSGI_IN_HIGH_WATER (256 * 1024)
/* Bodies with a Content-Length above this stream into the app (thread mode); smaller ones,
 * and chunked ones, are read whole first. */
#define WSGI_STREAM_MIN (64 * 1024)

/* --timeout's 504: besides releasing t, raise httpsd.RequestTimeout in the app thread that is
 * running it, if one is (best effort: it takes effect at the thread's next Python bytecode, not
 * inside a blocking C call such as time.sleep). Loop thread; never blocks (a reaper thread
 * takes the GIL for it). Call before wsgi_task_release. */
void wsgi_task_interrupt(struct wsgi_task *t);
/* Drop the caller's reference. If the response is not complete the app is abandoned: its
 * output is discarded and its iterable's close() is still called. Loop thread. */
void wsgi_task_release(struct wsgi_task *t);
/* For --stats: requests waiting for a thread, threads running the app, threads in all (0s
 * without an app). Loop thread. */
void wsgi_stats(size_t *queued, size_t *busy, size_t *threads);
/* Whether the app is run by pool threads (false: --threads 0). */
bool wsgi_threaded(void);

#endif
