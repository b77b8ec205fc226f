/* py.h: what the files of src/wsgi/ share. The only header that includes Python.h (first, as
 * the C API requires), so nothing outside src/wsgi/ sees Python. */
#ifndef HTTPSD_WSGI_PY_H
#define HTTPSD_WSGI_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "wsgi.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define OUT_HIGH_WATER (256 * 1024) /* the app thread waits while this much is unsent */

/* A bytes object of the app's body, sent from its own memory (the exchange's data_ref): no
 * copy. Its reference is dropped under the GIL, in batches (pool.c, "References"). */
struct bref {
    struct buf_ref r;
    PyObject *obj;
    size_t at; /* it goes after this many bytes of its queue's buffer */
    struct bref *next;
};

/* Body output in order: bytes [0, first->at), first's bytes, bytes [first->at, second->at), …,
 * the rest of the bytes. */
struct outq {
    struct buf bytes;
    struct bref *refs, *last;
    uint64_t ref_bytes;
};

static inline uint64_t outq_size(const struct outq *q)
{
    return buf_size(&q->bytes) + q->ref_bytes;
}

/* Append b to q (it comes after q's bytes so far). */
void outq_ref(struct outq *q, struct bref *b);
/* Append what src holds to dst (src is left empty). 0 or -ENOMEM (src unchanged). */
int outq_move(struct outq *dst, struct outq *src);
/* Empty q: its references are dropped now (gil: the caller holds the GIL) or handed to the
 * next thread that does; free: its buffer's memory too. */
void outq_drop(struct outq *q, bool gil, bool free);
/* Drop the references the loop has written (GIL held). */
void pool_drop_written(void);
/* A reference to obj's bytes (a bytes object, GIL held); NULL when memory is short. */
struct bref *bref_new(PyObject *obj);

/* The app side of one response. Touched only with the GIL held, by the thread running the
 * app (a pool thread, or the loop thread with --threads 0). */
struct resp {
    PyObject *environ;
    PyObject *input;   /* wsgi.input: detached from the task when the response ends */
    PyObject *sr;      /* the StartResponse object handed to the app */
    PyObject *result;  /* what the app returned; its close() is called exactly once */
    PyObject *iter;    /* iter(result), while iterating */
    PyObject *ctx;     /* the contextvars.Context the app runs in, on whichever thread */
    struct outq stage; /* body output not yet published to the loop */
    struct buf head;   /* the app's header lines ("Name: value\r\n"; not Content-Length) */
    struct buf reason; /* the status's reason phrase as the app gave it (may be empty) */
    int status;
    int64_t content_length; /* from the app's headers, -1 when none */
    uint64_t sent;          /* body bytes framed */
    int file_fd;            /* a file body (wsgi.file_wrapper over a real file), -1 */
    off_t file_off, file_len;
    bool started_app;  /* the app has been called */
    bool sr_called;    /* start_response called (and valid) */
    bool headers_sent; /* the head is complete: published with the next publish */
    bool bodyless;
    bool finished; /* close() called, final framing done */
    bool broken;   /* cut after the headers: the connection must close */
    bool warned_long;
    bool has_server, has_date; /* the app set them: the server does not add its own */
    bool has_sts;              /* the app set Strict-Transport-Security (--hsts adds none) */
};

struct wsgi_task {
    struct xhandler xh; /* what the protocol drives (exchange.h) */
    /* Set by wsgi_start, read-only afterwards (any thread). */
    struct request req;      /* spans into strs */
    struct req_header *hdrs; /* both in the task's own allocation, after it */
    char *strs;
    struct body body;
    bool chunked, https;
    char remote_addr[64], local_addr[64];
    unsigned remote_port, local_port;
    uint64_t conn_id;
    /* Loop thread only. */
    struct exchange *x; /* woken when there is news; NULL once released */
    /* Shared, under the pool's mutex. */
    struct outq out;
    /* Output past OUT_HIGH_WATER while the client reads slower (thread mode): bytes
     * [spool_head, spool_tail) of the spool come after everything in out. The writer (the
     * thread advancing the response) appends only to out while the spool is empty. */
    struct spool spool;
    uint64_t spool_head, spool_tail;
    bool spooling; /* output goes to the spool (set when out stayed full) */
    int file_fd;
    off_t file_off, file_len;
    /* The head, once published (started): moved from r.head / r.reason, then the loop's. */
    struct buf head, reason;
    int64_t content_length;
    bool has_server, has_date, has_sts;
    bool started, done, broken;
    bool released; /* the loop dropped the request (client gone, 504): discard output */
    bool in_ready; /* on the pool's ready list */
    bool waiting;  /* the app thread waits on room (for output room or for input) */
    bool parked;   /* its iterable waits for room with no thread: resumed by take/release */
    bool resumed;  /* on the queue to continue a parked response (not counted in qlen) */
    struct wsgi_task *wprev, *wnext; /* P.waiters: a thread waits for room it could park */
    unsigned long running_on;        /* the app thread advancing it (Python's ident), or 0 */
    bool interrupted;                /* RequestTimeout was raised in that thread for it */
    struct wsgi_task *rnext;         /* the reaper's queue */
    /* A streamed request body (thread mode): bytes the loop has read and the app not yet. */
    struct buf in;
    bool streaming;      /* the body arrives while the app runs (else it is all in body) */
    bool in_eof;         /* every byte of it has arrived */
    bool want_input;     /* the loop stopped reading because in was full: wake it when drained */
    uint64_t stream_len; /* the body's Content-Length */
    /* Loop thread only: what the protocol was given. */
    struct outq taken; /* the body output being given */
    bool head_given, ended;
    int status;
    int refs;
    pthread_cond_t room;
    struct wsgi_task *next;  /* the ready list */
    struct wsgi_task *qnext; /* the work queue (a resumed task may be on both at once) */
    /* App side (GIL). */
    struct resp r;
};

