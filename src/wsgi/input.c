/* input: wsgi.input over the buffered request body, and wsgi.errors into the error log. */
#include "py.h"

#include "log.h"

#include <stdint.h>
#include <string.h>

#define READLINE_STEP 8192
#define STREAM_DIRECT_MIN (64 * 1024) /* read(n) this big goes straight into its bytes object */

struct input {
    PyObject_HEAD struct wsgi_task *t; /* borrowed; NULL once the response ended */
    uint64_t pos;
    /* A streamed body (thread mode): bytes pulled from the loop, not yet returned. */
    struct buf ahead;
    bool eof;
};

PyObject *input_new(struct wsgi_task *t)
{
    struct input *in = PyObject_New(struct input, W.input_type);
    if (!in)
        return NULL;
    in->t = t;
    in->pos = 0;
    in->ahead = (struct buf){0};
    in->eof = false;
    return (PyObject *)in;
}

void input_detach(PyObject *o)
{
    ((struct input *)o)->t = NULL;
}

static uint64_t remaining(const struct input *in)
{
    return in->t && in->pos < in->t->body.len ? in->t->body.len - in->pos : 0;
}

static void input_dealloc(PyObject *self)
{
    buf_free(&((struct input *)self)->ahead);
    PyObject_Free(self);
}

/* ---- a streamed body: the app reads while the loop is still receiving it ---- */

static bool is_streaming(const struct input *in)
{
    return in->t && in->t->streaming;
}

/* Pull until ahead holds want bytes or the body ended. 0, or -1 with an exception. */
static int fill(struct input *in, size_t want)
{
    while (buf_size(&in->ahead) < want && !in->eof) {
        int r = pool_input_pull(in->t, &in->ahead);
        if (r < 0)
            return -1;
        if (r == 0)
            in->eof = true;
    }
    return 0;
}

static PyObject *take_ahead(struct input *in, size_t n)
{
    PyObject *r = PyBytes_FromStringAndSize(buf_data(&in->ahead), (Py_ssize_t)n);
    if (r) {
        buf_consume(&in->ahead, n);
        in->pos += n;
    }
    return r;
}

/* read(n) of a big streamed body, straight into the bytes object as the bytes arrive: one copy
 * instead of growing `ahead` (appends and reallocs) and copying it out whole. */
static PyObject *stream_read_direct(struct input *in, size_t n)
{
    PyObject *r = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (!r)
        return NULL;
    char *p = PyBytes_AS_STRING(r);
    size_t got = buf_size(&in->ahead) < n ? buf_size(&in->ahead) : n;
    if (got) {
        memcpy(p, buf_data(&in->ahead), got);
        buf_consume(&in->ahead, got);
    }
    while (got < n && !in->eof) {
        ssize_t k = pool_input_copy(in->t, p + got, n - got);
        if (k < 0) {
            in->pos += got;
            Py_DECREF(r);
            return NULL;
        }
        if (k == 0)
            in->eof = true;
        got += (size_t)k;
    }
    in->pos += got;
    if (got < n && _PyBytes_Resize(&r, (Py_ssize_t)got) < 0)
        return NULL;
    return r;
}

static PyObject *stream_read(struct input *in, Py_ssize_t size)
{
    uint64_t left = in->t->stream_len > in->pos ? in->t->stream_len - in->pos : 0;
    size_t want = size < 0 || (uint64_t)size > left ? (size_t)left : (size_t)size;
    if (want >= STREAM_DIRECT_MIN && want > buf_size(&in->ahead))
        return stream_read_direct(in, want);
    if (fill(in, size < 0 ? SIZE_MAX : (size_t)size) < 0)
        return NULL;
    size_t n = buf_size(&in->ahead);
    if (size >= 0 && (size_t)size < n)
        n = (size_t)size;
    return take_ahead(in, n);
}

static PyObject *stream_readline(struct input *in, Py_ssize_t limit)
{
    size_t scanned = 0;
    for (;;) {
        size_t avail = buf_size(&in->ahead);
        size_t lim = limit >= 0 && (size_t)limit < avail ? (size_t)limit : avail;
        const char *p = buf_data(&in->ahead);
        const char *nl = lim > scanned ? memchr(p + scanned, '\n', lim - scanned) : NULL;
        if (nl)
            return take_ahead(in, (size_t)(nl - p) + 1);
        if ((limit >= 0 && avail >= (size_t)limit) || in->eof)
            return take_ahead(in, lim);
        scanned = lim;
        if (fill(in, avail + 1) < 0)
            return NULL;
    }
}

