/* environ: a request as PEP 3333's environ dict — native strings are latin-1, PATH_INFO is
 * percent-decoded, the raw target stays in REQUEST_URI/RAW_URI. */
#include "py.h"

#include "chars.h"

#include <stdlib.h>
#include <string.h>

enum {
    K_METHOD,
    K_SCRIPT_NAME,
    K_PATH_INFO,
    K_QUERY,
    K_REQUEST_URI,
    K_RAW_URI,
    K_PROTOCOL,
    K_SERVER_NAME,
    K_SERVER_PORT,
    K_REMOTE_ADDR,
    K_REMOTE_PORT,
    K_CONTENT_TYPE,
    K_CONTENT_LENGTH,
    K_VERSION,
    K_SCHEME,
    K_INPUT,
    K_ERRORS,
    K_MULTITHREAD,
    K_MULTIPROCESS,
    K_RUN_ONCE,
    K_TERMINATED,
    K_FILE_WRAPPER,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "REQUEST_METHOD",        "SCRIPT_NAME",       "PATH_INFO",         "QUERY_STRING",
    "REQUEST_URI",           "RAW_URI",           "SERVER_PROTOCOL",   "SERVER_NAME",
    "SERVER_PORT",           "REMOTE_ADDR",       "REMOTE_PORT",       "CONTENT_TYPE",
    "CONTENT_LENGTH",        "wsgi.version",      "wsgi.url_scheme",   "wsgi.input",
    "wsgi.errors",           "wsgi.multithread",  "wsgi.multiprocess", "wsgi.run_once",
    "wsgi.input_terminated", "wsgi.file_wrapper",
};
static PyObject *keys[K_COUNT];

int environ_setup(void)
{
    for (int i = 0; i < K_COUNT; i++)
        if (!(keys[i] = PyUnicode_InternFromString(key_names[i])))
            return -1;
    W.version = Py_BuildValue("(ii)", 1, 0);
    W.s_http = PyUnicode_InternFromString("http");
    W.s_https = PyUnicode_InternFromString("https");
    W.s_empty = PyUnicode_InternFromString("");
    W.s_proto10 = PyUnicode_InternFromString("HTTP/1.0");
    W.s_proto11 = PyUnicode_InternFromString("HTTP/1.1");
    W.s_proto2 = PyUnicode_InternFromString("HTTP/2");
    W.s_80 = PyUnicode_InternFromString("80");
    W.s_443 = PyUnicode_InternFromString("443");
    if (!W.version || !W.s_http || !W.s_https || !W.s_empty || !W.s_proto10 || !W.s_proto11 ||
        !W.s_proto2 || !W.s_80 || !W.s_443)
        return -1;
    return 0;
}

/* str(v) without printf. */
static PyObject *str_u64(uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return PyUnicode_FromStringAndSize(tmp + i, (Py_ssize_t)(sizeof tmp - i));
}

/* d[k] = value (stolen); -1 when value is NULL or the insert fails. */
static int set_steal(PyObject *d, PyObject *k, PyObject *value)
{
    if (!value)
        return -1;
    int e = PyDict_SetItem(d, k, value);
    Py_DECREF(value);
    return e;
}

static int set_latin1(PyObject *d, PyObject *k, struct span s)
{
    return set_steal(d, k, PyUnicode_DecodeLatin1(s.p ? s.p : "", (Py_ssize_t)s.n, NULL));
}

/* PATH_INFO: the path with %XX decoded (malformed escapes kept as they are), as latin-1. */
static PyObject *decode_path(struct span p)
{
    if (!memchr(p.p, '%', p.n))
        return PyUnicode_DecodeLatin1(p.p, (Py_ssize_t)p.n, NULL);
    PyObject *s = PyUnicode_New((Py_ssize_t)p.n, 255);
    if (!s)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    size_t n = 0;
    for (size_t i = 0; i < p.n; i++) {
        int hi, lo;
        if (p.p[i] == '%' && i + 2 < p.n && (hi = hex_value((unsigned char)(p.p[i + 1]))) >= 0 &&
            (lo = hex_value((unsigned char)(p.p[i + 2]))) >= 0) {
            out[n++] = (Py_UCS1)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = (Py_UCS1)p.p[i];
        }
    }
    /* Shrink to the decoded length: a fresh string of the right size. */
    PyObject *r = PyUnicode_DecodeLatin1((const char *)out, (Py_ssize_t)n, NULL);
    Py_DECREF(s);
    return r;
}

