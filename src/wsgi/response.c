/* response: calling the app — start_response, write, iterating the result, wsgi.file_wrapper,
 * and the error paths. What it produces is protocol-neutral: a head (status, reason, the app's
 * header lines, the body's length when known) and the body's bytes; the protocol frames them
 * (exchange.h). Everything here runs with the GIL held. */
#include "py.h"

#include "chars.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FW_DEFAULT_BLKSIZE 8192

/* ---- start_response -------------------------------------------------------------------- */

struct sr {
    PyObject_HEAD struct wsgi_task *t; /* borrowed; NULL once the response ended */
};

static PyObject *sr_write(PyObject *self, PyObject *data);
static PyMethodDef write_def = {"write", sr_write, METH_O, "write(bytes): the imperative API"};

/* Room left in front of a response's first body bytes: the protocol may put its head there
 * and send both from one buffer (exchange.h, data_buf) instead of copying the body. */
#define STAGE_HEADROOM 1024

static int stage(struct wsgi_task *t, const void *p, size_t n)
{
    struct buf *b = &t->r.stage.bytes;
    if ((buf_size(b) == 0 && buf_headroom(b, STAGE_HEADROOM, n) < 0) || buf_append(b, p, n) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The hot path formats without printf: these append pieces to b. Errors accumulate in the
 * return value (non-zero on ENOMEM). */
static int put(struct buf *b, const char *p, size_t n)
{
    return buf_append(b, p, n) ? 1 : 0;
}

static bool eq_nocase(const char *a, size_t n, const char *lower)
{
    size_t m = strlen(lower);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lower[i])
            return false;
    }
    return true;
}

static const char *const hop_by_hop[] = {
    "connection", "keep-alive",        "proxy-connection", "te",
    "trailer",    "transfer-encoding", "upgrade",          NULL,
};

/* A latin-1 native string's bytes (PEP 3333: str whose code points are all < 256). */
static const char *latin1(PyObject *s, Py_ssize_t *n, const char *what)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(s)->tp_name);
        return NULL;
    }
    if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError, "%s is not latin-1: %R", what, s);
        return NULL;
    }
    *n = PyUnicode_GET_LENGTH(s);
    return (const char *)PyUnicode_1BYTE_DATA(s);
}

/* Parse and format status and headers into r->head. 0, or -1 with an exception. */
static int set_head(struct wsgi_task *t, PyObject *status, PyObject *headers)
{
    struct resp *r = &t->r;
    Py_ssize_t n;
    const char *s = latin1(status, &n, "status");
    if (!s)
        return -1;
    bool ok = n >= 3 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
              s[2] <= '9' && (n == 3 || s[3] == ' ');
    for (Py_ssize_t i = 3; ok && i < n; i++)
        ok = (unsigned char)s[i] >= 0x20 ? s[i] != 0x7f : s[i] == '\t';
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "bad status %R: expected '200 OK'", status);
        return -1;
    }
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    buf_reset(&r->head);
    buf_reset(&r->reason);
    r->content_length = -1;
    r->has_server = r->has_date = r->has_sts = false;
    int e = n > 4 ? put(&r->reason, s + 4, (size_t)n - 4) : 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *item = PyList_GET_ITEM(headers, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_Format(PyExc_TypeError, "header %zd must be a (name, value) tuple, not %R", i,
                         item);
            return -1;
        }
        Py_ssize_t nl, vl;
        const char *name = latin1(PyTuple_GET_ITEM(item, 0), &nl, "header name");
        const char *value = name ? latin1(PyTuple_GET_ITEM(item, 1), &vl, "header value") : NULL;
        if (!value)
            return -1;
        bool good = nl > 0;
        for (Py_ssize_t k = 0; good && k < nl; k++)
            good = is_tchar((unsigned char)name[k]);
        for (Py_ssize_t k = 0; good && k < vl; k++) {
            unsigned char c = (unsigned char)value[k];
            good = (c >= 0x20 && c != 0x7f) || c == '\t';
        }
        if (!good) {
            PyErr_Format(PyExc_ValueError, "invalid header %R", item);
            return -1;
        }
        for (const char *const *h = hop_by_hop; *h; h++) {
            if (eq_nocase(name, (size_t)nl, *h)) {
                PyErr_Format(PyExc_ValueError,
                             "hop-by-hop header %R is not allowed from a WSGI app (PEP 3333)",
                             PyTuple_GET_ITEM(item, 0));
                return -1;
            }
        }
        if (eq_nocase(name, (size_t)nl, "content-length")) {
            int64_t v = 0;
            good = vl > 0 && vl <= 18;
            for (Py_ssize_t k = 0; good && k < vl; k++) {
                good = value[k] >= '0' && value[k] <= '9';
                v = v * 10 + (value[k] - '0');
            }
            if (!good || (r->content_length >= 0 && r->content_length != v)) {
                PyErr_Format(PyExc_ValueError, "bad Content-Length %R", item);
                return -1;
            }
            r->content_length = v; /* the protocol writes it (once) */
            continue;
        } else if (eq_nocase(name, (size_t)nl, "server")) {
            r->has_server = true;
        } else if (eq_nocase(name, (size_t)nl, "date")) {
            r->has_date = true;
        } else if (eq_nocase(name, (size_t)nl, "strict-transport-security")) {
            r->has_sts = true;
        }
        e |= put(&r->head, name, (size_t)nl) | put(&r->head, ": ", 2) |
             put(&r->head, value, (size_t)vl) | put(&r->head, "\r\n", 2);
    }
    if (e) {
        PyErr_NoMemory();
        return -1;
    }
    r->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    return 0;
}

