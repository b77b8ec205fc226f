/* libFuzzer target: the HTTP/2 glue (src/http2.c) — frames in, through nghttp2, into streams,
 * the router and the static handler, and frames out — through http2_fuzz_session: the input is
 * what a client sends after the preface on one connection. */
#include "fuzz.h"
#include "http2.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1); /* exact size: over-reads are ASan reports */
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);
    int r = http2_fuzz_session(in, size);
    /* streams answered: each took at least a 9-byte HEADERS frame */
    FUZZ_ASSERT(r >= -1 && (r < 0 || (size_t)r <= size / 9 + 1));
    free(in);
    return 0;
}