/* size argument: None or a negative number mean "all". */
static int size_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *size)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "expected at most one argument");
        return -1;
    }
    if (nargs == 0 || args[0] == Py_None)
        return 0;
    *size = PyLong_AsSsize_t(args[0]);
    return *size == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Copy n body bytes at the current position into a new bytes object (from memory with the GIL
 * held: a memcpy; from the file without it). */
static PyObject *take_bytes(struct input *in, size_t n)
{
    const struct body *b = &in->t->body;
    size_t have;
    const char *p = body_peek(b, in->pos, &have);
    PyObject *r = PyBytes_FromStringAndSize(p && have >= n ? p : NULL, (Py_ssize_t)n);
    if (!r)
        return NULL;
    if (!p || have < n) {
        ssize_t got;
        if (p) {
            got = body_read(b, in->pos, PyBytes_AS_STRING(r), n);
        } else {
            Py_BEGIN_ALLOW_THREADS got = body_read(b, in->pos, PyBytes_AS_STRING(r), n);
            Py_END_ALLOW_THREADS
        }
        if (got != (ssize_t)n) {
            Py_DECREF(r);
            PyErr_SetString(PyExc_OSError, "cannot read the request body");
            return NULL;
        }
    }
    in->pos += n;
    return r;
}

static PyObject *input_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct input *in = (struct input *)self;
    Py_ssize_t size;
    if (size_arg(args, nargs, &size) < 0)
        return NULL;
    if (is_streaming(in))
        return stream_read(in, size);
    uint64_t left = remaining(in);
    size_t n = size < 0 || (uint64_t)size > left ? (size_t)left : (size_t)size;
    if (n == 0)
        return PyBytes_FromStringAndSize("", 0);
    return take_bytes(in, n);
}

/* Length of the next line (through '\n') within limit bytes. */
static int line_length(struct input *in, size_t limit, size_t *len)
{
    const struct body *b = &in->t->body;
    if (b->fd < 0) { /* in memory: search piece by piece */
        size_t n = 0;
        while (n < limit) {
            size_t have;
            const char *p = body_peek(b, in->pos + n, &have);
            if (!p)
                break;
            if (have > limit - n)
                have = limit - n;
            const char *nl = memchr(p, '\n', have);
            if (nl) {
                *len = n + (size_t)(nl - p) + 1;
                return 0;
            }
            n += have;
        }
        *len = limit;
        return 0;
    }
    char tmp[READLINE_STEP];
    size_t n = 0;
    while (n < limit) {
        size_t want = limit - n < sizeof tmp ? limit - n : sizeof tmp;
        ssize_t got = body_read(b, in->pos + n, tmp, want);
        if (got <= 0) {
            PyErr_SetString(PyExc_OSError, "cannot read the request body");
            return -1;
        }
        const char *nl = memchr(tmp, '\n', (size_t)got);
        if (nl) {
            *len = n + (size_t)(nl - tmp) + 1;
            return 0;
        }
        n += (size_t)got;
    }
    *len = limit;
    return 0;
}

static PyObject *readline_n(struct input *in, Py_ssize_t size)
{
    if (is_streaming(in))
        return stream_readline(in, size);
    uint64_t left = remaining(in);
    size_t limit = size < 0 || (uint64_t)size > left ? (size_t)left : (size_t)size;
    if (limit == 0)
        return PyBytes_FromStringAndSize("", 0);
    size_t n;
    if (line_length(in, limit, &n) < 0)
        return NULL;
    return take_bytes(in, n);
}

static PyObject *input_readline(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (size_arg(args, nargs, &size) < 0)
        return NULL;
    return readline_n((struct input *)self, size);
}

static PyObject *input_readlines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct input *in = (struct input *)self;
    Py_ssize_t hint;
    if (size_arg(args, nargs, &hint) < 0)
        return NULL;
    PyObject *list = PyList_New(0);
    uint64_t total = 0;
    while (list) {
        PyObject *line = readline_n(in, -1);
        if (!line) {
            Py_CLEAR(list);
            break;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(line);
        if (n == 0) {
            Py_DECREF(line);
            break;
        }
        int e = PyList_Append(list, line);
        Py_DECREF(line);
        if (e < 0)
            Py_CLEAR(list);
        total += (uint64_t)n;
        if (hint > 0 && total >= (uint64_t)hint)
            break;
    }
    return list;
}

