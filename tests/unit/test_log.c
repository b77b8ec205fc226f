/* Unit tests for the error log (src/log.h): flood control with a fake clock, threads, reopen. */
#include "harness.h"
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

static int64_t fake_now = 1000000;
static int64_t fake_clock(void)
{
    return fake_now;
}

static char dir[] = "/tmp/httpsd-test-log-XXXXXX";
static char path[256];
static char text[1 << 16];

/* A fresh log file for one case. */
static void start(const char *name, enum log_level level)
{
    log_flush_suppressed(true); /* what earlier cases held back goes to their own files */
    snprintf(path, sizeof path, "%s/%s.log", dir, name);
    if (log_open(path, level) != 0) {
        perror(path);
        abort();
    }
}

/* The log file's lines: text holds them, returns how many. */
static int lines(void)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = 0;
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += text[i] == '\n';
    return k;
}

/* Line i (0-based) of text, without its prefix "[date] [pid] [LEVEL] ": a static copy. */
static const char *line(int i)
{
    static char out[4096];
    const char *p = text;
    for (; i > 0 && p; i--) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p || !*p)
        return "(no such line)";
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    for (int brackets = 0; brackets < 3 && n; brackets++) { /* skip "[...] " three times */
        const char *c = memchr(p, ']', n);
        if (!c || (size_t)(c - p) + 2 > n)
            break;
        n -= (size_t)(c - p) + 2;
        p = c + 2;
    }
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

static bool has_level(int i, const char *level)
{
    lines();
    const char *p = text;
    for (; i > 0 && p; i--) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    char tag[32];
    snprintf(tag, sizeof tag, "] [%s] ", level);
    const char *e = p ? strchr(p, '\n') : NULL;
    const char *t = p ? strstr(p, tag) : NULL;
    return t && (!e || t < e);
}

static void test_first_written_rest_counted(void)
{
    start("first", LOG_INFO);
    for (int i = 0; i < 5; i++)
        log_warn("every app thread is busy: 503 for /x%d", i);
    CHECK_EQ_INT(lines(), 1);
    CHECK_EQ_STR(line(0), "every app thread is busy: 503 for /x0");
    fake_now += 500;
    for (int i = 5; i < 8; i++)
        log_warn("every app thread is busy: 503 for /x%d", i);
    log_flush_suppressed(false); /* the window has not ended yet */
    CHECK_EQ_INT(lines(), 1);
    fake_now += 500;
    log_flush_suppressed(false);
    CHECK_EQ_INT(lines(), 2);
    CHECK_EQ_STR(line(1), "7 similar messages suppressed in the last 1.0 s: "
                          "every app thread is busy: 503 for /x0");
    CHECK_MSG(has_level(1, "WARNING"), "the count line has the level of what it counts");
    log_flush_suppressed(false); /* reported once */
    CHECK_EQ_INT(lines(), 2);
    fake_now += 100; /* a new window: its first line is written again */
    log_warn("every app thread is busy: 503 for /x%d", 9);
    CHECK_EQ_INT(lines(), 3);
    CHECK_EQ_STR(line(2), "every app thread is busy: 503 for /x9");
    fake_now += 5000;
    log_flush_suppressed(false); /* nothing was held back in that window: no count line */
    CHECK_EQ_INT(lines(), 3);
}

static void test_next_message_ends_window(void)
{
    start("next", LOG_INFO);
    log_error("#%d cannot do it", 1);
    log_error("#%d cannot do it", 2);
    log_error("#%d cannot do it", 3);
    CHECK_EQ_INT(lines(), 1);
    fake_now += 1200; /* no periodic flush: the next message reports the window first */
    log_error("#%d cannot do it", 4);
    CHECK_EQ_INT(lines(), 3);
    CHECK_EQ_STR(line(0), "#1 cannot do it");
    CHECK_EQ_STR(line(1), "2 similar messages suppressed in the last 1.2 s: #1 cannot do it");
    CHECK(has_level(1, "ERROR"));
    CHECK_EQ_STR(line(2), "#4 cannot do it");
    fake_now += 999;
    log_error("#%d cannot do it", 5);
    CHECK_EQ_INT(lines(), 3);
    fake_now += 1;
    log_error("#%d cannot do it", 6);
    CHECK_EQ_INT(lines(), 5);
    CHECK_EQ_STR(line(3), "1 similar message suppressed in the last 1.0 s: #4 cannot do it");
    CHECK_EQ_STR(line(4), "#6 cannot do it");
}

