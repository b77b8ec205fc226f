#include "master.h"

#include "listener.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "tls.h"
#include "wsgi/wsgi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100
#define MAX_WORKERS 256      /* -w and TTIN stop there */
#define MAX_SLOTS 1024       /* workers alive at once, reloads included */
#define BACKOFF_MIN_MS 1000  /* a worker that keeps dying is restarted after 1 s, 2 s, … */
#define BACKOFF_MAX_MS 30000 /* … up to 30 s */
#define STABLE_MS 10000      /* crashes closer together than this back off */
#define QUIT_GRACE_MS 3000   /* SIGQUIT: then SIGKILL */
#define STOP_EXTRA_MS 5000   /* TERM: --graceful-timeout and this much, then SIGKILL */

enum wstate { W_STARTING, W_READY };

struct worker {
    struct loop_io io; /* the read end of its pipe; fd -1 once closed */
    struct worker *next;
    pid_t pid;
    unsigned gen; /* the reload generation it belongs to */
    int slot;     /* its struct worker_slot */
    size_t index; /* its set of listeners: M.sets[index] */
    enum wstate state;
    bool retiring; /* told to stop on purpose (reload, TTOU, recycling): not replaced */
    bool killed;   /* SIGKILL sent by the heartbeat check */
    int64_t started_ms;
};

static struct master {
    const struct cfg *cfg;
    struct loop loop;
    struct loop_io sig;
    struct timer tick;
    int tl_tick; /* One set of listening sockets per worker index: TCP ones of an SO_REUSEPORT
                  * group, so the kernel spreads connections evenly. A worker replacing another
                  * (crash, reload) gets the same set, whose queue of connections waited for it.
                  * sets[0] is the original. */
    struct listener *sets[MAX_WORKERS];
    size_t nlisteners;
    struct tls_ctx *tls; /* the current generation's */
    struct worker *workers;
    struct worker *dead; /* reaped, freed after the current batch of events */
    void *stats_dead;    /* closed stats connections, likewise */
    struct loop_task free_dead;
    struct worker_slot *slots; /* shared memory, MAX_SLOTS of them */
    bool slot_used[MAX_SLOTS];
    size_t target; /* workers wanted (TTIN/TTOU change it) */
    unsigned gen, reload_from;
    bool started, stopping, reloading;
    int64_t stop_deadline, next_spawn, backoff_ms, last_crash_ms;
    int exit_code;
    pid_t pid;
    const char *pidfile; /* written: removed at exit */
    /* --stats */
    struct listener *stats; /* the endpoint (one socket), NULL when off */
    size_t nstats;
    struct stats_conn *stats_conns;
    size_t nstats_conns;
    struct worker_slot retired;     /* counters of workers that are gone */
    uint64_t restarts[MAX_WORKERS]; /* replacements after a crash, per worker index */
    int64_t started_ms;
    char notify[108]; /* $NOTIFY_SOCKET (systemd Type=notify), "" when none */
} M;

/* Tell systemd (sd_notify's datagram protocol, without libsystemd): READY=1, RELOADING=1,
 * STOPPING=1. A socket name starting with '@' is in the abstract namespace. */
