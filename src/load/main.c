/* httpsd-load: the parent process. Parses the command line, resolves the target once, forks
 * the workers, shows progress, then merges the workers' stats exactly and reports.
 * Exit codes: 0 ran, 1 every request failed (or a run-time failure), 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lcfg.h"
#include "ltls.h"
#include "report.h"
#include "stats.h"
#include "timeline.h"
#include "worker.h"

#define START_DELAY_NS 100000000ull /* forks and keep-alive connects happen before t0 */

static volatile sig_atomic_t parent_signal;

static void on_parent_signal(int sig)
{
    parent_signal = sig;
}

static void on_worker_signal(int sig)
{
    (void)sig;
    worker_stop();
}

static void raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* A blocking connect with a short timeout, to pick the address that answers when a name has
 * several (localhost is ::1 and 127.0.0.1; a server often listens on one only). */
static bool probe(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (!ok && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        ok = poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
             err == 0;
    }
    close(fd);
    return ok;
}

static int resolve(const struct lcfg *cfg, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (cfg->unix_path) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, cfg->unix_path, strlen(cfg->unix_path) + 1);
        *len = (socklen_t)sizeof *un;
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(cfg->urls[0].host, cfg->urls[0].port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "httpsd-load: cannot resolve '%s': %s\n", cfg->urls[0].host,
                gai_strerror(rc));
        return -ENOENT;
    }
    const struct addrinfo *pick = res;
    if (res->ai_next)
        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
            if (probe(ai)) {
                pick = ai;
                break;
            }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    *len = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void progress(const struct stats *slots, unsigned n, uint64_t t0, uint64_t now)
{
    uint64_t done = 0;
    for (unsigned i = 0; i < n; i++)
        done += __atomic_load_n(&slots[i].progress, __ATOMIC_RELAXED);
    double secs = now > t0 ? (double)(now - t0) / 1e9 : 0.0;
    fprintf(stderr, "\r\033[K[%6.1fs] %llu requests done, %.0f/s", secs, (unsigned long long)done,
            secs > 0 ? (double)done / secs : 0.0);
}