/* Globals of the embedded interpreter (set once by wsgi_init). */
struct wsgi_globals {
    PyObject *app;
    bool multithread;
    size_t threads;
    PyTypeObject *input_type, *errors_type, *sr_type, *fw_type;
    PyObject *file_wrapper; /* the FileWrapper type, as wsgi.file_wrapper */
    PyObject *version;      /* (1, 0) */
    PyObject *s_http, *s_https, *s_empty, *s_proto10, *s_proto11, *s_proto2, *s_80, *s_443;
    PyObject *s_close, *s_read, *s_fileno, *s_tell, *s_write;
    PyThreadState *main_ts; /* the loop thread's, while it does not hold the GIL */
    PyObject *timeout_exc;  /* httpsd.RequestTimeout */
};
extern struct wsgi_globals W;

/* environ.c: build the environ dict for t (new reference, NULL with an exception). */
PyObject *environ_new(struct wsgi_task *t, PyObject *errors);
/* Intern environ's constant keys. 0 or -1. */
int environ_setup(void);

/* input.c: wsgi.input over t's body (borrowed until input_detach, after which reads return
 * b""), and the wsgi.errors stream. Types are set up by io_setup. */
PyObject *input_new(struct wsgi_task *t);
void input_detach(PyObject *input);
PyObject *errors_new(uint64_t conn_id);
/* Drop this thread's wsgi.errors stream (before the thread ends). */
void errors_release(void);
int io_setup(void);

/* response.c: run the app. GIL held. */
int response_setup(void);
/* Call the app for t (builds environ); frames what it can into t->r.stage. */
void response_start(struct wsgi_task *t);
/* Advance the iterable until about budget bytes are staged or the response ends (then
 * close() has been called and r.finished is set). */
void response_produce(struct wsgi_task *t, size_t budget);
/* The request was abandoned: call close() and drop every Python reference. */
void response_abandon(struct wsgi_task *t);

/* pool.c: publish t's staged output to the loop. In thread mode, while the connection has
 * OUT_HIGH_WATER unsent, wait for room (GIL released); with may_park the wait ends as soon as
 * another request needs a thread: PUB_PARK then asks the caller to leave the task (see
 * pool.c, "Parking"). PUB_RELEASED: the request was released (client gone, 504). */
enum pool_pub { PUB_OK, PUB_RELEASED, PUB_PARK };
enum pool_pub pool_publish(struct wsgi_task *t, bool may_park);

/* Start --threads app threads and the eventfd on loop (0, or -1 with err); stop them at exit
 * (true when every thread ended, so Python can be finalised). */
struct cfg;
int pool_start(const struct cfg *cfg, struct loop *loop, char *err, size_t errlen);
bool pool_stop(void);

/* Wait (GIL released) for streamed body bytes and move them into dst: 1 when some were
 * moved, 0 at the end of the body, -1 when the request was released (client gone). */
int pool_input_pull(struct wsgi_task *t, struct buf *dst);
/* The same, but copy at most max bytes straight into dst (a new bytes object's storage): the
 * count copied, 0 at the end of the body, -1 with a Python exception set. */
ssize_t pool_input_copy(struct wsgi_task *t, char *dst, size_t max);

/* embed.c: log the current Python exception (with its traceback) as one error entry, prefixed
 * by what; clears it. */
void py_log_exception(const char *what, uint64_t conn_id);

#endif
