#include "server.h"

#include "accesslog.h"
#include "body.h"
#include "conn.h"
#include "http1.h"
#include "log.h"
#include "master.h"
#include "tls.h"
#include "wsgi/wsgi.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdatomic.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 256
#define ACCEPT_RETRY_MS 100
#define LINGER_MS 2000
#define TRIM_AFTER_MS 1000
#define DRAIN_IDLE_MS 1000 /* see http1_drain */
#define TRIM_EVERY_MS 10000
#define GIVE_BACK_AFTER 64 /* connections gone (or no longer waiting) since the last look */

static void pause_accept(struct server *s, bool pause);

void server_conn_added(struct server *s, struct conn *c)
{
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    s->ntls += c->tls != NULL;
}

void server_conn_removed(struct server *s, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    s->ntls -= c->tls != NULL;
    if (s->draining && s->nconns == 0)
        s->loop.stop = true;
    if (s->accept_paused && s->nconns < s->max_conns && !s->draining &&
        !timer_is_armed(&s->accept_retry))
        pause_accept(s, false);
}

/* A worker's TCP listeners are its own sockets of an SO_REUSEPORT group (the kernel spreads
 * connections over the workers; see ARCHITECTURE.md); a UNIX socket is shared by all, and
 * EPOLLEXCLUSIVE wakes one worker per connection instead of all. EPOLLEXCLUSIVE cannot be
 * changed with EPOLL_CTL_MOD, so pausing removes the socket and resuming adds it again. */
static uint32_t listen_events(const struct server *s, const struct listener *l)
{
    return s->link && l->shared ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN;
}

static void pause_accept(struct server *s, bool pause)
{
    if (pause == s->accept_paused)
        return;
    for (size_t i = 0; i < s->nlisteners; i++) {
        struct loop_io *io = &s->listeners[i].io;
        if (io->fd < 0)
            continue;
        if (pause)
            loop_del(&s->loop, io);
        else if (loop_add(&s->loop, io, listen_events(s, &s->listeners[i])) < 0)
            log_error("cannot resume listener: %s", strerror(errno));
    }
    s->accept_paused = pause;
}

static void on_accept_retry(struct timer *t)
{
    struct server *s = container_of(t, struct server, accept_retry);
    if (!s->draining)
        pause_accept(s, false);
}

static void on_accept(struct loop_io *io, uint32_t events)
{
    (void)events;
    struct listener *l = container_of(io, struct listener, io);
    struct server *s = l->owner;
    if (io->fd < 0) /* closed by a drain earlier in this batch of events */
        return;
    static const struct sockaddr unix_peer = {.sa_family = AF_UNIX};
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        if (s->nconns >= s->max_conns) {
            /* Keep descriptors for files and logs: stop accepting until a connection ends. */
            log_warn("%zu connections: at the limit set by RLIMIT_NOFILE, not accepting more",
                     s->nconns);
            pause_accept(s, true);
            return;
        }
        union conn_addr peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(io->fd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            if (errno == ECONNABORTED || errno == EPROTO || errno == EPERM)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: keep serving what we have and retry a bit later, instead
                 * of spinning on a listener that stays readable. */
                log_warn("accept: %s; retrying in %d ms (%zu connections open)", strerror(errno),
                         ACCEPT_RETRY_MS, s->nconns);
                pause_accept(s, true);
                loop_timer_arm(&s->loop, &s->accept_retry, s->tl_accept_retry);
                return;
            }
            log_error("accept: %s", strerror(errno));
            return;
        }
        if (!l->is_unix) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        } else {
            plen = 0;
        }
        if (l->proxy && !netmask_match(&s->proxy_allow, l->is_unix ? &unix_peer : &peer.sa)) {
            char addr[INET6_ADDRSTRLEN] = "unix";
            if (!l->is_unix)
                conn_addr_str(&peer, addr, sizeof addr, NULL);
            log_warn("connection from %s to a PROXY protocol listener: not in --proxy-allow-from: "
                     "closed",
                     addr);
            close(fd);
            continue;
        }
        struct tls_conn *tls = NULL;
        if (l->tls && !(tls = tls_conn_new(s->tls, fd))) {
            log_error("cannot create a TLS session");
            close(fd);
            continue;
        }
        if (http1_accept(s, fd, tls, &peer, plen, l->proxy) < 0) {
            log_error("cannot set up a connection: out of memory");
            if (tls)
                tls_conn_free(tls);
            close(fd);
        }
    }
}