static inline Py_UCS1 key_char(unsigned char c)
{
    return c == '-' ? '_' : (c >= 'a' && c <= 'z' ? (Py_UCS1)(c - 32) : c);
}

/* Header names seen before, as their environ keys: a request's names are converted (and
 * their keys hashed) once per distinct name, not per request. Direct-mapped by a hash of the
 * key's characters; a collision replaces the entry. GIL held. */
#define KEY_CACHE 64
#define KEY_CACHE_MAX_NAME 40
static PyObject *key_cache[KEY_CACHE];

/* "HTTP_" + name upper-cased with '-' → '_' (new reference); NULL for names that must not
 * appear (those with '_', which could pose as a '-' name of a proxy's header). */
static PyObject *header_key(struct span name)
{
    if (memchr(name.p, '_', name.n))
        return NULL;
    PyObject **slot = NULL;
    if (name.n <= KEY_CACHE_MAX_NAME) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (size_t i = 0; i < name.n; i++)
            h = (h ^ key_char((unsigned char)name.p[i])) * 16777619u;
        slot = &key_cache[h % KEY_CACHE];
        PyObject *k = *slot;
        if (k && PyUnicode_GET_LENGTH(k) == (Py_ssize_t)name.n + 5) {
            const Py_UCS1 *w = PyUnicode_1BYTE_DATA(k) + 5;
            size_t i = 0;
            while (i < name.n && w[i] == key_char((unsigned char)name.p[i]))
                i++;
            if (i == name.n)
                return Py_NewRef(k);
        }
    }
    PyObject *k = PyUnicode_New((Py_ssize_t)name.n + 5, 127);
    if (!k)
        return NULL;
    Py_UCS1 *w = PyUnicode_1BYTE_DATA(k);
    memcpy(w, "HTTP_", 5);
    for (size_t i = 0; i < name.n; i++)
        w[5 + i] = key_char((unsigned char)name.p[i]);
    if (slot) {
        PyUnicode_InternInPlace(&k);
        Py_XSETREF(*slot, Py_NewRef(k));
    }
    return k;
}

/* Add a header to environ; a repeated one is joined to the earlier value. */
static int add_header(PyObject *env, PyObject *k, struct span value, const char *sep)
{
    PyObject *v = PyUnicode_DecodeLatin1(value.p ? value.p : "", (Py_ssize_t)value.n, NULL);
    if (!v)
        return -1;
    PyObject *old = PyDict_GetItemWithError(env, k); /* borrowed */
    if (old) {
        PyObject *joined = PyUnicode_FromFormat("%U%s%U", old, sep, v);
        Py_DECREF(v);
        v = joined;
        if (!v)
            return -1;
    } else if (PyErr_Occurred()) {
        Py_DECREF(v);
        return -1;
    }
    return set_steal(env, k, v);
}

static int set_server(PyObject *env, const struct wsgi_task *t)
{
    struct span h = t->req.host, name, port = {NULL, 0};
    if (h.p && h.n) { /* "name", "name:port", "[v6]:port" */
        size_t colon = h.n;
        for (size_t i = h.n; i > 0 && h.p[i - 1] != ']'; i--) {
            if (h.p[i - 1] == ':') {
                colon = i - 1;
                break;
            }
        }
        name = (struct span){h.p, colon};
        if (colon + 1 < h.n)
            port = (struct span){h.p + colon + 1, h.n - colon - 1};
    } else if (t->local_addr[0]) {
        name = (struct span){t->local_addr, strlen(t->local_addr)};
        if (set_latin1(env, keys[K_SERVER_NAME], name) < 0)
            return -1;
        return set_steal(env, keys[K_SERVER_PORT], str_u64(t->local_port));
    } else { /* a UNIX socket and no Host */
        name = SPAN_LIT("localhost");
    }
    if (set_latin1(env, keys[K_SERVER_NAME], name) < 0)
        return -1;
    if (port.p)
        return set_latin1(env, keys[K_SERVER_PORT], port);
    return PyDict_SetItem(env, keys[K_SERVER_PORT], t->https ? W.s_443 : W.s_80);
}

