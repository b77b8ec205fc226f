"""The app behind httpsd in test_differential.py: it answers every request with the facts that
show how the request was framed, in the same form as the test's upstream behind nginx.

The facts are the method, the request target (absolute form reduced to path and query, as
nginx's $request_uri has it), the protocol (1.0 or 1.x) and the body as the app read it from
wsgi.input (length, first bytes and a digest), so a smuggled request, a body that swallows
the next request or a mis-sized body changes them. They go in an X-Facts header (HEAD
responses have no body) and, one line, in the body.
"""

import hashlib
import re

_ABSOLUTE = re.compile(rb"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def escape(data):
    """Bytes as printable ASCII: \\xNN for anything else and for '\\', ';', '%' and space."""
    out = []
    for b in data:
        if 0x21 <= b <= 0x7E and b not in b"\\;% ":
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def normal_target(target):
    """The request target without an absolute form's scheme://authority (bytes)."""
    m = _ABSOLUTE.match(target)
    if m:
        target = target[m.end():] or b"/"
    return target


def _short(data, keep):
    """escape(data), or for long data its first keep bytes, its length and a digest."""
    if len(data) <= 2 * keep:
        return escape(data)
    return "%s...%d:%s" % (escape(data[:keep]), len(data), hashlib.sha256(data).hexdigest()[:12])


def normal_protocol(protocol):
    """HTTP/1.x for x >= 1 as HTTP/1.1: framed alike, and a server may answer 1.2 as 1.1
    (RFC 9110 §6.2) while nginx reports the version as sent."""
    m = re.match(rb"^HTTP/1\.(\d+)$", protocol)
    return b"HTTP/1.1" if m and int(m.group(1)) >= 1 else protocol


def facts(method, target, protocol, body):
    """One line: m=METHOD;t=TARGET;v=PROTOCOL;n=BODYLEN;b=BODY-PREFIX;h=SHA256-PREFIX.
    Every argument is bytes."""
    return "m=%s;t=%s;v=%s;n=%d;b=%s;h=%s" % (
        _short(method, 32), _short(normal_target(target), 48),
        escape(normal_protocol(protocol)), len(body),
        escape(body[:24]), hashlib.sha256(body).hexdigest()[:16])


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    line = facts(environ["REQUEST_METHOD"].encode("latin-1"),
                 environ.get("REQUEST_URI", "").encode("latin-1"),
                 environ["SERVER_PROTOCOL"].encode("latin-1"), body)
    out = (line + "\n").encode("ascii")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out))),
                              ("X-Facts", line)])
    return [out]
