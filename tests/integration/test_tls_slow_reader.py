"""A slow TLS reader must get the whole body: the last TLS records can wait in httpsd's write
batch after the plaintext queue is empty, and the socket's EPOLLOUT must still flush them."""
import hashlib
import os
import time

from conftest import connect, build_request


def test_tls_slow_reader_gets_every_byte(httpsd, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    data = os.urandom(6 * 1024 * 1024 + 123)  # more than the socket buffers hold
    (root / "f.bin").write_bytes(data)
    s = httpsd("--static", "/static=%s" % root, binds=["127.0.0.1:0"])
    c = connect(s.https, timeout=10, rcvbuf=4096)
    try:
        c.sock.sendall(build_request("GET", "/static/f.bin"))
        buf = b""
        deadline = time.monotonic() + 30
        while b"\r\n\r\n" not in buf:
            buf += c.sock.recv(2048)
        head, _, body = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        got = bytearray(body)
        while len(got) < len(data):
            assert time.monotonic() < deadline, "stalled at %d of %d bytes" % (len(got), len(data))
            chunk = c.sock.recv(65536)  # a reader slower than the server: its socket fills up
            assert chunk, "closed at %d of %d bytes" % (len(got), len(data))
            got += chunk
            time.sleep(0.002)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    finally:
        c.close()