static void start_drain(struct server *s, const char *why)
{
    if (s->draining)
        return;
    s->stopping = true;
    timer_cancel(&s->drain_delay);
    s->draining = true;
    log_info("%s: shutting down: draining %zu connections (up to %.1f s)", why, s->nconns,
             (double)s->cfg->graceful_timeout_ms / 1000);
    /* Connections the kernel completed but nobody accepted yet would be reset when the last
     * descriptor of the socket closes: take them (they are answered, with Connection: close). */
    for (size_t i = 0; i < s->nlisteners && !s->accept_paused; i++)
        if (s->listeners[i].io.fd >= 0)
            on_accept(&s->listeners[i].io, EPOLLIN);
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].io.fd >= 0 && !s->accept_paused)
            loop_del(&s->loop, &s->listeners[i].io);
    listener_close_all(s->listeners, s->nlisteners);
    timer_cancel(&s->accept_retry);
    timer_cancel(&s->trim);
    for (struct conn *c = s->conns; c; c = c->next)
        c->proto->on_shutdown(c);
    loop_timer_arm(&s->loop, &s->graceful, s->tl_graceful);
    if (s->nconns == 0)
        s->loop.stop = true;
}

/* Hand the heap's free pages back to the kernel (and the cached body chunks to the heap):
 * glibc keeps up to 64 MiB free per arena (main.c) and blocks below 4 MiB in the heap, so memory
 * freed after a burst would stay resident (500 slow TLS readers left ~100 MiB behind). Done
 * after a burst (many connections gone, or no longer waiting on their client, since the last
 * look; and once more a second later: the responses of closed connections are freed by the
 * app threads, some after the first look), in the first second without a completed response,
 * and every TRIM_EVERY_MS under steady load — never per request: refaulting the pages costs
 * more than keeping them. */
static void give_back_memory(struct server *s, size_t waiting)
{
    if (s->nconns > s->peak_conns)
        s->peak_conns = s->nconns;
    if (waiting > s->peak_waiting)
        s->peak_waiting = waiting;
    bool burst_over = s->peak_conns - s->nconns >= GIVE_BACK_AFTER ||
                      s->peak_waiting - waiting >= GIVE_BACK_AFTER;
    bool worked = s->requests != s->trim_requests;
    bool paused = worked && s->requests == s->tick_requests;
    bool due = worked && s->loop.now - s->trimmed_at >= TRIM_EVERY_MS;
    bool again = s->retrim;
    s->tick_requests = s->requests;
    s->retrim = burst_over;
    if (!burst_over && !paused && !due && !again)
        return;
    body_release_cache();
    malloc_trim(0);
    s->peak_conns = s->nconns;
    s->peak_waiting = waiting;
    s->trim_requests = s->requests;
    s->trimmed_at = s->loop.now;
}

/* Once a second: connections idle for a second or more give back their buffers. The idle
 * list is in arming order, so the walk stops at the first one that went idle recently. */
static void on_trim(struct timer *t)
{
    struct server *s = container_of(t, struct server, trim);
    struct timer_list *tl = &s->loop.lists[s->tl[CONN_T_IDLE]];
    int64_t idle_since_before = s->loop.now - TRIM_AFTER_MS + tl->timeout_ms;
    for (struct timer *it = tl->head.next; it != &tl->head; it = it->next) {
        if (it->deadline > idle_since_before)
            break;
        conn_idle(container_of(it, struct conn, timer));
    }
    /* Connections waiting on the client (reading a body, writing a response): cut those
     * under --min-rate, make the others hold no more than the bytes that wait. */
    struct timer_list *io = &s->loop.lists[s->tl[CONN_T_IO]];
    size_t waiting = 0;
    for (struct timer *it = io->head.next, *next; it != &io->head; it = next) {
        next = it->next; /* a cut connection leaves the list */
        struct conn *c = container_of(it, struct conn, timer);
        if (s->cfg->min_rate)
            conn_check_rate(c, s->cfg->min_rate);
        conn_shrink(c);
        waiting++;
    }
    give_back_memory(s, waiting);
    loop_timer_arm(&s->loop, &s->trim, s->tl_trim);
}

