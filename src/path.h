/* path: request-target path → safe, decoded, normalised path. Pure, fuzzed. */
#ifndef HTTPSD_PATH_H
#define HTTPSD_PATH_H

#include <stddef.h>

/* Percent-decode the absolute path in[0..n) (it must start with '/', and end before any '?')
 * exactly once into out (NUL-terminated, at most outcap bytes with the NUL), collapsing runs of
 * '/'. The result starts with '/', and never holds "." or ".." segments, NUL, backslashes,
 * control characters or a slash that came from "%2F".
 * Returns 0; -EINVAL for input that must be refused with 400 (bad escape, dot segment, encoded
 * slash, backslash, NUL or control byte, not starting with '/'); -ENAMETOOLONG when out is too
 * small. *outlen gets the length without the NUL. */
int path_normalize(const char *in, size_t n, char *out, size_t outcap, size_t *outlen)
    __attribute__((warn_unused_result));

#endif
