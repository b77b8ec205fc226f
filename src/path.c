#include "path.h"

#include "chars.h"

#include <errno.h>
#include <stdbool.h>

/* A segment just ended at out[len]: refuse it when it is "." or "..". */
static bool is_dot_segment(const char *out, size_t seg_start, size_t len)
{
    size_t k = len - seg_start;
    return (k == 1 && out[seg_start] == '.') ||
           (k == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.');
}

int path_normalize(const char *in, size_t n, char *out, size_t outcap, size_t *outlen)
{
    if (n == 0 || in[0] != '/')
        return -EINVAL;
    if (outcap < 2)
        return -ENAMETOOLONG;
    size_t len = 0, seg_start = 0;
    out[len++] = '/';
    seg_start = len;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '/') {
            if (is_dot_segment(out, seg_start, len))
                return -EINVAL;
            if (len > seg_start) { /* collapse "//" */
                if (len + 1 >= outcap)
                    return -ENAMETOOLONG;
                out[len++] = '/';
            }
            seg_start = len;
            continue;
        }
        if (c == '%') {
            int hi = i + 2 < n ? hex_value((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value((unsigned char)in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (c == '/') /* an encoded slash would let a segment hide a separator */
                return -EINVAL;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return -EINVAL;
        if (len + 1 >= outcap)
            return -ENAMETOOLONG;
        out[len++] = (char)c;
    }
    if (is_dot_segment(out, seg_start, len))
        return -EINVAL;
    out[len] = 0;
    *outlen = len;
    return 0;
}
