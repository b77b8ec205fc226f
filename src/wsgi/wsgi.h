/* wsgi: the WSGI (PEP 3333) bridge as the rest of the server sees it. No Python here: the
 * interpreter, the app and its threads live behind this interface in src/wsgi/.
 *
 * A request crosses as a C copy (an exchange → a task). The app runs on a pool thread (or,
 * with --threads 0, on the loop thread inside the task's pump), and its response comes back
 * through the request's exchange (exchange.h): a head, body bytes or a file, the end. The
 * protocol sees the task only as the exchange's handler. */
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

/* Answer x with the app (the router's ROUTE_APP), whatever the protocol: the request is
 * copied (in->body's bytes are taken; a streaming body is fed later; in NULL: no body), the app
 * runs on a pool thread (--threads 0: inside the handler's pump) and x->handler is set (exchange.h:
 * the protocol drives and releases it). Loop thread. 0, -EBUSY when the queue of requests waiting
 * for a thread is full (answer 503), -ENOMEM. */
int wsgi_start(struct exchange *x, const struct xin *in) __attribute__((warn_unused_result));

#define WSGI_IN_HIGH_WATER (256 * 1024) /* a streaming body's unread bytes: feed says full */
/* Bodies with a Content-Length above this stream into the app (thread mode, with
 * --no-request-buffering); smaller ones, and chunked ones, are read whole first. */
#define WSGI_STREAM_MIN (64 * 1024)

/* For --stats: requests waiting for a thread, threads running the app, threads in all (0s
 * without an app). Loop thread. */
void wsgi_stats(size_t *queued, size_t *busy, size_t *threads);
/* Whether the app is run by pool threads (false: --threads 0). */
bool wsgi_threaded(void);

#endif