static void at_level(enum log_level level, int i)
{
    log_msg(level, "one call site, level %d", i);
}

static void test_keys_are_call_site_and_level(void)
{
    start("keys", LOG_INFO);
    log_warn("site A %d", 1);
    log_warn("site B %d", 1);
    log_warn("site A %d", 2);
    log_warn("site B %d", 2);
    CHECK_EQ_INT(lines(), 2);
    CHECK_EQ_STR(line(0), "site A 1");
    CHECK_EQ_STR(line(1), "site B 1");
    at_level(LOG_WARNING, 1);
    at_level(LOG_ERROR, 2);
    at_level(LOG_WARNING, 3);
    CHECK_EQ_INT(lines(), 4);
    CHECK_EQ_STR(line(3), "one call site, level 2");
    fake_now += 1000;
    log_flush_suppressed(false);
    CHECK_EQ_INT(lines(), 7);
    CHECK(strstr(text, "1 similar message suppressed in the last 1.0 s: site A 1\n"));
    CHECK(strstr(text, "1 similar message suppressed in the last 1.0 s: site B 1\n"));
    CHECK(strstr(text, "1 similar message suppressed in the last 1.0 s: one call site, level 1\n"));
}

static void test_info_limited_debug_and_always_not(void)
{
    start("levels", LOG_DEBUG);
    for (int i = 0; i < 4; i++)
        log_info("#%d answered 408", i);
    CHECK_EQ_INT(lines(), 1);
    for (int i = 0; i < 4; i++)
        log_debug("#%d closed", i);
    CHECK_EQ_INT(lines(), 5);
    for (int i = 0; i < 4; i++)
        log_msg_always(LOG_INFO, "listening on http://127.0.0.1:%d", 8000 + i);
    CHECK_EQ_INT(lines(), 9);
    CHECK_EQ_STR(line(8), "listening on http://127.0.0.1:8003");
    log_flush_suppressed(true);
    CHECK_EQ_INT(lines(), 10);
    CHECK_EQ_STR(line(9), "3 similar messages suppressed in the last 0.0 s: #0 answered 408");
}

static void test_filtered_lines_do_not_count(void)
{
    start("filtered", LOG_ERROR);
    for (int i = 0; i < 5; i++)
        log_warn("below the level %d", i);
    log_flush_suppressed(true);
    CHECK_EQ_INT(lines(), 0);
}

static void test_flush_all_reports_open_windows(void)
{
    start("exit", LOG_INFO);
    log_warn("at exit %d", 1);
    fake_now += 300;
    log_warn("at exit %d", 2);
    log_flush_suppressed(false);
    CHECK_EQ_INT(lines(), 1);
    log_flush_suppressed(true); /* at exit: nothing held back is lost */
    CHECK_EQ_INT(lines(), 2);
    CHECK_EQ_STR(line(1), "1 similar message suppressed in the last 0.3 s: at exit 1");
    log_warn("at exit %d", 3); /* the window was closed: written */
    CHECK_EQ_INT(lines(), 3);
}

static void test_sample_is_first_line_and_short(void)
{
    start("sample", LOG_INFO);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    log_error("long %s", big);
    log_error("long %s", big);
    log_flush_suppressed(true);
    CHECK_EQ_INT(lines(), 2);
    const char *l = line(1);
    const char *want = "1 similar message suppressed in the last 0.0 s: long xxx";
    CHECK(strncmp(l, want, strlen(want)) == 0);
    CHECK(strlen(l) < 300);
    CHECK(strcmp(l + strlen(l) - 4, "x...") == 0);
    log_error("multi\n%s", "second line"); /* a traceback is one entry of several lines */
    log_error("multi\n%s", "second line");
    log_flush_suppressed(true);
    CHECK_EQ_INT(lines(), 5);
    CHECK_EQ_STR(line(4), "1 similar message suppressed in the last 0.0 s: multi");
}

