/* static: files from a mount's directory, GET and HEAD, never outside the directory. */
#ifndef HTTPSD_STATIC_H
#define HTTPSD_STATIC_H

#include "request.h"
#include "router.h"

/* Serve rel (the normalised, decoded path after the mount prefix: "" or "/..."), with
 * req for the method and query. Fills res; the file fd, if any, is owned by res. */
void static_serve(const struct static_root *root, const struct request *req, const char *rel,
                  size_t rel_len, struct response *res);

#endif