static PyObject *sr_call(PyObject *self, PyObject *args, PyObject *kw)
{
    struct sr *o = (struct sr *)self;
    static char *kwlist[] = {"status", "headers", "exc_info", NULL};
    PyObject *status, *headers, *exc_info = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:start_response", kwlist, &status, &headers,
                                     &exc_info))
        return NULL;
    struct wsgi_task *t = o->t;
    if (!t) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called after the response ended");
        return NULL;
    }
    struct resp *r = &t->r;
    if (exc_info != Py_None) {
        if (r->headers_sent) { /* too late to change the status: re-raise (PEP 3333) */
            if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
                PyErr_SetString(PyExc_TypeError, "exc_info must be a 3-tuple");
                return NULL;
            }
            PyObject *type = PyTuple_GET_ITEM(exc_info, 0), *val = PyTuple_GET_ITEM(exc_info, 1),
                     *tb = PyTuple_GET_ITEM(exc_info, 2);
            Py_INCREF(type);
            Py_INCREF(val);
            Py_XINCREF(tb == Py_None ? NULL : tb);
            PyErr_Restore(type, val, tb == Py_None ? NULL : tb);
            return NULL;
        }
    } else if (r->sr_called) {
        PyErr_SetString(PyExc_RuntimeError,
                        "start_response() called again without exc_info (PEP 3333)");
        return NULL;
    }
    r->sr_called = false;
    if (set_head(t, status, headers) < 0)
        return NULL;
    r->sr_called = true;
    /* A new bound callable each time: a stored one would make a cycle through self. */
    return PyCFunction_New(&write_def, self);
}

static int emit_bytes(struct wsgi_task *t, PyObject *item);

static PyObject *sr_write(PyObject *self, PyObject *data)
{
    struct sr *o = (struct sr *)self;
    struct wsgi_task *t = o->t;
    if (!t || !t->r.sr_called) {
        PyErr_SetString(PyExc_RuntimeError,
                        t ? "write() before start_response()" : "write() after the response ended");
        return NULL;
    }
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (emit_bytes(t, data) < 0)
        return NULL;
    /* write() is the old imperative API: push out what was written, as a server must before
     * write() returns (PEP 3333), with backpressure. */
    if (pool_publish(t, false) == PUB_RELEASED) {
        PyErr_SetString(PyExc_OSError, "client disconnected");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyTypeObject sr_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "httpsd.StartResponse",
    .tp_basicsize = sizeof(struct sr),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "start_response(status, headers, exc_info=None) -> write",
    .tp_call = sr_call,
};

/* ---- wsgi.file_wrapper ----------------------------------------------------------------- */

struct fw {
    PyObject_HEAD PyObject *filelike;
    Py_ssize_t blksize;
};

static PyObject *fw_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"filelike", "block_size", NULL};
    PyObject *f;
    Py_ssize_t blksize = FW_DEFAULT_BLKSIZE;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper", kwlist, &f, &blksize))
        return NULL;
    struct fw *o = (struct fw *)type->tp_alloc(type, 0);
    if (!o)
        return NULL;
    o->filelike = Py_NewRef(f);
    o->blksize = blksize > 0 ? blksize : FW_DEFAULT_BLKSIZE;
    return (PyObject *)o;
}

