/* router: request → handler. Static prefixes first; otherwise 404 (the WSGI app later). */
#ifndef HTTPSD_ROUTER_H
#define HTTPSD_ROUTER_H

#include "cfg.h"
#include "request.h"

struct static_root {
    const struct static_mount *mount; /* borrowed from cfg */
    int dirfd;                        /* owned */
    int64_t max_age;                  /* --static-max-age, -1 = none */
    bool dotfiles;                    /* --static-dotfiles */
};

struct router {
    struct static_root *roots; /* owned, longest prefix first */
    size_t nroots;
};

/* Open every mount's directory. 0, or negative with the reason in err. */
int router_init(struct router *r, const struct cfg *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void router_deinit(struct router *r);
/* Whether req's path is under a static prefix (an invalid path counts as static when there
 * is no app to take it: router_handle then answers 400/414). */
bool router_is_static(const struct router *r, const struct request *req, bool have_app);
/* Answer req into res (always sets a status). */
void router_handle(const struct router *r, const struct request *req, struct response *res);

#endif
