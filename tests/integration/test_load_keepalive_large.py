"""httpsd-load keeps a keep-alive connection busy after large responses.

Found by the reliability campaign (docs/RELIABILITY.md, "Findings"): with keep-alive and
responses of a megabyte or more, httpsd-load stopped sending after a few dozen requests and
idled until the end of the run, reporting 0 errors and a `duration_s` of a few milliseconds.
Both sockets were empty at that point (the server had sent every response whole), so the
client had simply not queued its next request."""

import json
import os
import subprocess

from conftest import BIN, static_args

LOAD = os.environ.get("HTTPSD_LOAD_BIN") or os.path.join(os.path.dirname(BIN), "httpsd-load")


def test_keepalive_large_responses_do_not_stall_the_client(httpsd, site):
    srv = httpsd(*static_args(site), binds=["http://127.0.0.1:0"])
    url = "http://%s/static/large.bin" % srv.listener("http").hostport
    p = subprocess.run([LOAD, "-q", "--json", "-p", "1", "-c", "1", "-d", "2s", url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["errors_total"] == 0, out
    # duration_s ends at the last response: a client that keeps going ends near 2 s
    assert out["duration_s"] > 1.5, \
        "httpsd-load stopped after %d responses (%.3f s into a 2 s run)" % (
            out["requests"], out["duration_s"])