static PyObject *fw_next(PyObject *self)
{
    struct fw *o = (struct fw *)self;
    PyObject *data = PyObject_CallMethod(o->filelike, "read", "n", o->blksize);
    if (data && PyBytes_Check(data) && PyBytes_GET_SIZE(data) == 0) {
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

static PyObject *fw_close(PyObject *self, PyObject *unused)
{
    (void)unused;
    struct fw *o = (struct fw *)self;
    PyObject *m = PyObject_GetAttr(o->filelike, W.s_close);
    if (!m) {
        PyErr_Clear(); /* a file-like without close() */
        Py_RETURN_NONE;
    }
    PyObject *r = PyObject_CallNoArgs(m);
    Py_DECREF(m);
    return r;
}

static void fw_dealloc(PyObject *self)
{
    struct fw *o = (struct fw *)self;
    PyObject_GC_UnTrack(self);
    Py_CLEAR(o->filelike);
    Py_TYPE(self)->tp_free(self);
}

static int fw_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((struct fw *)self)->filelike);
    return 0;
}

static PyMethodDef fw_methods[] = {
    {"close", fw_close, METH_NOARGS, "close the file"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject fw_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "httpsd.FileWrapper",
    .tp_basicsize = sizeof(struct fw),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "wsgi.file_wrapper(filelike, block_size=8192)",
    .tp_new = fw_new,
    .tp_dealloc = fw_dealloc,
    .tp_traverse = fw_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = fw_next,
    .tp_methods = fw_methods,
};

int response_setup(void)
{
    if (PyType_Ready(&sr_type) < 0 || PyType_Ready(&fw_type) < 0)
        return -1;
    W.sr_type = &sr_type;
    W.fw_type = &fw_type;
    W.file_wrapper = (PyObject *)&fw_type;
    W.s_close = PyUnicode_InternFromString("close");
    W.s_fileno = PyUnicode_InternFromString("fileno");
    W.s_tell = PyUnicode_InternFromString("tell");
    /* Raised inside an app thread whose request got --timeout's 504 (pool.c, the reaper). An
     * Exception, so the app's and its framework's error handling (a transaction rolled back,
     * say) still run; its output goes nowhere. */
    W.timeout_exc = PyErr_NewExceptionWithDoc(
        "httpsd.RequestTimeout",
        "The request was answered 504 by httpsd after --timeout: stop working on it.",
        PyExc_Exception, NULL);
    return W.s_close && W.s_fileno && W.s_tell && W.timeout_exc ? 0 : -1;
}

/* ---- framing ----------------------------------------------------------------------------- */

/* The head is complete: known_len >= 0 is the whole body's length when the server knows it (a
 * list, or nothing left to send) and the app did not say. It goes to the protocol with the
 * first publish (pool.c). 0 (cannot fail). */
static int send_head(struct wsgi_task *t, int64_t known_len)
{
    struct resp *r = &t->r;
    int st = r->status;
    r->bodyless = t->req.is_head || st == 204 || st == 304 || st < 200;
    bool no_length = st == 204 || st == 304 || st < 200; /* RFC 9110 §8.6 */
    if (r->content_length < 0 && !no_length && known_len >= 0)
        r->content_length = known_len;
    r->headers_sent = true;
    return 0;
}

/* Bytes objects at least this long are sent from their own memory (struct bref) rather than
 * copied: below it a copy costs less than the reference's bookkeeping, and small pieces join
 * the head in one buffer. */
#define REF_MIN (8 * 1024)

/* Stage the bytes object item (referenced, not copied, from REF_MIN bytes). 0, or -1 with an
 * exception. */
static int emit_bytes(struct wsgi_task *t, PyObject *item)
{
    struct resp *r = &t->r;
    size_t n = (size_t)PyBytes_GET_SIZE(item);
    if (n == 0)
        return 0;
    if (!r->headers_sent && send_head(t, -1) < 0)
        return -1;
    if (r->bodyless)
        return 0;
    if (r->content_length >= 0) {
        uint64_t room = (uint64_t)r->content_length - r->sent;
        if (n > room) {
            if (!r->warned_long)
                log_warn("#%llu %.*s %.*s: the app sent more than its Content-Length (%lld): "
                         "truncated",
                         (unsigned long long)t->conn_id, (int)t->req.method.n, t->req.method.p,
                         (int)t->req.path.n, t->req.path.p, (long long)r->content_length);
            r->warned_long = true;
            n = (size_t)room;
        }
        if (n == 0)
            return 0;
    }
    if (n >= REF_MIN && n == (size_t)PyBytes_GET_SIZE(item)) { /* whole: not truncated */
        struct bref *b = bref_new(item);
        if (!b) {
            PyErr_NoMemory();
            return -1;
        }
        outq_ref(&r->stage, b);
    } else if (stage(t, PyBytes_AS_STRING(item), n) < 0) {
        return -1;
    }
    r->sent += n;
    return 0;
}

static void log_app_error(struct wsgi_task *t, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s on %.*s %.*s", what, (int)t->req.method.n, t->req.method.p,
             (int)(t->req.target.n > 300 ? 300 : t->req.target.n), t->req.target.p);
    py_log_exception(msg, t->conn_id);
}