static void on_drain_delay(struct timer *t)
{
    start_drain(container_of(t, struct server, drain_delay), "--drain-delay over");
}

/* SIGTERM: with --drain-delay the listeners stay open that long while health checks answer
 * 503, so a load balancer takes this backend out before connections are refused (a second TERM
 * changes nothing; SIGQUIT or two SIGINTs stop at once); a TERM the master sends to a worker it
 * replaces (reload, TTOU) drains at once. */
static void on_term(struct server *s, const struct signalfd_siginfo *si)
{
    bool now = si->ssi_code == SI_QUEUE && si->ssi_int == MASTER_DRAIN_NOW;
    if (s->draining || now || s->cfg->drain_delay_ms == 0) {
        start_drain(s, "SIGTERM");
        return;
    }
    if (s->stopping) /* systemd signals every process of the unit, the master too */
        return;
    s->stopping = true;
    log_info("SIGTERM: stopping: health checks answer 503; still accepting for %.1f s "
             "(--drain-delay)",
             (double)s->cfg->drain_delay_ms / 1000);
    loop_timer_arm(&s->loop, &s->drain_delay, s->tl_drain_delay);
}

static void on_graceful_timeout(struct timer *t)
{
    struct server *s = container_of(t, struct server, graceful);
    log_warn("graceful timeout: closing %zu connections", s->nconns);
    s->loop.stop = true;
}

void server_request_done(struct server *s, int status)
{
    s->requests++;
    s->by_class[status >= 100 && status < 600 ? status / 100 : 0]++;
    s->s503 += status == 503;
    s->s504 += status == 504;
    if (!s->link)
        return;
    atomic_store_explicit(&s->link->slot->requests, s->requests, memory_order_relaxed);
    if (s->link->max_requests && s->requests >= s->link->max_requests && !s->draining) {
        /* Tell the master first: it starts the replacement while this one drains. */
        char c = 'C';
        if (write(s->link->fd, &c, 1) != 1)
            log_error("cannot tell the master: %s", strerror(errno));
        s->recycling = true;
        char why[64];
        snprintf(why, sizeof why, "%llu requests (--max-requests)",
                 (unsigned long long)s->requests);
        start_drain(s, why);
    }
}

#define PUT(field, v) atomic_store_explicit(&slot->field, (v), memory_order_relaxed)

void server_publish(struct server *s)
{
    if (!s->link)
        return;
    struct worker_slot *slot = s->link->slot;
    for (int i = 0; i < 6; i++)
        PUT(by_class[i], s->by_class[i]);
    PUT(s503, s->s503);
    PUT(s504, s->s504);
    PUT(bytes_in, s->bytes_in);
    PUT(bytes_out, s->bytes_out);
    PUT(tls_full, s->tls_full);
    PUT(tls_resumed, s->tls_resumed);
    PUT(conns_tls, s->ntls);
    PUT(conns_plain, s->nconns - s->ntls);
    size_t idle = 0;
    struct timer_list *tl = &s->loop.lists[s->tl[CONN_T_IDLE]];
    for (struct timer *it = tl->head.next; it != &tl->head; it = it->next)
        idle++;
    PUT(conns_idle, idle);
    size_t queued = 0, busy = 0, threads = 0;
    wsgi_stats(&queued, &busy, &threads);
    PUT(app_queue, queued);
    PUT(app_busy, busy);
    PUT(app_threads, threads);
}

#undef PUT

/* Once a second, draining or not: the count lines of flood control (log.h), the heartbeat
 * the master watches (--worker-timeout) and the counters of --stats. */
