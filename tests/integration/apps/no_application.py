"""A module without an `application` attribute: `no_application` alone must fail to start."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app"]
