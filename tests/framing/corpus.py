"""The framing corpus: request byte strings written so that every byte is visible.

File format (tests/framing/*.txt):

    # a comment (a case line starting with '#' is written \\x23)
    == name [@ok=N | @rfc=N | @bad | @blob]
    GET / HTTP/1.1\\r\\n
    Host: x\\r\\n\\r\\n

A case starts with a line `== name`; its bytes are the following lines, concatenated (the
file's own line breaks are not part of the case, so a request can be spread over lines).
Escapes: \\r \\n \\t \\\\ \\xNN, and \\{N*TEXT} for TEXT repeated N times (TEXT may hold
escapes, not '}'). Every other byte is itself; a line may not end in a space or tab (write
\\x20 or \\t). The case's full name is `<file stem>/<name>`.

Tags, checked by the test as a self-check of the harness:
    @ok=N  a valid case: both servers must accept exactly N requests with the same facts
    @bad   a hostile case nginx is known to reject: nginx must not accept its first request
    @blob  an incomplete body: nginx must wait, and run the request once the test's filler
           bytes complete it (this checks the test's way of looking past a waiting server)
    @rfc=N nginx departs from the RFCs here and httpsd follows them: httpsd must accept
           exactly N requests (the framing is unambiguous), and the case is listed apart, not
           counted as laxer. Each use needs a comment saying which rule and why it matters.
"""

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))

_HEADER = re.compile(r"^== (\S+)(?:\s+@(ok=\d+|rfc=\d+|bad|blob))?\s*$")
_SIMPLE = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}


class Case:
    def __init__(self, name, data, tag, where):
        self.name = name
        self.data = data
        self.tag = tag  # None, "bad", "blob", ("ok", N) or ("rfc", N)
        self.where = where  # "file:line"

    @property
    def ok_count(self):
        return self.tag[1] if isinstance(self.tag, tuple) and self.tag[0] == "ok" else None

    @property
    def rfc_count(self):
        return self.tag[1] if isinstance(self.tag, tuple) and self.tag[0] == "rfc" else None

    def __repr__(self):
        return "Case(%s)" % self.name


def unescape(text, where="?"):
    """Decode one line's escapes into bytes; ValueError names the place of a bad escape."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("latin-1")
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt in _SIMPLE:
            out += _SIMPLE[nxt]
            i += 2
        elif nxt == "x" and re.match(r"[0-9a-fA-F]{2}$", text[i + 2:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif nxt == "{":
            m = re.compile(r"\{(\d+)\*([^}]*)\}").match(text, i + 1)
            if not m:
                raise ValueError("%s: bad repetition at column %d" % (where, i + 1))
            out += unescape(m.group(2), where) * int(m.group(1))
            i = m.end()
        else:
            raise ValueError("%s: unknown escape %r at column %d" % (where, text[i:i + 4], i + 1))
    return bytes(out)


def parse(text, prefix, filename="?"):
    """The cases of one file's text; names get prefix + '/'."""
    cases = []
    cur = None
    for lineno, line in enumerate(text.split("\n"), 1):
        where = "%s:%d" % (filename, lineno)
        if line.startswith("=="):
            m = _HEADER.match(line)
            if not m:
                raise ValueError("%s: bad case header %r" % (where, line))
            tag = None
            if m.group(2) in ("bad", "blob"):
                tag = m.group(2)
            elif m.group(2):
                kind, count = m.group(2).split("=")
                tag = (kind, int(count))
            cur = Case("%s/%s" % (prefix, m.group(1)), b"", tag, where)
            cases.append(cur)
            continue
        if not line.strip():
            continue
        if line.startswith("#"):
            continue
        if cur is None:
            raise ValueError("%s: bytes before the first case header" % where)
        if line != line.rstrip(" \t"):
            raise ValueError("%s: trailing whitespace (write \\x20 or \\t)" % where)
        cur.data += unescape(line, where)
    for c in cases:
        if not c.data:
            raise ValueError("%s: case %s has no bytes" % (c.where, c.name))
    return cases


def load(directory=HERE):
    """Every case of every *.txt file in directory, in file then file order; names unique."""
    cases = []
    for fn in sorted(os.listdir(directory)):
        if not fn.endswith(".txt"):
            continue
        path = os.path.join(directory, fn)
        with open(path, encoding="latin-1") as f:
            cases += parse(f.read(), fn[:-4], fn)
    seen = {}
    for c in cases:
        if c.name in seen:
            raise ValueError("%s: duplicate case name %s (first at %s)" % (c.where, c.name,
                                                                        seen[c.name]))
        seen[c.name] = c.where
    return cases


def escape(data):
    """Bytes in the corpus notation (no line breaks; printable ASCII except '\\' as itself)."""
    out = []
    for b in data:
        if b == 0x0D:
            out.append("\\r")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x09:
            out.append("\\t")
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def render_bytes(data):
    """Corpus lines for data: a line break after each LF, trailing blanks escaped."""
    lines = []
    start = 0
    for i, b in enumerate(data):
        if b == 0x0A:
            lines.append(data[start:i + 1])
            start = i + 1
    if start < len(data):
        lines.append(data[start:])
    out = []
    for chunk in lines:
        text = escape(chunk)
        if text.endswith(" "):
            text = text[:-1] + "\\x20"
        if text.startswith("#") or text.startswith("=="):
            text = "\\x%02x" % ord(text[0]) + text[1:]
        out.append(text)
    return out


def render(name, data, tag=None):
    """One case in the file format (name without the file prefix)."""
    head = "== " + name
    if tag in ("bad", "blob"):
        head += " @" + tag
    elif tag:
        head += " @%s=%d" % tag
    return "\n".join([head] + render_bytes(data)) + "\n"
