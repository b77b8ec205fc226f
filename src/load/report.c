#include "report.h"

#include <inttypes.h>

static const double pcts[] = {50, 75, 90, 99, 99.9, 99.99};
static const char *const pct_json[] = {"p50", "p75", "p90", "p99", "p99_9", "p99_99"};
static const char *const pct_text[] = {"p50", "p75", "p90", "p99", "p99.9", "p99.99"};
#define NPCT (sizeof pcts / sizeof pcts[0])

/* A latency with a unit that keeps three or four significant digits. */
static const char *fmt_ns(char *b, size_t n, double ns)
{
    if (ns < 1e3)
        snprintf(b, n, "%.0fns", ns);
    else if (ns < 1e6)
        snprintf(b, n, "%.2fus", ns / 1e3);
    else if (ns < 1e9)
        snprintf(b, n, "%.2fms", ns / 1e6);
    else
        snprintf(b, n, "%.3fs", ns / 1e9);
    return b;
}

static double rate(double x, double secs)
{
    return secs > 0 ? x / secs : 0.0;
}

static double bucket_seconds(const struct report_run *run, unsigned i)
{
    return (double)timeline_span_ns(run->elapsed_ns, run->timeline_n, i) / 1e9;
}

static bool bucket_folded(const struct report_run *run, unsigned i)
{
    return timeline_is_folded(run->elapsed_ns, run->timeline_n, i);
}

static void timeline_text(FILE *f, const struct report_run *run)
{
    fprintf(f, "Timeline:      %6s %10s %8s %10s\n", "t(s)", "requests", "errors", "req/s");
    for (unsigned i = 0; i < run->timeline_n; i++) {
        const struct timeline_bucket *b = &run->timeline[i];
        double secs = bucket_seconds(run, i);
        char d[32];
        fprintf(f, "               %6u %10" PRIu64 " %8" PRIu64 " %10.0f", i, b->requests,
                timeline_errors(b), rate((double)b->requests, secs));
        if (bucket_folded(run, i))
            fprintf(f, "  (folded: the last %s)", fmt_ns(d, sizeof d, secs * 1e9));
        else if (i + 1 == run->timeline_n)
            fprintf(f, "  (last %s)", fmt_ns(d, sizeof d, secs * 1e9));
        for (int k = 0; k < STATS_ERR_KINDS; k++)
            if (b->errors[k])
                fprintf(f, "  %s=%" PRIu64, stats_err_name((enum stats_err)k), b->errors[k]);
        fprintf(f, "\n");
    }
}

static void timeline_json(FILE *f, const struct report_run *run)
{
    fprintf(f, "\"timeline\": [");
    for (unsigned i = 0; i < run->timeline_n; i++) {
        const struct timeline_bucket *b = &run->timeline[i];
        fprintf(f,
                "%s{\"t\": %u, \"duration_s\": %.6f, \"requests\": %" PRIu64
                ", \"errors\": %" PRIu64 ", \"errors_by_kind\": {",
                i ? ", " : "", i, bucket_seconds(run, i), b->requests, timeline_errors(b));
        const char *sep = "";
        for (int k = 0; k < STATS_ERR_KINDS; k++)
            if (b->errors[k]) {
                fprintf(f, "%s\"%s\": %" PRIu64, sep, stats_err_name((enum stats_err)k),
                        b->errors[k]);
                sep = ", ";
            }
        fprintf(f, "}%s}", bucket_folded(run, i) ? ", \"folded\": true" : "");
    }
    fprintf(f, "], ");
}

