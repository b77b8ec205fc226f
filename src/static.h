/* static: files from a mount's directory, GET and HEAD, never outside the directory. */
#ifndef HTTPSD_STATIC_H
#define HTTPSD_STATIC_H

#include "request.h"
#include "router.h"

struct exchange;

/* Answer x with the file at rel (the normalised, decoded path after the mount prefix: "" or
 * "/..."): its head, and its body or a producer of it in x->body. 0 or -1 (the protocol
 * failed). */
int static_serve(const struct static_root *root, struct exchange *x, const char *rel,
                 size_t rel_len);

#endif