/* Drop the Python side: call close() once, detach the objects the app may keep. */
static void release_app(struct wsgi_task *t)
{
    struct resp *r = &t->r;
    if (r->result) {
        /* A lookup that does not build an AttributeError for the common result without
         * close() (a list): that exception's message formatting was 1 % of hello world. */
        PyObject *m = NULL;
        if (!PyList_CheckExact(r->result) && !PyTuple_CheckExact(r->result) &&
            _PyObject_LookupAttr(r->result, W.s_close, &m) < 0)
            PyErr_Clear(); /* a close attribute that raised: as none */
        if (m) {
            PyObject *res = PyObject_CallNoArgs(m);
            Py_DECREF(m);
            if (res)
                Py_DECREF(res);
            else
                log_app_error(t, "exception in the response's close()");
        }
    }
    Py_CLEAR(r->iter);
    Py_CLEAR(r->result);
    if (r->sr)
        ((struct sr *)r->sr)->t = NULL;
    Py_CLEAR(r->sr);
    if (r->input)
        input_detach(r->input);
    Py_CLEAR(r->input);
    Py_CLEAR(r->environ);
    r->finished = true;
}

/* The app failed (the exception is set). Before the headers: a 500; after: the response is
 * cut and the connection closed. */
static void fail(struct wsgi_task *t, const char *what)
{
    struct resp *r = &t->r;
    if (PyErr_Occurred())
        log_app_error(t, what);
    else
        log_error("#%llu %s on %.*s %.*s", (unsigned long long)t->conn_id, what,
                  (int)t->req.method.n, t->req.method.p, (int)t->req.path.n, t->req.path.p);
    if (r->file_fd >= 0) {
        close(r->file_fd);
        r->file_fd = -1;
    }
    if (r->headers_sent) {
        r->broken = true;
    } else {
        static const char ctype[] = "Content-Type: text/plain; charset=utf-8\r\n";
        static const char body[] = "500 Internal Server Error\n";
        outq_drop(&r->stage, true, false);
        buf_reset(&r->head);
        buf_reset(&r->reason);
        r->status = 500;
        r->has_server = r->has_date = r->has_sts = false;
        r->content_length = sizeof body - 1;
        int e = put(&r->head, ctype, sizeof ctype - 1);
        r->bodyless = t->req.is_head;
        if (!r->bodyless)
            e |= put(&r->stage.bytes, body, sizeof body - 1);
        r->headers_sent = true;
        r->sent = r->bodyless ? 0 : sizeof body - 1;
        if (e)
            r->broken = true;
    }
    release_app(t);
}

/* The body ended normally: close(). */
static void finish(struct wsgi_task *t)
{
    struct resp *r = &t->r;
    if (!r->sr_called) {
        PyErr_SetString(PyExc_RuntimeError, "the app returned without calling start_response()");
        fail(t, "app error");
        return;
    }
    if (!r->headers_sent && send_head(t, 0) < 0) {
        fail(t, "app error");
        return;
    }
    if (!r->bodyless && r->content_length >= 0 && r->sent < (uint64_t)r->content_length) {
        log_warn("#%llu %.*s %.*s: the app sent %llu of its Content-Length %lld bytes: "
                 "closing the connection",
                 (unsigned long long)t->conn_id, (int)t->req.method.n, t->req.method.p,
                 (int)t->req.path.n, t->req.path.p, (unsigned long long)r->sent,
                 (long long)r->content_length);
        r->broken = true;
    }
    release_app(t);
}

/* A FileWrapper over a real file: send it from its position, without Python. 1 when done
 * that way, 0 to iterate it instead, -1 on error (exception set). */
