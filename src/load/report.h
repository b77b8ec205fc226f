/* report: the merged results as text (for people) or one JSON object (for scripts). */
#ifndef HTTPSD_LOAD_REPORT_H
#define HTTPSD_LOAD_REPORT_H

#include <stdio.h>

#include "lcfg.h"
#include "stats.h"

struct report_run {
    const struct lcfg *cfg;
    unsigned processes;
    double seconds; /* from the start to the last completion */
};

void report_text(FILE *f, const struct report_run *run, const struct stats *s);
void report_json(FILE *f, const struct report_run *run, const struct stats *s);

#endif
