#!/usr/bin/python3
"""Writes tests/framing/generated.txt: the systematic part of the framing corpus (one byte or
one value varied over every place it can go). The hand-written themes are the other *.txt
files. test_differential.py checks that generated.txt is this script's current output.

    /usr/bin/python3 tests/framing/gen.py          # rewrite generated.txt
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

# Every generated case ends with this request: a server that framed the case's bytes the way
# nginx did answers it as the next request; one that framed them differently does not.
TAIL = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
CHUNKED_HEAD = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

# Line ends other than CRLF (RFC 9112 §2.2: a bare CR must be refused or replaced by SP; a
# bare LF may be accepted as a line end in the head, never in chunked framing by our policy).
EOLS = [("lf", b"\n"), ("cr", b"\r"), ("crcrlf", b"\r\r\n"), ("lfcr", b"\n\r"),
        ("cr-sp", b"\r ")]

EOL_PLACES = [
    ("request-line", lambda e: b"GET /e HTTP/1.1" + e + b"Host: x\r\n\r\n"),
    ("header-line", lambda e: b"GET /e HTTP/1.1\r\nHost: x" + e + b"X-A: v\r\n\r\n"),
    ("head-end", lambda e: b"GET /e HTTP/1.1\r\nHost: x\r\n" + e),
    ("head-end-with-body",
     lambda e: b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n" + e + b"hello"),
    ("chunk-size", lambda e: CHUNKED_HEAD + b"5" + e + b"hello\r\n0\r\n\r\n"),
    ("chunk-ext", lambda e: CHUNKED_HEAD + b"5;a=b" + e + b"hello\r\n0\r\n\r\n"),
    ("chunk-data", lambda e: CHUNKED_HEAD + b"5\r\nhello" + e + b"0\r\n\r\n"),
    ("last-chunk", lambda e: CHUNKED_HEAD + b"5\r\nhello\r\n0" + e + b"\r\n"),
    ("trailer-line", lambda e: CHUNKED_HEAD + b"5\r\nhello\r\n0\r\nX-T: y" + e + b"\r\n"),
    ("trailers-end", lambda e: CHUNKED_HEAD + b"5\r\nhello\r\n0\r\n" + e),
]

# Control bytes, DEL and bytes >= 0x80 (RFC 9110 §5.5: field values are VCHAR, SP, HTAB and
# obs-text; §5.6.2: names are tokens; RFC 9112 §3: the request line has no controls).
BYTES = [b"\x00", b"\x01", b"\x0b", b"\x0c", b"\x7f", b"\x80", b"\xff"]

BYTE_PLACES = [
    ("before-method", lambda c: c + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("method", lambda c: b"GE" + c + b"T /b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("target-path", lambda c: b"GET /a" + c + b"b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("target-query", lambda c: b"GET /b?q" + c + b"r HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("version", lambda c: b"GET /b HTTP/1.1" + c + b"\r\nHost: x\r\n\r\n"),
    ("header-name", lambda c: b"GET /b HTTP/1.1\r\nHost: x\r\nX-A" + c + b"b: v\r\n\r\n"),
    ("header-value", lambda c: b"GET /b HTTP/1.1\r\nHost: x\r\nX-A: v" + c + b"w\r\n\r\n"),
    ("header-value-end", lambda c: b"GET /b HTTP/1.1\r\nHost: x\r\nX-A: vw" + c + b"\r\n\r\n"),
    ("header-value-start", lambda c: b"GET /b HTTP/1.1\r\nHost: x\r\nX-A: " + c + b"vw\r\n\r\n"),
    ("host-value", lambda c: b"GET /b HTTP/1.1\r\nHost: a" + c + b"b\r\n\r\n"),
    ("content-length", lambda c: b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5" + c +
     b"\r\n\r\nhello"),
    ("chunk-size", lambda c: CHUNKED_HEAD + b"5" + c + b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk-ext", lambda c: CHUNKED_HEAD + b"5;a" + c + b"=b\r\nhello\r\n0\r\n\r\n"),
    ("trailer-value", lambda c: CHUNKED_HEAD + b"5\r\nhello\r\n0\r\nX-T: a" + c +
     b"b\r\n\r\n"),
]

# Transfer-Encoding values (RFC 9112 §6.1: chunked must be the final coding; §6.3: anything
# else in a request is 501; a 1.0 request with TE: the framing is faulty, close after).
TE_VALUES = [
    ("chunked", b"chunked"), ("Chunked", b"Chunked"), ("CHUNKED", b"CHUNKED"),
    ("sp-chunked", b" chunked"), ("chunked-sp", b"chunked "), ("tab-chunked", b"\tchunked"),
    ("chunked-tab", b"chunked\t"), ("xchunked", b"xchunked"), ("chunkedx", b"chunkedx"),
    ("chunk", b"chunk"), ("ch-unked", b"ch unked"), ("chunked-identity", b"chunked, identity"),
    ("identity-chunked", b"identity, chunked"), ("chunked-chunked", b"chunked, chunked"),
    ("gzip-chunked", b"gzip, chunked"), ("chunked-comma", b"chunked,"),
    ("comma-chunked", b",chunked"), ("identity", b"identity"), ("empty", b""),
    ("quoted", b"\"chunked\""), ("chunked-param", b"chunked;q=1"),
]

# Content-Length values, each with a body "hello" and 100 more bytes, so that a misreading as
# 5, 55 or another small number completes a request that nginx never sees.
CL_VALUES = [
    ("5", b"5"), ("plus5", b"+5"), ("minus1", b"-1"), ("5-sp-5", b"5 5"), ("5-comma-5", b"5,5"),
    ("5-comma-sp-5", b"5, 5"), ("5-comma-6", b"5,6"), ("05", b"05"), ("zeros-5", b"0000000005"),
    ("hex-0x5", b"0x5"), ("hex-5h", b"5h"), ("5.0", b"5.0"), ("5e0", b"5e0"),
    ("sp-5-sp", b" 5 "), ("tab-5-tab", b"\t5\t"), ("empty", b""), ("letters", b"abc"),
    ("5abc", b"5abc"), ("2p32-plus-5", b"4294967301"), ("2p64-plus-5", b"18446744073709551621"),
    ("2p63", b"9223372036854775808"), ("2p64", b"18446744073709551616"),
    ("20-digits-9", b"99999999999999999999"), ("over-limit", b"1048577"),
    ("arabic-five", "\u0665".encode("utf-8")), ("fullwidth-five", "\uff15".encode("utf-8")),
    ("5-semicolon", b"5;"), ("quoted-5", b"\"5\""),
]
CL_BODY = b"hello" + b"z" * 100

# Chunk-size lines for a 5-byte chunk "hello" (RFC 9112 §7.1: chunk-size = 1*HEXDIG, then
# chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ), value = token / quoted-string).
CHUNK_SIZES = [
    ("5", b"5"), ("05", b"05"), ("zeros-5", b"000000000000000000000000005"), ("0x5", b"0x5"),
    ("plus5", b"+5"), ("minus5", b"-5"), ("sp-5", b" 5"), ("5-sp", b"5 "), ("tab-5", b"\t5"),
    ("5-tab", b"5\t"), ("5-sp-5", b"5 5"), ("5-comma", b"5,"), ("5-underscore", b"5_"),
    ("g", b"g"), ("empty", b""), ("2p64-plus-5", b"10000000000000005"),
    ("ffffffffffffffff", b"ffffffffffffffff"), ("17-f", b"fffffffffffffffff"),
    ("7fffffffffffffff", b"7fffffffffffffff"), ("8000000000000005", b"8000000000000005"),
    ("ext", b"5;a=b"), ("ext-no-value", b"5;a"), ("ext-empty", b"5;"), ("ext-two", b"5;a=b;c=d"),
    ("ext-sp-before-semi", b"5 ;a=b"), ("ext-sp-after-semi", b"5; a=b"),
    ("ext-bws-all", b"5 ; a = b"), ("ext-tab-bws", b"5\t;\ta\t=\tb"),
    ("ext-quoted", b"5;a=\"b c\""), ("ext-quoted-escape", b"5;a=\"b\\\"c\""),
    ("ext-quoted-semicolon", b"5;a=\"b;c\""), ("ext-unterminated-quote", b"5;a=\"bc"),
    ("ext-empty-name", b"5;=b"), ("ext-double-semi", b"5;;a"), ("ext-name-bad-char", b"5;a@b"),
    ("ext-value-empty", b"5;a="), ("ext-sp-in-value", b"5;a=b c"),
    ("ext-long-1000", b"5;a=" + b"b" * 1000),
]

# Separators and other non-token bytes in a header name (RFC 9110 §5.6.2).
NAME_CHARS = [("sp", b" "), ("tab", b"\t"), ("dquote", b"\""), ("lparen", b"("),
              ("comma", b","), ("slash", b"/"), ("semicolon", b";"), ("lt", b"<"), ("eq", b"="),
              ("qmark", b"?"), ("at", b"@"), ("lbracket", b"["), ("backslash", b"\\"),
              ("lbrace", b"{"), ("underscore", b"_")]

# Bytes in the request target that RFC 3986 does not allow there (besides controls, above).
TARGET_CHARS = [("dquote", b"\""), ("lt", b"<"), ("gt", b">"), ("backslash", b"\\"),
                ("caret", b"^"), ("backtick", b"`"), ("lbrace", b"{"), ("pipe", b"|"),
                ("rbrace", b"}"), ("hash", b"#"), ("tab", b"\t"), ("pct-00", b"%00"),
                ("pct-bad", b"%zz"), ("pct-trunc", b"%")]


def cases():
    """[(name, bytes)] in file order."""
    out = []
    for place, make in EOL_PLACES:
        for label, e in EOLS:
            out.append(("eol-%s-%s" % (place, label), make(e) + TAIL))
    for place, make in BYTE_PLACES:
        for c in BYTES:
            out.append(("byte-%s-x%02x" % (place, c[0]), make(c) + TAIL))
    for version in (b"1.1", b"1.0"):
        for label, v in TE_VALUES:
            out.append(("te-http%s-%s" % (version.decode(), label),
                        b"POST /t HTTP/" + version + b"\r\nHost: x\r\nTransfer-Encoding: " + v +
                        b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + TAIL))
    for label, v in CL_VALUES:
        out.append(("cl-%s" % label, b"POST /l HTTP/1.1\r\nHost: x\r\nContent-Length: " + v +
                    b"\r\n\r\n" + CL_BODY + TAIL))
    for label, size in CHUNK_SIZES:
        out.append(("chunk-size-%s" % label,
                    CHUNKED_HEAD + size + b"\r\nhello\r\n0\r\n\r\n" + TAIL))
    for label, c in NAME_CHARS:
        out.append(("header-name-%s" % label,
                    b"GET /n HTTP/1.1\r\nHost: x\r\nX-A" + c + b"b: v\r\n\r\n" + TAIL))
    for label, c in TARGET_CHARS:
        out.append(("target-%s" % label, b"GET /a" + c + b"b HTTP/1.1\r\nHost: x\r\n\r\n" + TAIL))
    return out


def text():
    parts = [
        "# GENERATED by tests/framing/gen.py -- do not edit; change gen.py and rerun it.\n"
        "# Every case ends with the request `GET /next`, so framing differences show.\n"
    ]
    for name, data in cases():
        parts.append("\n" + corpus.render(name, data))
    return "".join(parts)


OUT = os.path.join(corpus.HERE, "generated.txt")

if __name__ == "__main__":
    with open(OUT, "w", encoding="latin-1") as f:
        f.write(text())
    print("%s: %d cases" % (OUT, len(cases())))
