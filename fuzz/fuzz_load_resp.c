/* libFuzzer target: the load client's response parser (src/load/resp.h).
 * The first input byte chooses HEAD or GET and how the rest is split into reads; the rest is
 * the byte stream from the server. Fed the way the client feeds it (consumed bytes dropped,
 * an incomplete head carried and fed again with more appended), the parser must never read
 * out of bounds, never consume more than it was given, finish every response it reports done,
 * and reach the same verdicts whatever the split. */
#include "fuzz.h"
#include "resp.h"

#include <string.h>

struct outcome {
    int responses;
    int last_status;
    int error;
};

static struct outcome run(const uint8_t *data, size_t size, bool head, size_t step)
{
    struct outcome o = {0, 0, 0};
    struct resp r;
    resp_init(&r, head);
    unsigned char *carry = malloc(size ? size : 1);
    FUZZ_ASSERT(carry);
    size_t carried = 0, pos = 0;
    while (pos < size) {
        size_t n = size - pos < step ? size - pos : step;
        memcpy(carry + carried, data + pos, n);
        pos += n;
        size_t len = carried + n, off = 0;
        for (;;) {
            size_t used = 0;
            int rc = resp_feed(&r, (const char *)carry + off, len - off, &used);
            FUZZ_ASSERT(used <= len - off);
            off += used;
            if (rc == RESP_ERR_MALFORMED) {
                o.error = 1;
                free(carry);
                return o;
            }
            if (rc == RESP_DONE) {
                FUZZ_ASSERT(r.status >= 100 && r.status <= 599);
                o.responses++;
                o.last_status = r.status;
                resp_init(&r, head);
                if (off == len)
                    break;
                continue;
            }
            break; /* RESP_MORE */
        }
        memmove(carry, carry + off, len - off);
        carried = len - off;
    }
    if (resp_started(&r) && resp_eof(&r) == RESP_DONE)
        o.responses++;
    free(carry);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool head = data[0] & 1;
    size_t step = (size_t)(data[0] >> 1) + 1;
    struct outcome whole = run(data + 1, size - 1, head, size);
    struct outcome split = run(data + 1, size - 1, head, step);
    FUZZ_ASSERT(whole.error == split.error);
    if (!whole.error) {
        FUZZ_ASSERT(whole.responses == split.responses);
        FUZZ_ASSERT(whole.last_status == split.last_status);
    }
    return 0;
}
