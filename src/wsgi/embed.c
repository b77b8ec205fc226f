/* embed: start the interpreter (PyConfig), set sys.path, import the app. */
#include "py.h"

#include "cfg.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HTTPSD_PYTHON
#define HTTPSD_PYTHON "python3"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

struct wsgi_globals W;
static bool enabled;

const char *wsgi_python_version(void)
{
    return PY_VERSION;
}

void py_log_exception(const char *what, uint64_t conn_id)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type) {
        log_msg_always(LOG_ERROR, "#%llu %s", (unsigned long long)conn_id, what);
        return;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    const char *text = NULL;
    PyObject *mod = PyImport_ImportModule("traceback");
    PyObject *lines = mod ? PyObject_CallMethod(mod, "format_exception", "OOO", type,
                                                value ? value : Py_None, tb ? tb : Py_None)
                          : NULL;
    PyObject *sep = lines ? PyUnicode_FromString("") : NULL;
    PyObject *joined = sep ? PyUnicode_Join(sep, lines) : NULL;
    if (joined)
        text = PyUnicode_AsUTF8(joined);
    if (!text)
        PyErr_Clear();
    size_t n = text ? strlen(text) : 0;
    while (n && text[n - 1] == '\n')
        n--;
    if (conn_id)
        log_msg_always(LOG_ERROR, "#%llu %s\n%.*s", (unsigned long long)conn_id, what, (int)n,
                       text ? text : "");
    else
        log_msg_always(LOG_ERROR, "%s\n%.*s", what, (int)n, text ? text : "");
    Py_XDECREF(joined);
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    Py_XDECREF(mod);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static int fail_status(PyStatus st, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "cannot start Python: %s%s%s", what, st.err_msg ? ": " : "",
             st.err_msg ? st.err_msg : "");
    return -1;
}

/* Put cwd first on sys.path, then each --pythonpath directory, ahead of the rest. */
static int set_sys_path(const char *pythonpath)
{
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    if (!path || !PyList_Check(path))
        return -1;
    Py_ssize_t at = 0;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    PyObject *s = PyUnicode_DecodeFSDefault(cwd);
    if (!s || PyList_Insert(path, at++, s) < 0) {
        Py_XDECREF(s);
        return -1;
    }
    Py_DECREF(s);
    for (const char *p = pythonpath; p && *p;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n) {
            char dir[PATH_MAX], abs[PATH_MAX];
            snprintf(dir, sizeof dir, "%.*s", (int)n, p);
            s = PyUnicode_DecodeFSDefault(realpath(dir, abs) ? abs : dir);
            if (!s || PyList_Insert(path, at++, s) < 0) {
                Py_XDECREF(s);
                return -1;
            }
            Py_DECREF(s);
        }
        p = end ? end + 1 : p + n;
    }
    return 0;
}

static PyObject *load_app(const struct app_spec *spec, char *err, size_t errlen)
{
    char what[700];
    PyObject *mod = PyImport_ImportModule(spec->module);
    if (!mod) {
        snprintf(what, sizeof what, "cannot import module '%s'", spec->module);
        goto fail;
    }
    PyObject *obj = PyObject_GetAttrString(mod, spec->attr);
    Py_DECREF(mod);
    if (!obj) {
        snprintf(what, sizeof what, "module '%s' has no attribute '%s'", spec->module, spec->attr);
        goto fail;
    }
    if (spec->call) {
        PyObject *app = PyObject_CallNoArgs(obj);
        Py_DECREF(obj);
        if (!app) {
            snprintf(what, sizeof what, "application factory %s:%s() raised", spec->module,
                     spec->attr);
            goto fail;
        }
        obj = app;
    }
    if (!PyCallable_Check(obj)) {
        snprintf(err, errlen, "cannot load app: %s:%s%s is not callable (it is a %s)", spec->module,
                 spec->attr, spec->call ? "()" : "", Py_TYPE(obj)->tp_name);
        Py_DECREF(obj);
        return NULL;
    }
    return obj;
fail:
    snprintf(err, errlen, "cannot load app: %s (the Python traceback is above)", what);
    py_log_exception(what, 0);
    return NULL;
}

static bool preloaded; /* the interpreter and the app came from the master (--preload) */