int main(int argc, char **argv)
{
    struct lcfg cfg;
    char err[512];
    struct ltls_ctx *tls = NULL;
    struct stats *slots = MAP_FAILED;
    size_t slots_len = 0;
    struct timeline_bucket *tl = NULL; /* the merged timeline */
    pid_t *pids = NULL;
    int pipefd[2] = {-1, -1};
    int ret = 1;

    signal(SIGPIPE, SIG_IGN);
    int rc = lcfg_parse(&cfg, argc, argv, err, sizeof err);
    if (rc == LCFG_HELP) {
        fputs(lcfg_usage, stdout);
        lcfg_free(&cfg);
        return 0;
    }
    if (rc == LCFG_VERSION) {
        puts("httpsd-load 0.1.0");
        lcfg_free(&cfg);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "httpsd-load: %s\n%s", err, lcfg_usage);
        lcfg_free(&cfg);
        return 2;
    }
    raise_nofile();
    unsigned procs = cfg.processes;
    if (!procs) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        procs = n > 0 ? (unsigned)n : 1;
    }
    if (procs > cfg.connections)
        procs = cfg.connections; /* every worker needs a connection */
    if (cfg.rate <= 0 && cfg.requests && procs > cfg.requests)
        procs = (unsigned)cfg.requests; /* and, in a closed loop, a request */

    struct sockaddr_storage addr;
    socklen_t addrlen;
    if (resolve(&cfg, &addr, &addrlen) < 0)
        goto out;
    if (cfg.urls[0].tls &&
        ltls_ctx_new(&tls, !cfg.insecure, cfg.cacert, cfg.tls_resume, err, sizeof err) < 0) {
        fprintf(stderr, "httpsd-load: %s\n", err);
        goto out;
    }

    /* Each worker owns one slot of this shared mapping, and one timeline of tl_len buckets
     * after all the slots; the parent reads them after the workers have exited (progress
     * counters meanwhile, with relaxed atomics). The mapping starts zeroed, and a timeline's
     * pages are only touched (allocated) as the seconds pass. */
    unsigned tl_len = timeline_len(cfg.duration_ns, cfg.timeout_ns);
    slots_len = procs * sizeof *slots + (size_t)procs * tl_len * sizeof(struct timeline_bucket);
    slots = mmap(NULL, slots_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pids = calloc(procs, sizeof *pids);
    if (slots == MAP_FAILED || !pids || pipe2(pipefd, O_CLOEXEC) < 0) {
        fprintf(stderr, "httpsd-load: %s\n", strerror(errno));
        goto out;
    }
    for (unsigned i = 0; i < procs; i++)
        stats_init(&slots[i]);
    struct timeline_bucket *tl_slots = (struct timeline_bucket *)(slots + procs);

    struct sigaction sa = {.sa_handler = on_parent_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fflush(NULL);

    uint64_t t0 = worker_now() + START_DELAY_NS;
    uint64_t t_end = cfg.duration_ns ? t0 + cfg.duration_ns : 0;
    unsigned conn_first = 0;
    for (unsigned i = 0; i < procs; i++) {
        struct worker_params p = {
            .cfg = &cfg,
            .tls = tls,
            .addr = addr,
            .addrlen = addrlen,
            .index = i,
            .conn_first = conn_first,
            .nconns = cfg.connections / procs + (i < cfg.connections % procs),
            .quota = cfg.rate > 0 || !cfg.requests
                         ? 0
                         : cfg.requests / procs + (i < cfg.requests % procs),
            .t0 = t0,
            .t_end = t_end,
            .stats = &slots[i],
            .timeline = tl_slots + (size_t)i * tl_len,
            .timeline_len = tl_len,
        };
        conn_first += p.nconns;
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "httpsd-load: fork: %s\n", strerror(errno));
            for (unsigned k = 0; k < i; k++)
                kill(pids[k], SIGTERM);
            procs = i;
            break;
        }
        if (pid == 0) {
            struct sigaction wa = {.sa_handler = on_worker_signal};
            sigemptyset(&wa.sa_mask);
            sigaction(SIGINT, &wa, NULL);
            sigaction(SIGTERM, &wa, NULL);
            close(pipefd[0]); /* the write end stays open until exit: the parent sees EOF */
            int wrc = worker_run(&p);
            if (wrc < 0)
                fprintf(stderr, "httpsd-load: worker %u: %s\n", i, strerror(-wrc));
            slots[i].finished = wrc == 0;
            _exit(wrc == 0 ? 0 : 1);
        }
        pids[i] = pid;
    }
    close(pipefd[1]);
    pipefd[1] = -1;

    bool show = isatty(STDERR_FILENO) && !cfg.quiet, shown = false, forwarded = false;
    for (;;) {
        struct pollfd pf = {.fd = pipefd[0], .events = POLLIN};
        uint64_t now = worker_now();
        /* wake on the second boundaries after t0 for the progress line */
        int wait_ms = 1000 + (int)((t0 - now) / 1000000ull);
        if (now > t0)
            wait_ms = 1000 - (int)(((now - t0) / 1000000ull) % 1000);
        int n = poll(&pf, 1, wait_ms);
        if (parent_signal && !forwarded) {
            forwarded = true;
            for (unsigned i = 0; i < procs; i++)
                kill(pids[i], SIGTERM);
        }
        if (n > 0) {
            char c;
            ssize_t r = read(pipefd[0], &c, 1);
            if (r == 0)
                break; /* every worker has exited */
        } else if (n == 0 && show) {
            progress(slots, procs, t0, worker_now());
            shown = true;
        }
    }
    if (shown)
        fprintf(stderr, "\r\033[K");

    bool worker_failed = false;
    for (unsigned i = 0; i < procs; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !slots[i].finished) {
            worker_failed = true;
            if (WIFSIGNALED(status))
                fprintf(stderr, "httpsd-load: worker %u killed by signal %d\n", i,
                        WTERMSIG(status));
        }
    }
    struct stats total;
    stats_init(&total);
    for (unsigned i = 0; i < procs; i++)
        stats_merge(&total, &slots[i]);
    uint64_t end = total.end_ns > t0 ? total.end_ns : worker_now();
    /* The timeline runs to the second of the last completion: every worker's counts lie at or
     * before its own end_ns (folded into the last bucket past the cap). */
    unsigned tl_n = timeline_index(t0, end, tl_len) + 1;
    tl = calloc(tl_n, sizeof *tl);
    if (!tl) {
        fprintf(stderr, "httpsd-load: out of memory\n");
        goto out;
    }
    for (unsigned i = 0; i < procs; i++)
        if (slots[i].end_ns)
            timeline_merge(tl, tl_n, tl_slots + (size_t)i * tl_len,
                           timeline_index(t0, slots[i].end_ns, tl_len) + 1);
    struct report_run run = {
        .cfg = &cfg,
        .processes = procs,
        .seconds = end > t0 ? (double)(end - t0) / 1e9 : 0.0,
        .elapsed_ns = end > t0 ? end - t0 : 0,
        .timeline = tl,
        .timeline_n = tl_n,
    };
    if (cfg.json)
        report_json(stdout, &run, &total);
    else
        report_text(stdout, &run, &total);
    fflush(stdout);
    ret = total.requests == 0 || worker_failed ? 1 : 0;
out:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (slots != MAP_FAILED)
        munmap(slots, slots_len);
    free(pids);
    free(tl);
    ltls_ctx_free(tls);
    lcfg_free(&cfg);
    return ret;
}