/* The entries every environ has, with room for a typical request's others: each environ is
 * a copy of it (one allocation and a copy of the table instead of seven inserts and the table
 * growing twice). Built on first use (W.multithread is known by then). GIL held. */
static PyObject *template;

static PyObject *template_new(void)
{
    PyObject *d = _PyDict_NewPresized(K_COUNT + 12);
    if (!d || PyDict_SetItem(d, keys[K_SCRIPT_NAME], W.s_empty) < 0 ||
        PyDict_SetItem(d, keys[K_VERSION], W.version) < 0 ||
        PyDict_SetItem(d, keys[K_MULTITHREAD], W.multithread ? Py_True : Py_False) < 0 ||
        PyDict_SetItem(d, keys[K_MULTIPROCESS], Py_False) < 0 ||
        PyDict_SetItem(d, keys[K_RUN_ONCE], Py_False) < 0 ||
        PyDict_SetItem(d, keys[K_TERMINATED], Py_True) < 0 ||
        PyDict_SetItem(d, keys[K_FILE_WRAPPER], W.file_wrapper) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

PyObject *environ_new(struct wsgi_task *t, PyObject *errors)
{
    const struct request *r = &t->req;
    if (!template && !(template = template_new()))
        return NULL;
    PyObject *env = PyDict_Copy(template);
    if (!env)
        return NULL;
    PyObject *uri = PyUnicode_DecodeLatin1(r->target.p, (Py_ssize_t)r->target.n, NULL);
    if (!uri)
        goto fail;
    int e = PyDict_SetItem(env, keys[K_REQUEST_URI], uri);
    e |= PyDict_SetItem(env, keys[K_RAW_URI], uri);
    Py_DECREF(uri);
    if (e < 0 || set_latin1(env, keys[K_METHOD], r->method) < 0 ||
        set_steal(env, keys[K_PATH_INFO], decode_path(r->path)) < 0 ||
        set_latin1(env, keys[K_QUERY], r->query) < 0 ||
        PyDict_SetItem(env, keys[K_PROTOCOL],
                       r->http2           ? W.s_proto2
                       : r->version_minor ? W.s_proto11
                                          : W.s_proto10) < 0 ||
        set_server(env, t) < 0 ||
        set_steal(env, keys[K_REMOTE_ADDR], PyUnicode_FromString(t->remote_addr)) < 0)
        goto fail;
    if (t->remote_addr[0]) {
        if (set_steal(env, keys[K_REMOTE_PORT], str_u64(t->remote_port)) < 0)
            goto fail;
    } else if (PyDict_SetItem(env, keys[K_REMOTE_PORT], W.s_empty) < 0) {
        goto fail;
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        struct span name = r->headers[i].name, value = r->headers[i].value;
        if (span_eq_lower(name, "content-type")) {
            if (add_header(env, keys[K_CONTENT_TYPE], value, ", ") < 0)
                goto fail;
            continue;
        }
        if (span_eq_lower(name, "content-length")) {
            if (set_latin1(env, keys[K_CONTENT_LENGTH], value) < 0)
                goto fail;
            continue;
        }
        PyObject *k = header_key(name);
        if (!k) {
            if (PyErr_Occurred())
                goto fail;
            continue;
        }
        e = add_header(env, k, value, span_eq_lower(name, "cookie") ? "; " : ", ");
        Py_DECREF(k);
        if (e < 0)
            goto fail;
    }
    /* A chunked body has been read whole before the app runs: its length is known, and
     * frameworks that read exactly CONTENT_LENGTH bytes (Django) need it to see the body. */
    if (t->chunked && set_steal(env, keys[K_CONTENT_LENGTH], str_u64(t->body.len)) < 0)
        goto fail;
    PyObject *input = input_new(t);
    if (!input || PyDict_SetItem(env, keys[K_INPUT], input) < 0) {
        Py_XDECREF(input);
        goto fail;
    }
    t->r.input = input; /* owned: detached from t when the response ends */
    if (PyDict_SetItem(env, keys[K_SCHEME], t->https ? W.s_https : W.s_http) < 0 ||
        PyDict_SetItem(env, keys[K_ERRORS], errors) < 0)
        goto fail;
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}