/* Start Python and import the app (the GIL is held on return). 0, or -1 with err. */
static int start_python(const struct cfg *cfg, char *err, size_t errlen)
{
    struct app_spec spec;
    if (cfg_parse_app(cfg->app, &spec) < 0) {
        snprintf(err, errlen, "bad APP '%s'", cfg->app);
        return -1;
    }
    if (cfg->chdir && chdir(cfg->chdir) < 0) {
        snprintf(err, errlen, "--chdir %s: %s", cfg->chdir, strerror(errno));
        return -1;
    }
    PyPreConfig pre;
    PyPreConfig_InitPythonConfig(&pre);
#ifdef UNDER_ASAN
    pre.allocator = PYMEM_ALLOCATOR_MALLOC; /* let the sanitizer see every allocation */
#endif
    PyStatus st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st))
        return fail_status(st, "pre-initialisation", err, errlen);

    PyConfig c;
    PyConfig_InitPythonConfig(&c);
    c.install_signal_handlers = 0; /* signals are the server's (signalfd) */
    c.parse_argv = 0;
    /* The interpreter finds its prefix, and a virtualenv its pyvenv.cfg, from the program
     * name: the interpreter we were built against, or the environment's python. */
    const char *venv = cfg->virtualenv ? cfg->virtualenv : getenv("VIRTUAL_ENV");
    char prog[PATH_MAX + 16];
    if (venv && *venv) {
        char abs[PATH_MAX];
        snprintf(prog, sizeof prog, "%s/bin/python", realpath(venv, abs) ? abs : venv);
        if (access(prog, F_OK) < 0) {
            snprintf(err, errlen, "--virtualenv %s: no %s", venv, prog);
            PyConfig_Clear(&c);
            return -1;
        }
    } else {
        snprintf(prog, sizeof prog, "%s", HTTPSD_PYTHON);
    }
    st = PyConfig_SetBytesString(&c, &c.program_name, prog);
    if (!PyStatus_Exception(st)) {
        char *argv[] = {(char *)"httpsd", NULL};
        st = PyConfig_SetBytesArgv(&c, 1, argv);
    }
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&c);
    PyConfig_Clear(&c);
    if (PyStatus_Exception(st))
        return fail_status(st, "initialisation", err, errlen);

    if (set_sys_path(cfg->pythonpath) < 0 || environ_setup() < 0 || io_setup() < 0 ||
        response_setup() < 0) {
        snprintf(err, errlen, "cannot set up the WSGI environment");
        py_log_exception(err, 0);
        return -1;
    }
    W.threads = cfg->threads;
    W.multithread = cfg->threads > 1;
    W.app = load_app(&spec, err, errlen);
    return W.app ? 0 : -1;
}

int wsgi_preload(const struct cfg *cfg, char *err, size_t errlen)
{
    if (start_python(cfg, err, errlen) < 0)
        return -1;
    log_info("app %s preloaded (Python %s)", cfg->app, PY_VERSION);
    W.main_ts = PyEval_SaveThread(); /* the master runs without the GIL, and forks */
    preloaded = true;
    return 0;
}

int wsgi_init(const struct cfg *cfg, struct loop *loop, char *err, size_t errlen)
{
    if (preloaded) {
        /* A worker forked from a master that imported the app: this process's interpreter
         * state must be made its own (thread ids, locks, the GIL) before threads start. */
        PyEval_RestoreThread(W.main_ts);
        PyOS_AfterFork_Child();
    } else if (start_python(cfg, err, errlen) < 0) {
        return -1;
    }
    if (pool_start(cfg, loop, err, errlen) < 0)
        return -1;
    log_info("app %s loaded (Python %s, %zu thread%s)", cfg->app, PY_VERSION, cfg->threads,
             cfg->threads == 1 ? "" : "s");
    W.main_ts = PyEval_SaveThread(); /* the loop runs without the GIL */
    enabled = true;
    return 0;
}

bool wsgi_deinit(void)
{
    if (!enabled && preloaded) { /* the master of --preload: no threads, no loop */
        preloaded = false;
        PyEval_RestoreThread(W.main_ts);
        Py_CLEAR(W.app);
        if (Py_FinalizeEx() < 0)
            log_warn("Python finalisation reported an error");
        return true;
    }
    if (!enabled)
        return true;
    enabled = false;
    bool idle = pool_stop();
    if (!idle) {
        /* A thread is still inside the app (a request cut by --graceful-timeout or a 504):
         * finalising would wait for it or pull the interpreter from under it. */
        log_warn("app threads are still busy: exiting without finalising Python");
        return false;
    }
    PyEval_RestoreThread(W.main_ts);
    pool_drop_written(); /* references the connections held until they closed */
    errors_release();
    Py_CLEAR(W.app);
    if (Py_FinalizeEx() < 0)
        log_warn("Python finalisation reported an error");
    return true;
}
