/* httpdate: IMF-fixdate (RFC 9110 §5.6.7) formatting and parsing. */
#ifndef HTTPSD_HTTPDATE_H
#define HTTPSD_HTTPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define HTTPDATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Write t as IMF-fixdate into out (HTTPDATE_LEN + 1 bytes, NUL-terminated). */
void httpdate_format(time_t t, char *out);
/* The current time as IMF-fixdate, formatted at most once per second (per thread). */
const char *httpdate_now(void);
/* Parse IMF-fixdate (the obsolete RFC 850 and asctime forms too); false if malformed. */
bool httpdate_parse(const char *s, size_t n, time_t *out);

#endif