static void test_long_line_truncated_with_newline(void)
{
    start("long", LOG_INFO);
    static char huge[5000];
    memset(huge, 'y', sizeof huge - 1);
    log_msg_always(LOG_INFO, "%s", huge);
    log_msg_always(LOG_INFO, "after %d", 1);
    CHECK_EQ_INT(lines(), 2);
    CHECK_EQ_STR(line(1), "after 1");
}

#define THREADS 8
#define PER_THREAD 20000

static void *flood(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++)
        log_warn("#%d flood from a thread", i);
    return NULL;
}

static void test_threads_count_exactly(void)
{
    start("threads", LOG_INFO);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, flood, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(lines(), 1);
    fake_now += 1000;
    log_flush_suppressed(false);
    CHECK_EQ_INT(lines(), 2);
    char want[128];
    snprintf(want, sizeof want,
             "%d similar messages suppressed in the last 1.0 s: #0 flood from a "
             "thread",
             THREADS * PER_THREAD - 1);
    CHECK_EQ_STR(line(1), want);
}

static void test_reopen(void)
{
    start("reopen", LOG_INFO);
    log_msg_always(LOG_INFO, "before %s", "rotation");
    char live[sizeof path], old[sizeof path];
    snprintf(live, sizeof live, "%s", path);
    snprintf(old, sizeof old, "%s/reopen.log.1", dir);
    CHECK_EQ_INT(rename(live, old), 0);
    log_msg_always(LOG_INFO, "still the old file %d", 1);
    CHECK_EQ_INT(log_reopen(), 0);
    log_msg_always(LOG_INFO, "after %s", "rotation");
    CHECK_EQ_INT(lines(), 1);
    CHECK_EQ_STR(line(0), "after rotation");
    snprintf(path, sizeof path, "%s", old);
    CHECK_EQ_INT(lines(), 2);
    CHECK_EQ_STR(line(0), "before rotation");
    CHECK_EQ_STR(line(1), "still the old file 1");
    CHECK_EQ_INT(log_open("-", LOG_INFO), 0);
    CHECK_EQ_INT(log_reopen(), 0); /* stderr: nothing to reopen */
}

/* More call sites than the table holds: the extra ones are written, never dropped. */
#define S1(x) log_warn("fill " x " %d", round);
#define S10(x)                                                                                     \
    S1(x "0")                                                                                      \
    S1(x "1") S1(x "2") S1(x "3") S1(x "4") S1(x "5") S1(x "6") S1(x "7") S1(x "8") S1(x "9")
#define S100(x)                                                                                    \
    S10(x "0")                                                                                     \
    S10(x "1")                                                                                     \
    S10(x "2") S10(x "3") S10(x "4") S10(x "5") S10(x "6") S10(x "7") S10(x "8") S10(x "9")

static void test_table_full_fails_open(void)
{
    start("full", LOG_INFO);
    for (int round = 0; round < 2; round++) {
        S100("a") S10("b") S10("c") S10("d")
    }
    int n = lines();
    CHECK_MSG(n > 130 && n < 260, "first round all written, second only where no slot was left");
    log_flush_suppressed(true);
    CHECK(lines() > n);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    log_set_clock(fake_clock);
    HARNESS_RUN(test_first_written_rest_counted);
    HARNESS_RUN(test_next_message_ends_window);
    HARNESS_RUN(test_keys_are_call_site_and_level);
    HARNESS_RUN(test_info_limited_debug_and_always_not);
    HARNESS_RUN(test_filtered_lines_do_not_count);
    HARNESS_RUN(test_flush_all_reports_open_windows);
    HARNESS_RUN(test_sample_is_first_line_and_short);
    HARNESS_RUN(test_long_line_truncated_with_newline);
    HARNESS_RUN(test_threads_count_exactly);
    HARNESS_RUN(test_reopen);
    HARNESS_RUN(test_table_full_fails_open); /* last: it fills the table */
    CHECK_EQ_INT(log_open("-", LOG_INFO), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return HARNESS_DONE();
}
