/* mime: file name → Content-Type. */
#ifndef HTTPSD_MIME_H
#define HTTPSD_MIME_H

#include <stddef.h>

/* The Content-Type for a file name (by its last extension, case-insensitive); text types carry
 * "; charset=utf-8". Unknown → "application/octet-stream". Returns a static string. */
const char *mime_for_path(const char *name, size_t n);

#endif
