"""module:factory() where the factory raises: startup must fail with exit 1."""


def factory():
    raise ValueError("factory-raises-sentinel-91c2")


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never"]