static void on_logtick(struct timer *t)
{
    struct server *s = container_of(t, struct server, logtick);
    log_flush_suppressed(false);
    if (s->link) {
        atomic_store_explicit(&s->link->slot->heartbeat_ms, s->loop.now, memory_order_relaxed);
        server_publish(s);
    }
    loop_timer_arm(&s->loop, &s->logtick, s->tl_trim);
}

/* Every signal that would otherwise end the process (or stop it, for TTIN/TTOU) and that is
 * not a fault: blocked in every thread and read from a signalfd by the loop, so none can kill
 * the server silently and none interrupts an app thread. Faults (SEGV, BUS, FPE, ILL, ABRT,
 * SYS, TRAP), resource limits (XCPU, XFSZ), real-time signals and job control (TSTP, STOP,
 * CONT) keep their usual actions. */
static const int server_signals[] = {
    SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,   SIGUSR2,   SIGALRM,
    SIGTTIN, SIGTTOU, SIGIO,   SIGPWR,  SIGSTKFLT, SIGVTALRM, SIGPROF,
};

static void server_sigset(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof server_signals / sizeof server_signals[0]; i++)
        sigaddset(set, server_signals[i]);
}

/* SIGUSR1, for logrotate: both log files are opened again by name. */
static void reopen_logs(struct server *s, unsigned from)
{
    log_info("SIGUSR1 (from pid %u): reopening the log files", from);
    log_flush_suppressed(true); /* counts of lines before the rotation go with them */
    int e = log_reopen();
    if (e < 0)
        log_error("cannot reopen the error log %s: %s; still writing to the old file",
                  s->cfg->error_log, strerror(-e));
    if (s->alog && (e = accesslog_reopen(s->alog)) < 0)
        log_error("cannot reopen the access log %s: %s; still writing to the old file",
                  s->cfg->access_log, strerror(-e));
    log_info("log files reopened");
}

static void on_signal(struct loop_io *io, uint32_t events)
{
    (void)events;
    struct server *s = container_of(io, struct server, sig_io);
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        unsigned from = si.ssi_pid;
        switch (si.ssi_signo) {
        case SIGTERM: on_term(s, &si); break;
        case SIGINT:
            if (s->draining) {
                log_warn("second SIGINT: exiting now");
                s->loop.stop = true;
            }
            start_drain(s, "SIGINT");
            break;
        case SIGQUIT:
            /* DESIGN.md: QUIT is the immediate stop (TERM and INT are the graceful one). */
            log_info("SIGQUIT (from pid %u): stopping now, without draining %zu connections", from,
                     s->nconns);
            s->quit = true;
            s->loop.stop = true;
            break;
        case SIGUSR1: reopen_logs(s, from); break;
        case SIGHUP:
        case SIGTTIN:
        case SIGTTOU:
            if (s->link)
                log_warn("SIG%s (from pid %u) is for the master (pid %d), not a worker: ignored",
                         sigabbrev_np((int)si.ssi_signo), from, (int)getppid());
            else
                log_warn("SIG%s (from pid %u): reloading and changing the number of workers "
                         "need the master (-w 1 or more); this is -w 0: ignored",
                         sigabbrev_np((int)si.ssi_signo), from);
            break;
        case SIGUSR2:
            log_warn("SIGUSR2 (from pid %u): it has no meaning for httpsd: ignored", from);
            break;
        case SIGALRM:
            log_warn("SIGALRM (from pid %u): it has no meaning for httpsd: ignored", from);
            break;
        default:
            log_warn("SIG%s (from pid %u): it has no meaning for httpsd: ignored",
                     sigabbrev_np((int)si.ssi_signo), from);
            break;
        }
    }
}

static void on_turn(void *arg)
{
    struct server *s = arg;
    if (s->alog)
        accesslog_flush(s->alog);
}

/* Raise the descriptor limit to its hard maximum and keep a reserve below it for files being
 * sent, logs and listeners; returns how many connections may be open at once. */
static size_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1000;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30))
        return 1u << 30;
    size_t n = (size_t)rl.rlim_cur;
    size_t reserve = n / 4 < 32 ? n / 4 : (n / 16 > 256 ? 256 : (n / 16 < 32 ? 32 : n / 16));
    return n > reserve + 16 ? n - reserve - 16 : 1;
}

