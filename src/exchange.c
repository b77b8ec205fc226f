#include "exchange.h"

#include "accesslog.h"
#include "log.h"
#include "server.h"

#include <unistd.h>

int exchange_send(struct exchange *x, struct response *res)
{
    int fd = res->file_fd;
    res->file_fd = -1;
    int e = x->ops->head(x, res);
    int64_t len = res->content_length > 0 ? res->content_length : 0;
    if (e == 0 && res->body && len)
        e = x->ops->data(x, res->body, (size_t)len);
    else if (e == 0 && fd >= 0)
        e = x->ops->file(x, fd, res->file_off, (uint64_t)len);
    if (fd >= 0)
        close(fd);
    return e ? e : x->ops->end(x);
}

int exchange_error(struct exchange *x, int status)
{
    struct response res;
    response_init(&res);
    response_error(&res, status);
    if (status == 503 && !response_add_header(&res, "Retry-After", "1"))
        log_error("cannot add Retry-After");
    return exchange_send(x, &res);
}

void exchange_free_body(struct exchange *x)
{
    if (!x->body)
        return;
    x->body->free(x->body);
    x->body = NULL;
}

void exchange_release_handler(struct exchange *x)
{
    if (!x->handler)
        return;
    x->handler->ops->release(x->handler);
    x->handler = NULL;
}

void exchange_log(struct exchange *x, struct server *srv, int status, int64_t bytes)
{
    server_request_done(srv, status);
    struct accesslog *al = srv->alog;
    if (!al)
        return;
    const char *client = x->ops->client(x)->addr;
    const char *peer = *client ? client : "unix";
    const struct request *r = x->req;
    struct span none = {NULL, 0};
    bool parsed = r->method.p != NULL;
    accesslog_write(al, peer, r->method, parsed ? r->target : none,
                    r->http2 ? 20 : 10 + r->version_minor, status, bytes,
                    parsed ? request_header(r, "referer") : none,
                    parsed ? request_header(r, "user-agent") : none);
}