void report_text(FILE *f, const struct report_run *run, const struct stats *s)
{
    const struct lcfg *cfg = run->cfg;
    const struct hist *h = &s->latency;
    char a[32], b[32], c[32], d[32];
    fprintf(f, "httpsd-load %s%.*s: %u process%s, %u connection%s, %s%s",
            cfg->urls[0].tls ? "https://" : "http://", (int)cfg->urls[0].hostport.n,
            cfg->urls[0].hostport.p, run->processes, run->processes == 1 ? "" : "es",
            cfg->connections, cfg->connections == 1 ? "" : "s",
            cfg->keepalive ? "keep-alive" : "no keep-alive",
            cfg->pipeline > 1 ? ", pipelined" : "");
    if (cfg->rate > 0)
        fprintf(f, ", open loop at %.0f req/s\n", cfg->rate);
    else
        fprintf(f, ", closed loop\n");
    fprintf(f, "Requests:      %" PRIu64 " in %.2fs, %" PRIu64 " errors\n", s->requests,
            run->seconds, stats_errors(s));
    fprintf(f, "Requests/sec:  %.2f\n", rate((double)s->requests, run->seconds));
    fprintf(f, "Bytes/sec:     %.0f (%.2f MiB/s), %" PRIu64 " bytes read\n",
            rate((double)s->bytes_read, run->seconds),
            rate((double)s->bytes_read, run->seconds) / 1048576.0, s->bytes_read);
    if (h->count) {
        fprintf(f, "Latency:       min %s  mean %s  stdev %s  max %s\n",
                fmt_ns(a, sizeof a, (double)h->min), fmt_ns(b, sizeof b, hist_mean(h)),
                fmt_ns(c, sizeof c, hist_stdev(h)), fmt_ns(d, sizeof d, (double)h->max));
        fprintf(f, "Percentiles:  ");
        for (size_t i = 0; i < NPCT; i++)
            fprintf(f, " %s %s", pct_text[i],
                    fmt_ns(a, sizeof a, (double)hist_percentile(h, pcts[i])));
        fprintf(f, "\n");
    }
    fprintf(f, "Status codes: ");
    bool any = false;
    for (int i = 0; i < STATS_STATUS_MAX; i++)
        if (s->status[i]) {
            fprintf(f, " %d=%" PRIu64, i, s->status[i]);
            any = true;
        }
    fprintf(f, "%s\nErrors:       ", any ? "" : " none");
    for (int i = 0; i < STATS_ERR_KINDS; i++)
        fprintf(f, " %s=%" PRIu64, stats_err_name((enum stats_err)i), s->errors[i]);
    fprintf(f, "\n");
    if (cfg->urls[0].tls)
        fprintf(f, "TLS:           %" PRIu64 " full handshakes, %" PRIu64 " resumed\n", s->tls_full,
                s->tls_resumed);
    if (cfg->rate > 0)
        fprintf(f, "Target rate:   %.2f req/s (latency from each request's intended send time)\n",
                cfg->rate);
    if (cfg->timeline)
        timeline_text(f, run);
}

void report_json(FILE *f, const struct report_run *run, const struct stats *s)
{
    const struct lcfg *cfg = run->cfg;
    const struct hist *h = &s->latency;
    fprintf(f, "{\"requests\": %" PRIu64 ", \"duration_s\": %.6f, \"requests_per_s\": %.3f, ",
            s->requests, run->seconds, rate((double)s->requests, run->seconds));
    fprintf(f, "\"bytes_read\": %" PRIu64 ", \"bytes_per_s\": %.1f, ", s->bytes_read,
            rate((double)s->bytes_read, run->seconds));
    fprintf(f, "\"status\": {");
    const char *sep = "";
    for (int i = 0; i < STATS_STATUS_MAX; i++)
        if (s->status[i]) {
            fprintf(f, "%s\"%d\": %" PRIu64, sep, i, s->status[i]);
            sep = ", ";
        }
    fprintf(f, "}, \"errors\": {");
    for (int i = 0; i < STATS_ERR_KINDS; i++)
        fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", stats_err_name((enum stats_err)i),
                s->errors[i]);
    fprintf(f, "}, \"errors_total\": %" PRIu64 ", ", stats_errors(s));
    fprintf(f, "\"latency_us\": {\"min\": %.3f, \"mean\": %.3f, \"stdev\": %.3f, \"max\": %.3f",
            h->count ? (double)h->min / 1e3 : 0.0, hist_mean(h) / 1e3, hist_stdev(h) / 1e3,
            (double)h->max / 1e3);
    for (size_t i = 0; i < NPCT; i++)
        fprintf(f, ", \"%s\": %.3f", pct_json[i], (double)hist_percentile(h, pcts[i]) / 1e3);
    fprintf(f, "}, ");
    if (cfg->rate > 0)
        fprintf(f, "\"target_rate\": %.3f, ", cfg->rate);
    timeline_json(f, run);
    fprintf(f,
            "\"processes\": %u, \"connections\": %u, \"pipeline\": %u, \"keepalive\": %s, "
            "\"tls\": %s, \"connects\": %" PRIu64 ", \"tls_full\": %" PRIu64
            ", \"tls_resumed\": %" PRIu64 "}\n",
            run->processes, cfg->connections, cfg->pipeline, cfg->keepalive ? "true" : "false",
            cfg->urls[0].tls ? "true" : "false", s->connects, s->tls_full, s->tls_resumed);
}