static void notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify(const char *fmt, ...)
{
    if (!M.notify[0])
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(M.notify);
    memcpy(sun.sun_path, M.notify, len);
    if (sun.sun_path[0] == '@')
        sun.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || n < 0 ||
        sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        log_warn("cannot notify systemd at %s: %s", M.notify, strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* Every signal the master handles, or that would otherwise end it (master.c reads them from a
 * signalfd; the workers inherit the mask and set up their own). */
static void master_sigset(sigset_t *set)
{
    static const int sigs[] = {SIGHUP,  SIGINT,  SIGQUIT,   SIGTERM,   SIGUSR1,
                               SIGUSR2, SIGALRM, SIGTTIN,   SIGTTOU,   SIGCHLD,
                               SIGIO,   SIGPWR,  SIGSTKFLT, SIGVTALRM, SIGPROF};
    sigemptyset(set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(set, sigs[i]);
}

static int64_t now_ms(void)
{
    loop_update_time(&M.loop);
    return M.loop.now;
}

static size_t count(unsigned gen, bool ready_only)
{
    size_t n = 0;
    for (struct worker *w = M.workers; w; w = w->next)
        if (w->gen == gen && !w->retiring && (!ready_only || w->state == W_READY))
            n++;
    return n;
}

static void close_set(size_t i)
{
    if (!M.sets[i])
        return;
    listener_close_all(M.sets[i], M.nlisteners);
    free(M.sets[i]);
    M.sets[i] = NULL;
}

/* The lowest worker index the current generation does not use (a new or replacing worker
 * takes it, and its set of listeners). */
static size_t free_index(void)
{
    for (size_t i = 0;; i++) {
        bool used = false;
        for (struct worker *w = M.workers; w && !used; w = w->next)
            used = w->gen == M.gen && !w->retiring && w->index == i;
        if (!used)
            return i;
    }
}

/* ---- --stats ---------------------------------------------------------------------------- */

#define STATS_CONNS_MAX 32
#define STATS_DEADLINE_MS 2000

struct stats_conn {
    struct loop_io io;
    struct stats_conn *next;
    int64_t since;
    size_t len;
    char buf[1024];
};

static uint64_t get(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* The cumulative counters of w's slot go into the retired totals (it is gone). */
static void retire_counters(const struct worker_slot *w)
{
    struct worker_slot *r = &M.retired;
    atomic_fetch_add(&r->requests, get(&w->requests));
    for (int i = 0; i < 6; i++)
        atomic_fetch_add(&r->by_class[i], get(&w->by_class[i]));
    atomic_fetch_add(&r->s503, get(&w->s503));
    atomic_fetch_add(&r->s504, get(&w->s504));
    atomic_fetch_add(&r->bytes_in, get(&w->bytes_in));
    atomic_fetch_add(&r->bytes_out, get(&w->bytes_out));
    atomic_fetch_add(&r->tls_full, get(&w->tls_full));
    atomic_fetch_add(&r->tls_resumed, get(&w->tls_resumed));
}

struct totals {
    uint64_t requests, by_class[6], s503, s504, bytes_in, bytes_out, tls_full, tls_resumed;
    uint64_t plain, tls, idle, queue, busy, threads;
};

static void add_slot(struct totals *t, const struct worker_slot *w, bool gauges)
{
    t->requests += get(&w->requests);
    for (int i = 0; i < 6; i++)
        t->by_class[i] += get(&w->by_class[i]);
    t->s503 += get(&w->s503);
    t->s504 += get(&w->s504);
    t->bytes_in += get(&w->bytes_in);
    t->bytes_out += get(&w->bytes_out);
    t->tls_full += get(&w->tls_full);
    t->tls_resumed += get(&w->tls_resumed);
    if (!gauges)
        return;
    t->plain += get(&w->conns_plain);
    t->tls += get(&w->conns_tls);
    t->idle += get(&w->conns_idle);
    t->queue += get(&w->app_queue);
    t->busy += get(&w->app_busy);
    t->threads += get(&w->app_threads);
}

static void sum(struct totals *t)
{
    memset(t, 0, sizeof *t);
    add_slot(t, &M.retired, false);
    for (struct worker *w = M.workers; w; w = w->next)
        add_slot(t, &M.slots[w->slot], true);
}

static const char *const class_names[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

static int stats_json(char *out, size_t n)
{
    struct totals t;
    sum(&t);
    int k = snprintf(out, n, "{\"uptime_s\": %.1f, \"pid\": %d, \"generation\": %u, \"workers\": [",
                     (double)(now_ms() - M.started_ms) / 1000, (int)M.pid, M.gen);
    bool first = true;
    for (struct worker *w = M.workers; w && k > 0 && (size_t)k < n; w = w->next) {
        k += snprintf(out + k, n - (size_t)k,
                      "%s{\"pid\": %d, \"index\": %zu, \"generation\": %u, \"ready\": %s, "
                      "\"requests\": %llu, \"restarts\": %llu}",
                      first ? "" : ", ", (int)w->pid, w->index, w->gen,
                      w->state == W_READY ? "true" : "false",
                      (unsigned long long)get(&M.slots[w->slot].requests),
                      (unsigned long long)M.restarts[w->index]);
        first = false;
    }
    if (k > 0 && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k,
                      "], \"connections\": {\"plain\": %llu, \"tls\": %llu, \"idle\": %llu}, "
                      "\"requests\": {\"total\": %llu, \"1xx\": %llu, \"2xx\": %llu, "
                      "\"3xx\": %llu, \"4xx\": %llu, \"5xx\": %llu, \"other\": %llu, "
                      "\"503\": %llu, \"504\": %llu}, "
                      "\"bytes\": {\"in\": %llu, \"out\": %llu}, "
                      "\"tls_handshakes\": {\"full\": %llu, \"resumed\": %llu}, "
                      "\"app\": {\"queue\": %llu, \"busy_threads\": %llu, \"threads\": %llu}}\n",
                      (unsigned long long)t.plain, (unsigned long long)t.tls,
                      (unsigned long long)t.idle, (unsigned long long)t.requests,
                      (unsigned long long)t.by_class[1], (unsigned long long)t.by_class[2],
                      (unsigned long long)t.by_class[3], (unsigned long long)t.by_class[4],
                      (unsigned long long)t.by_class[5], (unsigned long long)t.by_class[0],
                      (unsigned long long)t.s503, (unsigned long long)t.s504,
                      (unsigned long long)t.bytes_in, (unsigned long long)t.bytes_out,
                      (unsigned long long)t.tls_full, (unsigned long long)t.tls_resumed,
                      (unsigned long long)t.queue, (unsigned long long)t.busy,
                      (unsigned long long)t.threads);
    return k;
}

static int stats_prometheus(char *out, size_t n)
{
    struct totals t;
    sum(&t);
    int k = snprintf(out, n,
                     "# HELP httpsd_uptime_seconds Seconds since the master started.\n"
                     "# TYPE httpsd_uptime_seconds gauge\n"
                     "httpsd_uptime_seconds %.1f\n"
                     "# HELP httpsd_requests_total Responses completed, by status class.\n"
                     "# TYPE httpsd_requests_total counter\n",
                     (double)(now_ms() - M.started_ms) / 1000);
    for (int i = 1; i <= 6 && k > 0 && (size_t)k < n; i++) {
        int c = i % 6; /* 1xx..5xx, then other */
        k += snprintf(out + k, n - (size_t)k, "httpsd_requests_total{class=\"%s\"} %llu\n",
                      class_names[c], (unsigned long long)t.by_class[c]);
    }
    if (k > 0 && (size_t)k < n)
        k += snprintf(
            out + k, n - (size_t)k,
            "# HELP httpsd_responses_503_total 503 responses (queue full, buffers spent).\n"
            "# TYPE httpsd_responses_503_total counter\n"
            "httpsd_responses_503_total %llu\n"
            "# HELP httpsd_responses_504_total 504 responses (--timeout).\n"
            "# TYPE httpsd_responses_504_total counter\n"
            "httpsd_responses_504_total %llu\n"
            "# HELP httpsd_bytes_total Bytes read from and written to clients.\n"
            "# TYPE httpsd_bytes_total counter\n"
            "httpsd_bytes_total{direction=\"in\"} %llu\n"
            "httpsd_bytes_total{direction=\"out\"} %llu\n"
            "# HELP httpsd_tls_handshakes_total Completed TLS handshakes.\n"
            "# TYPE httpsd_tls_handshakes_total counter\n"
            "httpsd_tls_handshakes_total{kind=\"full\"} %llu\n"
            "httpsd_tls_handshakes_total{kind=\"resumed\"} %llu\n"
            "# HELP httpsd_connections Open client connections.\n"
            "# TYPE httpsd_connections gauge\n"
            "httpsd_connections{kind=\"plain\"} %llu\n"
            "httpsd_connections{kind=\"tls\"} %llu\n"
            "httpsd_connections{kind=\"idle\"} %llu\n"
            "# HELP httpsd_app_queue Requests waiting for an app thread.\n"
            "# TYPE httpsd_app_queue gauge\n"
            "httpsd_app_queue %llu\n"
            "# HELP httpsd_app_threads App threads, and those running the app.\n"
            "# TYPE httpsd_app_threads gauge\n"
            "httpsd_app_threads{state=\"busy\"} %llu\n"
            "httpsd_app_threads{state=\"all\"} %llu\n"
            "# HELP httpsd_workers Worker processes.\n"
            "# TYPE httpsd_workers gauge\n"
            "httpsd_workers %zu\n",
            (unsigned long long)t.s503, (unsigned long long)t.s504, (unsigned long long)t.bytes_in,
            (unsigned long long)t.bytes_out, (unsigned long long)t.tls_full,
            (unsigned long long)t.tls_resumed, (unsigned long long)t.plain,
            (unsigned long long)t.tls, (unsigned long long)t.idle, (unsigned long long)t.queue,
            (unsigned long long)t.busy, (unsigned long long)t.threads, count(M.gen, false));
    uint64_t restarts = 0;
    for (size_t i = 0; i < MAX_WORKERS; i++)
        restarts += M.restarts[i];
    if (k > 0 && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k,
                      "# HELP httpsd_worker_restarts_total Workers replaced after a crash.\n"
                      "# TYPE httpsd_worker_restarts_total counter\n"
                      "httpsd_worker_restarts_total %llu\n",
                      (unsigned long long)restarts);
    return k;
}

static void stats_close(struct stats_conn *sc)
{
    struct stats_conn **pp = &M.stats_conns;
    while (*pp && *pp != sc)
        pp = &(*pp)->next;
    if (*pp)
        *pp = sc->next;
    loop_del(&M.loop, &sc->io);
    close(sc->io.fd);
    sc->io.fd = -1;
    M.nstats_conns--;
    /* freed after the batch: an event for it may still be in this one */
    sc->next = (struct stats_conn *)M.stats_dead;
    M.stats_dead = sc;
    loop_defer(&M.loop, &M.free_dead);
}

static void on_stats_conn(struct loop_io *io, uint32_t events)
{
    (void)events;
    struct stats_conn *sc = container_of(io, struct stats_conn, io);
    if (io->fd < 0)
        return;
    ssize_t r = recv(io->fd, sc->buf + sc->len, sizeof sc->buf - 1 - sc->len, 0);
    if (r <= 0) {
        if (r == 0 || (errno != EAGAIN && errno != EINTR))
            stats_close(sc);
        return;
    }
    sc->len += (size_t)r;
    sc->buf[sc->len] = 0;
    if (!strstr(sc->buf, "\r\n\r\n") && !strstr(sc->buf, "\n\n") && sc->len < sizeof sc->buf - 1)
        return; /* the head is not complete yet */
    static char body[16384];
    const char *type = "text/plain; charset=utf-8";
    int status = 200, n;
    if (strncmp(sc->buf, "GET / ", 6) == 0) {
        n = stats_json(body, sizeof body);
        type = "application/json";
    } else if (strncmp(sc->buf, "GET /metrics ", 13) == 0) {
        n = stats_prometheus(body, sizeof body);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
        status = 404;
        n = snprintf(body, sizeof body, "GET / (JSON) or GET /metrics (Prometheus)\n");
    }
    if (n < 0 || (size_t)n >= sizeof body)
        n = 0;
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nServer: httpsd\r\nContent-Type: %s\r\n"
                     "Content-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, status == 200 ? "OK" : "Not Found", type, n);
    struct iovec iov[2] = {{head, (size_t)h}, {body, (size_t)n}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    if (sendmsg(io->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != h + n)
        log_info("--stats: a short write to a client (it does not read)");
    shutdown(io->fd, SHUT_WR);
    stats_close(sc);
}

static void on_stats_accept(struct loop_io *io, uint32_t events)
{
    (void)events;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct stats_conn *sc = M.nstats_conns < STATS_CONNS_MAX ? calloc(1, sizeof *sc) : NULL;
        if (!sc) {
            close(fd);
            continue;
        }
        sc->io.fd = fd;
        sc->io.cb = on_stats_conn;
        sc->since = now_ms();
        if (loop_add(&M.loop, &sc->io, EPOLLIN) < 0) {
            close(fd);
            free(sc);
            continue;
        }
        sc->next = M.stats_conns;
        M.stats_conns = sc;
        M.nstats_conns++;
    }
}

/* --stats ADDR: unix:PATH or a loopback HOST:PORT, plain HTTP. 0, or -1 with err. */
static int stats_open(const char *addr, char *err, size_t errlen)
{
    char url[300];
    struct bind_spec b;
    snprintf(url, sizeof url, "%s%s", strncmp(addr, "unix:", 5) == 0 ? "" : "http://", addr);
    if (cfg_parse_bind(url, &b) < 0) {
        snprintf(err, errlen, "--stats %s: not unix:PATH or HOST:PORT", addr);
        return -1;
    }
    if (listener_open_all(&b, 1, false, &M.stats, &M.nstats, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < M.nstats; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        bool loopback = M.stats[i].is_unix;
        if (!loopback && getsockname(M.stats[i].io.fd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET)
                loopback = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
            else if (ss.ss_family == AF_INET6)
                loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
        }
        if (!loopback) {
            snprintf(err, errlen, "--stats %s: only a UNIX socket or a loopback address", addr);
            return -1;
        }
        M.stats[i].io.cb = on_stats_accept;
        if (loop_add(&M.loop, &M.stats[i].io, EPOLLIN) < 0) {
            snprintf(err, errlen, "epoll: %s", strerror(errno));
            return -1;
        }
        log_msg_always(LOG_INFO, "stats on %s", M.stats[i].url);
    }
    return 0;
}

static void close_pipe(struct worker *w)
{
    if (w->io.fd < 0)
        return;
    loop_del(&M.loop, &w->io);
    close(w->io.fd);
    w->io.fd = -1;
}

/* ---- the worker's side (after fork) ----------------------------------------------------- */

static void worker_main(int fd, int slot, size_t index, uint64_t max_requests)
{
    /* The master's descriptors are not the worker's business (fork, no exec: O_CLOEXEC does
     * not apply). */
    close(M.loop.epfd);
    close(M.sig.fd);
    for (struct worker *w = M.workers; w; w = w->next)
        if (w->io.fd >= 0)
            close(w->io.fd);
    for (size_t i = 0; i < MAX_WORKERS; i++) /* the other workers' listeners */
        if (i != index && M.sets[i])
            for (size_t j = 0; j < M.nlisteners; j++)
                close(M.sets[i][j].io.fd);
    /* If the master dies without stopping us, stop (gracefully) rather than linger. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != M.pid)
        _exit(0);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);

    struct worker_link link = {
        .fd = fd,
        .slot = &M.slots[slot],
        .max_requests = max_requests,
        .listeners = M.sets[index],
        .nlisteners = M.nlisteners,
        .tls = M.tls,
    };
    static struct server srv; /* large (read buffer): not on the stack */
    char err[512];
    if (server_init(&srv, M.cfg, &link, err, sizeof err) < 0) {
        log_msg(LOG_CRITICAL, "%s", err);
        log_flush_suppressed(true);
        _exit(1); /* Python may be half-started: no atexit handlers */
    }
    char ready = 'R';
    if (write(fd, &ready, 1) != 1)
        _exit(1);
    int code = server_run(&srv);
    server_publish(&srv); /* the last counts, for --stats */
    server_deinit(&srv);
    bool clean = !srv.quit && wsgi_deinit();
    log_flush_suppressed(true);
    if (!clean)
        _exit(code); /* SIGQUIT, or app threads still busy */
    exit(code);
}

/* ---- supervision ----------------------------------------------------------------------- */

static void on_worker_pipe(struct loop_io *io, uint32_t events);

static int alloc_slot(void)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        if (!M.slot_used[i]) {
            M.slot_used[i] = true;
            return i;
        }
    return -1;
}

static void spawn(void)
{
    size_t index = free_index();
    if (index >= MAX_WORKERS)
        return;
    if (!M.sets[index]) {
        char err[512];
        if (listener_clone_all(M.sets[0], M.nlisteners, &M.sets[index], err, sizeof err) < 0) {
            log_error("cannot start a worker: %s", err);
            M.next_spawn = now_ms() + BACKOFF_MIN_MS;
            return;
        }
    }
    int slot = alloc_slot();
    if (slot < 0) {
        log_error("cannot start a worker: %d are alive already", MAX_SLOTS);
        return;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        log_error("cannot start a worker: pipe: %s", strerror(errno));
        M.slot_used[slot] = false;
        return;
    }
    struct worker *w = calloc(1, sizeof *w);
    if (!w) {
        log_error("cannot start a worker: out of memory");
        close(p[0]);
        close(p[1]);
        M.slot_used[slot] = false;
        return;
    }
    int64_t now = now_ms();
    atomic_store(&M.slots[slot].heartbeat_ms, now);
    atomic_store(&M.slots[slot].requests, 0);
    uint64_t max_requests = M.cfg->max_requests;
    if (max_requests && M.cfg->max_requests_jitter) /* workers must not all recycle at once */
        max_requests += (uint64_t)random() % (M.cfg->max_requests_jitter + 1);
    pid_t pid = fork();
    if (pid < 0) {
        log_error("cannot start a worker: fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        free(w);
        M.slot_used[slot] = false;
        M.next_spawn = now + BACKOFF_MIN_MS;
        return;
    }
    if (pid == 0) {
        close(p[0]);
        worker_main(p[1], slot, index, max_requests);
    }
    close(p[1]);
    w->pid = pid;
    w->gen = M.gen;
    w->slot = slot;
    w->index = index;
    w->state = W_STARTING;
    w->started_ms = now;
    w->io.fd = p[0];
    w->io.cb = on_worker_pipe;
    if (loop_add(&M.loop, &w->io, EPOLLIN) < 0) {
        log_error("epoll: %s", strerror(errno));
        close(p[0]);
        w->io.fd = -1;
    }
    w->next = M.workers;
    M.workers = w;
    log_msg_always(LOG_INFO, "worker %d started (generation %u)", (int)pid, w->gen);
}

/* Start workers until the current generation has M.target of them (backoff permitting). */
static void fill(void)
{
    if (M.stopping)
        return;
    while (count(M.gen, false) < M.target && now_ms() >= M.next_spawn) {
        size_t before = count(M.gen, false);
        spawn();
        if (count(M.gen, false) == before)
            break; /* could not: retried on a later tick */
    }
}

static void retire(struct worker *w, int sig)
{
    w->retiring = true;
    if (kill(w->pid, sig) < 0 && errno != ESRCH)
        log_error("kill %d: %s", (int)w->pid, strerror(errno));
}

/* A worker others replace (reload, TTOU): a graceful stop without --drain-delay, since the
 * server as a whole stays up (its health must not say otherwise). */
static void replace(struct worker *w)
{
    w->retiring = true;
    if (sigqueue(w->pid, SIGTERM, (union sigval){.sival_int = MASTER_DRAIN_NOW}) < 0 &&
        errno != ESRCH)
        log_error("sigqueue %d: %s", (int)w->pid, strerror(errno));
}

static void all_ready_check(void)
{
    if (!M.started && count(M.gen, true) == M.target) {
        M.started = true;
        for (size_t i = 0; i < M.nlisteners; i++)
            log_msg_always(LOG_INFO, "listening on %s", M.sets[0][i].url);
        notify("READY=1\nMAINPID=%d\nSTATUS=%zu workers", (int)M.pid, M.target);
        log_msg_always(LOG_INFO, "master %d: %zu worker%s ready", (int)M.pid, M.target,
                       M.target == 1 ? "" : "s");
    }
    if (M.reloading && count(M.gen, true) >= M.target) {
        M.reloading = false;
        size_t old = 0;
        for (struct worker *w = M.workers; w; w = w->next)
            if (w->gen != M.gen && !w->retiring) {
                replace(w);
                old++;
            }
        notify("READY=1\nSTATUS=%zu workers (generation %u)", M.target, M.gen);
        log_msg_always(LOG_INFO, "SIGHUP: generation %u ready; draining %zu old worker%s", M.gen,
                       old, old == 1 ? "" : "s");
    }
}

static void on_worker_pipe(struct loop_io *io, uint32_t events)
{
    (void)events;
    struct worker *w = container_of(io, struct worker, io);
    char buf[64];
    ssize_t n = read(io->fd, buf, sizeof buf);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            close_pipe(w); /* it exited (SIGCHLD tells the rest) */
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == 'R' && w->state == W_STARTING) {
            w->state = W_READY;
            all_ready_check();
        } else if (buf[i] == 'C' && !w->retiring) {
            w->retiring = true; /* it drains and exits by itself; a new one takes its place */
            log_msg_always(LOG_INFO,
                           "worker %d is recycling (--max-requests): starting its replacement",
                           (int)w->pid);
            fill();
        }
    }
}

static void status_str(int status, char *out, size_t n)
{
    if (WIFEXITED(status))
        snprintf(out, n, "exited with code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, n, "killed by SIG%s%s", sigabbrev_np(WTERMSIG(status)),
                 WCOREDUMP(status) ? " (core dumped)" : "");
    else
        snprintf(out, n, "ended (status %d)", status);
}

static void begin_stop(int sig, int64_t grace_ms);

static void on_free_dead(struct loop_task *t)
{
    (void)t;
    while (M.dead) {
        struct worker *w = M.dead;
        M.dead = w->next;
        free(w);
    }
    while (M.stats_dead) {
        struct stats_conn *sc = M.stats_dead;
        M.stats_dead = sc->next;
        free(sc);
    }
}

static void reload_failed(struct worker *dead, const char *how)
{
    log_error("SIGHUP: a new worker %d %s before it was ready: reload abandoned, the old "
              "workers go on",
              (int)dead->pid, how);
    for (struct worker *w = M.workers; w; w = w->next)
        if (w->gen == M.gen && !w->retiring)
            retire(w, SIGKILL);
    M.gen = M.reload_from;
    M.reloading = false;
    notify("READY=1\nSTATUS=reload failed: the old workers go on");
}

static void reaped(struct worker *w, int status)
{
    char how[96];
    status_str(status, how, sizeof how);
    int64_t now = now_ms();
    bool expected = M.stopping || w->retiring || w->gen != M.gen;
    if (!M.started && !M.stopping) {
        log_msg(LOG_CRITICAL, "worker %d %s while starting: httpsd cannot start", (int)w->pid, how);
        M.exit_code = 1;
        begin_stop(SIGKILL, 0);
        return;
    }
    if (expected) {
        log_msg_always(LOG_INFO, "worker %d %s", (int)w->pid, how);
        return;
    }
    if (w->state == W_STARTING && M.reloading) {
        reload_failed(w, how);
        return;
    }
    M.restarts[w->index]++;
    /* A crash: replace it at once, but back off while crashes keep coming (an app that dies
     * at every start must not make the master fork in a loop). */
    int64_t lived = now - w->started_ms;
    if (M.last_crash_ms && now - M.last_crash_ms < STABLE_MS)
        M.backoff_ms = M.backoff_ms ? M.backoff_ms * 2 : BACKOFF_MIN_MS;
    else
        M.backoff_ms = 0;
    M.last_crash_ms = now;
    if (M.backoff_ms > BACKOFF_MAX_MS)
        M.backoff_ms = BACKOFF_MAX_MS;
    M.next_spawn = now + M.backoff_ms;
    char when[48] = " now";
    if (M.backoff_ms)
        snprintf(when, sizeof when, " in %.0f s (it keeps dying)", (double)M.backoff_ms / 1000);
    log_msg_always(LOG_ERROR, "worker %d %s%s after %.1f s: replacing it%s", (int)w->pid, how,
                   w->state == W_STARTING ? " before it was ready" : "", (double)lived / 1000,
                   when);
}

static void reap_all(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        struct worker **pp = &M.workers;
        while (*pp && (*pp)->pid != pid)
            pp = &(*pp)->next;
        struct worker *w = *pp;
        if (!w)
            continue;
        *pp = w->next;
        close_pipe(w);
        retire_counters(&M.slots[w->slot]);
        M.slot_used[w->slot] = false;
        reaped(w, status);
        /* Not freed here: an event for its pipe may still be in this batch (loop.c). */
        w->next = M.dead;
        M.dead = w;
        loop_defer(&M.loop, &M.free_dead);
    }
    if (M.stopping && !M.workers)
        M.loop.stop = true;
    fill();
}

static void begin_stop(int sig, int64_t grace_ms)
{
    if (M.stopping && sig == SIGTERM)
        return;
    M.stopping = true;
    M.stop_deadline = now_ms() + grace_ms;
    notify("STOPPING=1"); /* First the master's copies of the listening sockets, then the signal:
                           * a worker takes what is queued on its socket before it closes it, and
                           * the socket is gone with that (new connections are refused instead of
                           * queued on a socket nobody will accept from). */
    for (size_t i = 0; i < MAX_WORKERS; i++)
        close_set(i);
    for (struct worker *w = M.workers; w; w = w->next)
        retire(w, sig);
    if (!M.workers)
        M.loop.stop = true;
}

static void reload(unsigned from)
{
    if (!M.started || M.stopping) {
        log_warn("SIGHUP (from pid %u) while %s: ignored", from,
                 M.stopping ? "stopping" : "starting");
        return;
    }
    if (M.reloading) {
        log_warn("SIGHUP (from pid %u): a reload is in progress: ignored", from);
        return;
    }
    log_msg_always(LOG_INFO, "SIGHUP (from pid %u): reloading", from);
    if (M.tls) {
        struct tls_ctx *fresh;
        char err[512];
        if (tls_ctx_new(&fresh, M.cfg->certfile, M.cfg->keyfile, err, sizeof err) < 0) {
            log_error("SIGHUP: %s: keeping the certificate in use", err);
        } else {
            tls_ctx_free(M.tls);
            M.tls = fresh;
        }
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    notify("RELOADING=1\nMONOTONIC_USEC=%llu",
           (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    M.reload_from = M.gen;
    M.gen++;
    M.reloading = true;
    M.next_spawn = 0;
    fill();
}

static void on_signal(struct loop_io *io, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        unsigned from = si.ssi_pid;
        int graceful = (int)(M.cfg->drain_delay_ms + M.cfg->graceful_timeout_ms + STOP_EXTRA_MS);
        switch (si.ssi_signo) {
        case SIGCHLD: reap_all(); break;
        case SIGTERM:
        case SIGINT:
            if (M.stopping && si.ssi_signo == SIGINT) {
                log_warn("second SIGINT: stopping the workers now");
                begin_stop(SIGQUIT, QUIT_GRACE_MS);
                break;
            }
            if (!M.stopping)
                log_info("SIG%s (from pid %u): stopping %zu workers gracefully (up to %.1f s)",
                         sigabbrev_np((int)si.ssi_signo), from, count(M.gen, false),
                         (double)M.cfg->graceful_timeout_ms / 1000);
            begin_stop(SIGTERM, graceful);
            break;
        case SIGQUIT:
            log_info("SIGQUIT (from pid %u): stopping the workers now", from);
            begin_stop(SIGQUIT, QUIT_GRACE_MS);
            break;
        case SIGHUP: reload(from); break;
        case SIGUSR1: {
            log_info("SIGUSR1 (from pid %u): reopening the log files", from);
            log_flush_suppressed(true);
            int e = log_reopen();
            if (e < 0)
                log_error("cannot reopen the error log: %s", strerror(-e));
            for (struct worker *w = M.workers; w; w = w->next)
                kill(w->pid, SIGUSR1);
            break;
        }
        case SIGTTIN:
            if (M.target >= MAX_WORKERS || M.stopping || M.reloading)
                break;
            M.target++;
            log_msg_always(LOG_INFO, "SIGTTIN (from pid %u): %zu workers", from, M.target);
            fill();
            break;
        case SIGTTOU: {
            if (M.target <= 1 || M.stopping || M.reloading) {
                log_info("SIGTTOU (from pid %u): %zu worker%s already: ignored", from, M.target,
                         M.target == 1 ? "" : "s");
                break;
            }
            M.target--;
            struct worker *newest = NULL; /* the list is newest first */
            for (struct worker *w = M.workers; w && !newest; w = w->next)
                if (w->gen == M.gen && !w->retiring)
                    newest = w;
            if (newest) {
                replace(newest);
                if (newest->index > 0) /* it takes what is queued there, then closes it */
                    close_set(newest->index);
            }
            log_msg_always(LOG_INFO, "SIGTTOU (from pid %u): %zu workers", from, M.target);
            break;
        }
        default:
            log_warn("SIG%s (from pid %u): it has no meaning for httpsd: ignored",
                     sigabbrev_np((int)si.ssi_signo), from);
            break;
        }
    }
}

/* Ten times a second: start workers that are due, kill those whose loop stopped ticking, and
 * those that outlive the stop. */
static void on_tick(struct timer *t)
{
    int64_t now = now_ms();
    fill();
    for (struct worker *w = M.workers; w; w = w->next) {
        int64_t beat = atomic_load(&M.slots[w->slot].heartbeat_ms);
        int64_t limit = w->state == W_READY ? M.cfg->worker_timeout_ms
                                            : M.cfg->worker_timeout_ms + 60000; /* importing */
        if (!w->killed && now - beat > limit) {
            log_error("worker %d has not answered for %.1f s (--worker-timeout): killing it",
                      (int)w->pid, (double)(now - beat) / 1000);
            w->killed = true;
            kill(w->pid, SIGKILL);
        }
        if (M.stopping && now > M.stop_deadline && !w->killed) {
            log_warn("worker %d is still running: killing it", (int)w->pid);
            w->killed = true;
            kill(w->pid, SIGKILL);
        }
    }
    for (struct stats_conn *sc = M.stats_conns, *next; sc; sc = next) {
        next = sc->next;
        if (now - sc->since > STATS_DEADLINE_MS)
            stats_close(sc);
    }
    log_flush_suppressed(false);
    loop_timer_arm(&M.loop, t, M.tl_tick);
}

int pidfile_write(const char *path, char *err, size_t errlen)
{
    if (!path)
        return 0;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "--pid %s: name too long", path);
        return -1;
    }
    FILE *f = fopen(tmp, "we");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot write --pid %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

void pidfile_remove(const char *path)
{
    if (path)
        unlink(path);
}

int master_run(const struct cfg *cfg)
{
    char err[512];
    M.cfg = cfg;
    M.target = cfg->workers;
    M.pid = getpid();
    M.sig.fd = -1;
    srandom((unsigned)(M.pid ^ time(NULL)));
    const char *ns = getenv("NOTIFY_SOCKET");
    if (ns && strlen(ns) < sizeof M.notify)
        snprintf(M.notify, sizeof M.notify, "%s", ns);
    unsetenv("NOTIFY_SOCKET"); /* the master speaks for its workers and their app */
    sigset_t set;
    master_sigset(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (loop_init(&M.loop) < 0) {
        log_msg(LOG_CRITICAL, "epoll: %s", strerror(errno));
        return 1;
    }
    M.tl_tick = loop_timer_list(&M.loop, TICK_MS);
    M.tick.cb = on_tick;
    M.free_dead.cb = on_free_dead;
    M.sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    M.sig.cb = on_signal;
    M.slots = mmap(NULL, MAX_SLOTS * sizeof *M.slots, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int code = 1;
    if (M.sig.fd < 0 || loop_add(&M.loop, &M.sig, EPOLLIN) < 0 || M.slots == MAP_FAILED) {
        log_msg(LOG_CRITICAL, "cannot set up the master: %s", strerror(errno));
        goto out;
    }
    bool need_tls = false;
    for (size_t i = 0; i < cfg->nbinds; i++)
        need_tls |= cfg->binds[i].kind == BIND_TLS;
    /* The certificate first: a generated one is made once, here, not by every worker. */
    if (need_tls && tls_ctx_new(&M.tls, cfg->certfile, cfg->keyfile, err, sizeof err) < 0) {
        log_msg(LOG_CRITICAL, "%s", err);
        goto out;
    }
    if (listener_open_or_inherit(cfg->binds, cfg->nbinds, true, &M.sets[0], &M.nlisteners, err,
                                 sizeof err) < 0) {
        log_msg(LOG_CRITICAL, "%s", err);
        goto out;
    }
    if (cfg->user && !getpwnam(cfg->user)) {
        log_msg(LOG_CRITICAL, "--user %s: no such user", cfg->user);
        goto out;
    }
    if (cfg->group && !getgrnam(cfg->group)) {
        log_msg(LOG_CRITICAL, "--group %s: no such group", cfg->group);
        goto out;
    }
    M.started_ms = now_ms();
    if (cfg->stats && stats_open(cfg->stats, err, sizeof err) < 0) {
        log_msg(LOG_CRITICAL, "%s", err);
        goto out;
    }
    if (cfg->preload && cfg->app && wsgi_preload(cfg, err, sizeof err) < 0) {
        log_msg(LOG_CRITICAL, "%s", err);
        goto out;
    }
    if (pidfile_write(cfg->pidfile, err, sizeof err) < 0) {
        log_msg(LOG_CRITICAL, "%s", err);
        goto out;
    }
    M.pidfile = cfg->pidfile;
    log_msg_always(LOG_INFO, "master %d: starting %zu worker%s", (int)M.pid, M.target,
                   M.target == 1 ? "" : "s");
    loop_timer_arm(&M.loop, &M.tick, M.tl_tick);
    fill();
    if (loop_run(&M.loop) < 0)
        log_error("event loop: %s", strerror(errno));
    code = M.exit_code;
out:
    while (M.workers) { /* only after a failed start: they were sent SIGKILL */
        struct worker *w = M.workers;
        M.workers = w->next;
        waitpid(w->pid, NULL, 0);
        close_pipe(w);
        free(w);
    }
    while (M.stats_conns)
        stats_close(M.stats_conns);
    on_free_dead(NULL);
    if (M.stats) {
        listener_close_all(M.stats, M.nstats);
        free(M.stats);
    }
    pidfile_remove(M.pidfile);
    if (!wsgi_deinit()) /* --preload: the master's interpreter */
        log_warn("Python could not be finalised");
    for (size_t i = 0; i < MAX_WORKERS; i++)
        close_set(i);
    tls_ctx_free(M.tls);
    if (M.slots && M.slots != MAP_FAILED)
        munmap(M.slots, MAX_SLOTS * sizeof *M.slots);
    if (M.sig.fd >= 0)
        close(M.sig.fd);
    loop_deinit(&M.loop);
    log_flush_suppressed(true);
    log_info("stopped");
    return code;
}
