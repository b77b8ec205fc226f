/* httpsd: the command line entry point. */
#include "cfg.h"
#include "log.h"
#include "master.h"
#include "server.h"
#include "wsgi/wsgi.h"

#include <malloc.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HTTPSD_VERSION
#define HTTPSD_VERSION "0.1.0"
#endif

/* glibc hands memory back to the kernel as soon as it is freed when a block is above the mmap
 * threshold (128 KiB, raised as big blocks are freed) or the free space at an arena's top is above
 * the trim threshold: a server whose responses pass through 100 KiB buffers then faults every page
 * back in on the next response (measured: 10-20 minor faults per 100 KiB WSGI response, 0.5x the
 * throughput for the first ~10 s of load). Fixed thresholds keep that memory for reuse: up to
 * 64 MiB free per arena stays mapped (16 MiB was not enough: 16 connections echoing 1 MiB bodies
 * with parked responses made each app thread's arena shrink and regrow ~15 times a second, 36,000
 * faults/s, a third of the throughput); blocks of 4 MiB and more still get their own mapping (not
 * 1 MiB: a 1 MiB upload's buffers would then be mapped and faulted in per request, 300 faults
 * each, a third of the throughput). The server hands the free memory back itself when load
 * pauses or a burst ends (server.c, give_back_memory). One arena for every thread: malloc_trim
 * gives back only the main arena's top, so the freed tops of the app threads' arenas (up to the
 * 64 MiB threshold each) stayed resident — 53 MiB after 100 slow readers of streamed responses
 * left, 19 MiB with one arena — and one arena measured no slower (1 MiB uploads 1,404-1,468 vs
 * 1,329-1,357 req/s, 100 KiB responses 37-40k vs 32-34k, hello world equal; app threads take
 * the GIL anyway). The environment (GLIBC_TUNABLES, MALLOC_*_, MALLOC_ARENA_MAX) overrides. */
static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v;
}

static void tune_malloc(void)
{
    if (!env_set("GLIBC_TUNABLES") && !env_set("MALLOC_MMAP_THRESHOLD_"))
        mallopt(M_MMAP_THRESHOLD, 4 << 20);
    if (!env_set("GLIBC_TUNABLES") && !env_set("MALLOC_TRIM_THRESHOLD_"))
        mallopt(M_TRIM_THRESHOLD, 64 << 20);
    if (!env_set("GLIBC_TUNABLES") && !env_set("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 1);
}

int main(int argc, char **argv)
{
    struct cfg cfg;
    char err[512];
    tune_malloc();
    if (cfg_parse(&cfg, argc, argv, err, sizeof err) < 0) {
        fprintf(stderr, "httpsd: %s\nTry 'httpsd --help'.\n", err);
        cfg_free(&cfg);
        return 2;
    }
    if (cfg.help) {
        fputs(cfg_usage, stdout);
        cfg_free(&cfg);
        return 0;
    }
    if (cfg.version) {
        printf("httpsd %s (%s, Python %s)\n", HTTPSD_VERSION, OPENSSL_VERSION_TEXT,
               wsgi_python_version());
        cfg_free(&cfg);
        return 0;
    }
    int e = log_open(cfg.error_log, (enum log_level)cfg.log_level);
    if (e < 0) {
        fprintf(stderr, "httpsd: cannot open error log %s: %s\n", cfg.error_log, strerror(-e));
        cfg_free(&cfg);
        return 1;
    }
    if (cfg.umask_mode >= 0)
        umask((mode_t)cfg.umask_mode);
    if (cfg.workers > 0) { /* a master and its workers (master.c) */
        int code = master_run(&cfg);
        cfg_free(&cfg);
        return code;
    }
    static struct server srv; /* large (read buffer): not on the stack */
    if (server_init(&srv, &cfg, NULL, err, sizeof err) < 0) {
        log_msg(LOG_CRITICAL, "%s", err);
        cfg_free(&cfg);
        if (!wsgi_deinit())
            _exit(1);
        return 1;
    }
    int code = server_run(&srv);
    pidfile_remove(cfg.pidfile);
    server_deinit(&srv);
    if (srv.quit) {
        /* SIGQUIT: no waiting for app threads still in a request, no Python finalisation
         * (the app's atexit handlers do not run). */
        log_flush_suppressed(true);
        log_info("stopped (SIGQUIT)");
        _exit(code);
    }
    bool clean = wsgi_deinit();
    log_flush_suppressed(true);
    log_info("stopped");
    cfg_free(&cfg);
    if (!clean)
        _exit(code);
    return code;
}