/* --user/--group: switch to them once the sockets are bound, the key read and the logs open,
 * before the app is imported. 0, or -1 with the reason in err. */
static int drop_privileges(const struct server *s, char *err, size_t errlen)
{
    const struct cfg *cfg = s->cfg;
    if (!cfg->user && !cfg->group)
        return 0;
    uid_t uid = getuid();
    gid_t gid = getgid();
    const struct passwd *pw = NULL;
    if (cfg->user) {
        if (!(pw = getpwnam(cfg->user))) {
            snprintf(err, errlen, "--user %s: no such user", cfg->user);
            return -1;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (cfg->group) {
        const struct group *gr = getgrnam(cfg->group);
        if (!gr) {
            snprintf(err, errlen, "--group %s: no such group", cfg->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    int e = pw ? initgroups(pw->pw_name, gid) : setgroups(1, &gid);
    if (e < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        snprintf(err, errlen, "cannot switch to %s%s%s: %s", cfg->user ? cfg->user : "",
                 cfg->group ? ":" : "", cfg->group ? cfg->group : "", strerror(errno));
        return -1;
    }
    if (uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "--user %s: root could be regained", cfg->user);
        return -1;
    }
    if (s->link) /* changing credentials clears the parent-death signal */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    return 0;
}

int server_init(struct server *s, const struct cfg *cfg, struct worker_link *link, char *err,
                size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->link = link;
    s->sig_io.fd = -1;
    /* First of all, before any thread exists (app threads start in wsgi_init and inherit this
     * mask): a signal that arrives during start-up waits for the loop instead of killing. */
    sigset_t set;
    server_sigset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int e = loop_init(&s->loop);
    if (e < 0) {
        snprintf(err, errlen, "epoll: %s", strerror(-e));
        return e;
    }
    s->max_conns = raise_nofile();
    body_set_budget(cfg->buffer_memory, cfg->buffer_disk);
    struct loop *l = &s->loop;
    s->tl[CONN_T_HANDSHAKE] = loop_timer_list(l, cfg->handshake_timeout_ms);
    s->tl[CONN_T_HEADER] = loop_timer_list(l, cfg->header_timeout_ms);
    s->tl[CONN_T_IDLE] = loop_timer_list(l, cfg->keep_alive_ms);
    s->tl[CONN_T_IO] = loop_timer_list(l, cfg->io_timeout_ms);
    s->tl[CONN_T_LINGER] = loop_timer_list(l, LINGER_MS);
    s->tl[CONN_T_APP] = loop_timer_list(l, cfg->app_timeout_ms);
    s->tl[CONN_T_DRAIN] = loop_timer_list(l, DRAIN_IDLE_MS);
    s->tl_stream_io = loop_timer_list(l, cfg->io_timeout_ms);
    s->tl_stream_app = loop_timer_list(l, cfg->app_timeout_ms);
    s->tl_accept_retry = loop_timer_list(l, ACCEPT_RETRY_MS);
    s->tl_graceful = loop_timer_list(l, cfg->graceful_timeout_ms);
    s->tl_trim = loop_timer_list(l, TRIM_AFTER_MS);
    s->trim.cb = on_trim;
    loop_timer_arm(l, &s->trim, s->tl_trim);
    s->logtick.cb = on_logtick;
    loop_timer_arm(l, &s->logtick, s->tl_trim);
    s->accept_retry.cb = on_accept_retry;
    s->graceful.cb = on_graceful_timeout;
    s->tl_drain_delay = loop_timer_list(l, cfg->drain_delay_ms);
    s->drain_delay.cb = on_drain_delay;
    l->on_turn = on_turn;
    l->on_turn_arg = s;

    if ((e = router_init(&s->router, cfg, s, err, errlen)) < 0)
        goto fail;
    if ((e = netmask_parse(&s->proxy_allow, cfg->proxy_allow_from, err, errlen)) < 0 ||
        (e = netmask_parse(&s->forwarded_allow, cfg->forwarded_allow_ips, err, errlen)) < 0)
        goto fail;
    if (cfg->access_log && !(s->alog = accesslog_open(cfg->access_log))) {
        e = -errno;
        snprintf(err, errlen, "cannot open access log %s: %s", cfg->access_log, strerror(errno));
        goto fail;
    }
    if (link) { /* the master's: this process has its own copies */
        s->tls = link->tls;
        s->listeners = link->listeners;
        s->nlisteners = link->nlisteners;
        link->tls = NULL;
        link->listeners = NULL;
        for (size_t i = 0; i < s->nlisteners; i++)
            s->listeners[i].path[0] = 0; /* a UNIX socket's path is the master's to unlink */
    } else {
        bool need_tls = false;
        for (size_t i = 0; i < cfg->nbinds; i++)
            need_tls |= cfg->binds[i].kind == BIND_TLS;
        if (need_tls && (e = tls_ctx_new(&s->tls, cfg->certfile, cfg->keyfile, err, errlen)) < 0)
            goto fail;
        if ((e = listener_open_or_inherit(cfg->binds, cfg->nbinds, false, &s->listeners,
                                          &s->nlisteners, err, errlen)) < 0)
            goto fail;
    }
    if (s->tls)
        tls_ctx_offer_h2(s->tls, cfg->http2);
    for (size_t i = 0; i < s->nlisteners; i++) {
        s->listeners[i].io.cb = on_accept;
        s->listeners[i].owner = s;
        if ((e = loop_add(l, &s->listeners[i].io, listen_events(s, &s->listeners[i]))) < 0) {
            snprintf(err, errlen, "epoll: %s", strerror(-e));
            goto fail;
        }
    }
    s->hsts_len = hsts_header_line(cfg->hsts, s->hsts_line, sizeof s->hsts_line);
    for (size_t i = 0; i < s->nlisteners; i++) { /* --redirect-http's target port */
        const char *url = s->listeners[i].url, *colon = strrchr(url, ':');
        if (s->listeners[i].tls && colon) {
            snprintf(s->redirect_port, sizeof s->redirect_port, "%s",
                     strcmp(colon + 1, "443") == 0 ? "" : colon + 1);
            break;
        }
    }
    if (drop_privileges(s, err, errlen) < 0) {
        e = -EPERM;
        goto fail;
    }
    s->sig_io.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    s->sig_io.cb = on_signal;
    if (s->sig_io.fd < 0 || (e = loop_add(l, &s->sig_io, EPOLLIN)) < 0) {
        e = -errno;
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        goto fail;
    }
    /* The app is imported before anything is announced: a broken app never leaves a
     * half-started server behind. */
    if (cfg->app && wsgi_init(cfg, l, err, errlen) < 0) { /* main calls wsgi_deinit */
        e = -EINVAL;
        goto fail;
    }
    if (!link && pidfile_write(cfg->pidfile, err, errlen) < 0) { /* -w 0: no master writes it */
        e = -EIO;
        goto fail;
    }
    if (!link) /* with a master, it says so once every worker is ready */
        for (size_t i = 0; i < s->nlisteners; i++)
            log_msg_always(LOG_INFO, "listening on %s", s->listeners[i].url);
    return 0;
fail:
    server_deinit(s);
    return e < 0 ? e : -EINVAL;
}

int server_run(struct server *s)
{
    int e = loop_run(&s->loop);
    if (e < 0) {
        log_error("event loop: %s", strerror(-e));
        return 1;
    }
    if (s->nconns)
        log_info("closing %zu connections", s->nconns);
    return 0;
}

void server_deinit(struct server *s)
{
    while (s->conns) /* at exit: release everything so leak checkers stay quiet */
        conn_destroy(s->conns);
    if (s->listeners) {
        listener_close_all(s->listeners, s->nlisteners);
        free(s->listeners);
        s->listeners = NULL;
    }
    router_deinit(&s->router);
    netmask_deinit(&s->proxy_allow);
    netmask_deinit(&s->forwarded_allow);
    tls_ctx_free(s->tls);
    s->tls = NULL;
    accesslog_close(s->alog);
    s->alog = NULL;
    if (s->sig_io.fd >= 0)
        close(s->sig_io.fd);
    s->sig_io.fd = -1;
    loop_deinit(&s->loop);
}
