/* libFuzzer target: path_normalize (src/path.h).
 * On success the output must start with '/', be NUL-terminated at len < outcap, and hold no
 * NUL, backslash, control byte, "//" or "."/".." segment; any other return must be -EINVAL
 * or -ENAMETOOLONG; a smaller outcap must give the same answer or -ENAMETOOLONG. */
#include "fuzz.h"
#include "path.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static bool has_dot_segment(const char *out, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || out[i] == '/') {
            size_t k = i - start;
            if ((k == 1 && out[start] == '.') ||
                (k == 2 && out[start] == '.' && out[start + 1] == '.'))
                return true;
            start = i + 1;
        }
    }
    return false;
}

static void check_output(const char *out, size_t outcap, size_t len)
{
    FUZZ_ASSERT(len >= 1 && len < outcap);
    FUZZ_ASSERT(out[0] == '/');
    FUZZ_ASSERT(out[len] == 0);
    FUZZ_ASSERT(memchr(out, 0, len) == NULL);
    FUZZ_ASSERT(memchr(out, '\\', len) == NULL);
    for (size_t i = 0; i < len; i++)
        FUZZ_ASSERT((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] != 0x7f);
    FUZZ_ASSERT(strstr(out, "//") == NULL);
    FUZZ_ASSERT(!has_dot_segment(out, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: any over-read is an ASan report */
    char *in = malloc(size ? size : 1);
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);

    size_t bigcap = size + 2; /* decoding and collapsing only shrink */
    char *big = malloc(bigcap);
    size_t biglen = (size_t)-1;
    int r = path_normalize(in, size, big, bigcap, &biglen);
    FUZZ_ASSERT(r == 0 || r == -EINVAL); /* the output always fits in size + 1 */
    if (r == 0) {
        check_output(big, bigcap, biglen);
        FUZZ_ASSERT(biglen <= size);
    }

    /* every smaller buffer: the same result, or -ENAMETOOLONG exactly when it cannot fit */
    size_t caps[3] = {size / 2 + 1, biglen != (size_t)-1 ? biglen + 1 : 3,
                      biglen != (size_t)-1 ? biglen : 2};
    for (int k = 0; k < 3; k++) {
        size_t cap = caps[k];
        if (cap == 0)
            continue;
        char *small = malloc(cap);
        size_t len = (size_t)-1;
        int r2 = path_normalize(in, size, small, cap, &len);
        if (r == 0 && biglen < cap) {
            FUZZ_ASSERT(r2 == 0);
            FUZZ_ASSERT(len == biglen);
            FUZZ_ASSERT(memcmp(small, big, len + 1) == 0);
        } else if (r == 0) {
            /* does not fit: -ENAMETOOLONG (or -EINVAL from a refusal met before the end) */
            FUZZ_ASSERT(r2 == -ENAMETOOLONG || r2 == -EINVAL);
        } else {
            /* refused input: refused or found too long first, never accepted */
            FUZZ_ASSERT(r2 == -EINVAL || r2 == -ENAMETOOLONG);
        }
        free(small);
    }
    free(big);
    free(in);
    return 0;
}