static int try_sendfile(struct wsgi_task *t)
{
    struct resp *r = &t->r;
    PyObject *f = ((struct fw *)r->result)->filelike;
    PyObject *fdobj = PyObject_CallMethodNoArgs(f, W.s_fileno);
    long fd = fdobj ? PyLong_AsLong(fdobj) : -1;
    Py_XDECREF(fdobj);
    if (fd < 0) {
        PyErr_Clear();
        return 0;
    }
    struct stat st;
    if (fd > INT_MAX || fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    PyObject *posobj = PyObject_CallMethodNoArgs(f, W.s_tell);
    long long pos = posobj ? PyLong_AsLongLong(posobj) : -1;
    Py_XDECREF(posobj);
    if (pos < 0) {
        PyErr_Clear();
        return 0;
    }
    if (!r->sr_called)
        return 0; /* iterate: finish() reports the missing start_response */
    int64_t len = st.st_size > pos ? (int64_t)st.st_size - pos : 0;
    if (r->content_length >= 0 && r->content_length < len)
        len = r->content_length;
    if (send_head(t, r->content_length >= 0 ? -1 : len) < 0)
        return -1;
    if (!r->bodyless && len > 0) {
        int dupfd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
        if (dupfd < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        r->file_fd = dupfd;
        r->file_off = (off_t)pos;
        r->file_len = (off_t)len;
        r->sent = (uint64_t)len;
    }
    finish(t);
    return 1;
}

/* A list or tuple of bytes: the length is known, one write. 1 done, -1 error. */
static int send_sequence(struct wsgi_task *t, PyObject *seq)
{
    struct resp *r = &t->r;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i])) {
            PyErr_Format(PyExc_TypeError, "the app's response must yield bytes, not %.100s",
                         Py_TYPE(items[i])->tp_name);
            return -1;
        }
        total += PyBytes_GET_SIZE(items[i]);
    }
    if (!r->sr_called) {
        PyErr_SetString(PyExc_RuntimeError, "the app returned without calling start_response()");
        return -1;
    }
    if (!r->headers_sent && send_head(t, r->content_length >= 0 ? -1 : total) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        if (emit_bytes(t, items[i]) < 0)
            return -1;
    finish(t);
    return 1;
}

void response_start(struct wsgi_task *t)
{
    struct resp *r = &t->r;
    r->started_app = true;
    r->content_length = -1;
    r->file_fd = -1;
    PyObject *errors = errors_new(t->conn_id);
    if (!errors) {
        fail(t, "cannot build environ");
        return;
    }
    r->environ = environ_new(t, errors);
    Py_DECREF(errors);
    struct sr *o = r->environ ? PyObject_New(struct sr, &sr_type) : NULL;
    if (!o) {
        fail(t, "cannot build environ");
        return;
    }
    o->t = t;
    r->sr = (PyObject *)o;
    PyObject *args[2] = {r->environ, r->sr};
    r->result = PyObject_Vectorcall(W.app, args, 2, NULL);
    if (!r->result) {
        fail(t, "app error");
        return;
    }
    int done = 0;
    if (PyList_CheckExact(r->result) || PyTuple_CheckExact(r->result))
        done = send_sequence(t, r->result);
    else if (Py_TYPE(r->result) == &fw_type)
        done = try_sendfile(t);
    if (done < 0) {
        fail(t, "app error");
        return;
    }
    if (done)
        return;
    r->iter = PyObject_GetIter(r->result);
    if (!r->iter)
        fail(t, "app error (the response is not iterable)");
}

void response_produce(struct wsgi_task *t, size_t budget)
{
    struct resp *r = &t->r;
    while (!r->finished && outq_size(&r->stage) < budget) {
        PyObject *item = PyIter_Next(r->iter);
        if (!item) {
            if (PyErr_Occurred())
                fail(t, "app error while iterating the response");
            else
                finish(t);
            return;
        }
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "the app's response must yield bytes, not %.100s",
                         Py_TYPE(item)->tp_name);
            Py_DECREF(item);
            fail(t, "app error");
            return;
        }
        if (!r->sr_called) {
            Py_DECREF(item);
            PyErr_SetString(PyExc_RuntimeError,
                            "the app yielded data before calling start_response()");
            fail(t, "app error");
            return;
        }
        int e = emit_bytes(t, item);
        Py_DECREF(item);
        if (e < 0) {
            fail(t, "app error");
            return;
        }
    }
}

void response_abandon(struct wsgi_task *t)
{
    struct resp *r = &t->r;
    if (r->file_fd >= 0) {
        close(r->file_fd);
        r->file_fd = -1;
    }
    outq_drop(&r->stage, true, true);
    if (!r->finished)
        release_app(t);
}