static PyObject *input_iternext(PyObject *self)
{
    PyObject *line = readline_n((struct input *)self, -1);
    if (line && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL; /* StopIteration */
    }
    return line;
}

static PyMethodDef input_methods[] = {
    {"read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL, "read([size]) -> bytes"},
    {"readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL,
     "readline([size]) -> bytes"},
    {"readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL,
     "readlines([hint]) -> list of bytes"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject input_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "httpsd.Input",
    .tp_basicsize = sizeof(struct input),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = input_dealloc,
    .tp_doc = "wsgi.input: the request body",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = input_iternext,
    .tp_methods = input_methods,
};

/* wsgi.errors: text goes to the error log line by line; a partial line waits for its end,
 * for flush(), or for the next request on this thread. */
struct errors {
    PyObject_HEAD uint64_t conn_id;
    struct buf line;
};

static void errors_emit(struct errors *e, const char *p, size_t n)
{
    log_msg_always(LOG_ERROR, "#%llu wsgi.errors: %.*s", (unsigned long long)e->conn_id, (int)n, p);
}

static void errors_flush_partial(struct errors *e)
{
    if (buf_size(&e->line))
        errors_emit(e, buf_data(&e->line), buf_size(&e->line));
    buf_reset(&e->line);
}

static int errors_put(struct errors *e, PyObject *s)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "wsgi.errors.write() takes str, not %.100s",
                     Py_TYPE(s)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (!p)
        return -1;
    while (n > 0) {
        const char *nl = memchr(p, '\n', (size_t)n);
        size_t k = nl ? (size_t)(nl - p) : (size_t)n;
        if (nl) {
            if (buf_size(&e->line)) {
                if (buf_append(&e->line, p, k) < 0)
                    return PyErr_NoMemory(), -1;
                errors_flush_partial(e);
            } else {
                errors_emit(e, p, k);
            }
            p += k + 1;
            n -= (Py_ssize_t)k + 1;
        } else {
            if (buf_size(&e->line) + k > 64 * 1024) /* a runaway line: log it as it is */
                errors_flush_partial(e);
            if (buf_append(&e->line, p, k) < 0)
                return PyErr_NoMemory(), -1;
            n = 0;
        }
    }
    return 0;
}

static PyObject *errors_write(PyObject *self, PyObject *s)
{
    if (errors_put((struct errors *)self, s) < 0)
        return NULL;
    return PyLong_FromSsize_t(PyUnicode_Check(s) ? PyUnicode_GET_LENGTH(s) : 0);
}

static PyObject *errors_writelines(PyObject *self, PyObject *seq)
{
    PyObject *it = PyObject_GetIter(seq);
    if (!it)
        return NULL;
    PyObject *item;
    while ((item = PyIter_Next(it))) {
        int e = errors_put((struct errors *)self, item);
        Py_DECREF(item);
        if (e < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *errors_flush(PyObject *self, PyObject *unused)
{
    (void)unused;
    errors_flush_partial((struct errors *)self);
    Py_RETURN_NONE;
}

static void errors_dealloc(PyObject *self)
{
    struct errors *e = (struct errors *)self;
    errors_flush_partial(e);
    buf_free(&e->line);
    PyObject_Free(self);
}

static PyMethodDef errors_methods[] = {
    {"write", errors_write, METH_O, "write(str): to the error log"},
    {"writelines", errors_writelines, METH_O, "writelines(iterable of str)"},
    {"flush", errors_flush, METH_NOARGS, "flush()"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject errors_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "httpsd.Errors",
    .tp_basicsize = sizeof(struct errors),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.errors: the server's error log",
    .tp_dealloc = errors_dealloc,
    .tp_methods = errors_methods,
};

/* One stream per thread, reused: requests on a thread run one after the other. */
static __thread struct errors *mine;

void errors_release(void)
{
    Py_CLEAR(mine);
}

PyObject *errors_new(uint64_t conn_id)
{
    if (!mine) {
        mine = PyObject_New(struct errors, &errors_type);
        if (!mine)
            return NULL;
        mine->line = (struct buf){0};
    }
    errors_flush_partial(mine);
    mine->conn_id = conn_id;
    Py_INCREF(mine);
    return (PyObject *)mine;
}

int io_setup(void)
{
    if (PyType_Ready(&input_type) < 0 || PyType_Ready(&errors_type) < 0)
        return -1;
    W.input_type = &input_type;
    W.errors_type = &errors_type;
    return 0;
}
