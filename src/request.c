/* request: looking into a parsed request head (request.h). */
#include "request.h"

struct span request_header(const struct request *r, const char *lower_name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (span_eq_lower(r->headers[i].name, lower_name))
            return r->headers[i].value;
    return (struct span){NULL, 0};
}
