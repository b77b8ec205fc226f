/* report: the merged results as text (for people) or one JSON object (for scripts). The JSON
 * always has the timeline; the text shows it with --timeline. */
#ifndef HTTPSD_LOAD_REPORT_H
#define HTTPSD_LOAD_REPORT_H

#include <stdio.h>

#include "lcfg.h"
#include "stats.h"
#include "timeline.h"

struct report_run {
    const struct lcfg *cfg;
    unsigned processes;
    double seconds;      /* from the start to the last completion */
    uint64_t elapsed_ns; /* the same in ns (0 when nothing completed after the start) */
    /* [timeline_n >= 1], merged over the workers: second 0 first, the last one holding the
     * last completion (borrowed). Its last bucket lasts elapsed_ns - (timeline_n - 1) s: less
     * than a second, or more when the run was longer than the cap (folded). */
    const struct timeline_bucket *timeline;
    unsigned timeline_n;
};

void report_text(FILE *f, const struct report_run *run, const struct stats *s);
void report_json(FILE *f, const struct report_run *run, const struct stats *s);

#endif
