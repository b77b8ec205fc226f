"""`module` alone -> the `application` callable."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"only-application-module"]


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wrong-callable-app"]
