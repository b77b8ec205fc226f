"""The demo site in a real browser: Debian's headless Chromium driven by playwright-core."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO

BROWSER_DIR = os.path.join(REPO, "tests", "browser")
ARTIFACTS = os.path.join(REPO, "tests", "artifacts")


@pytest.mark.parametrize("proto", ["h2", "http/1.1"])
def test_demo_site_in_chromium(httpsd, proto):
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("chromium is not installed (./test.sh installs it)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        pytest.skip("playwright-core is not installed (./test.sh installs it)")
    static = os.path.join(REPO, "static")
    log = os.path.join(httpsd.new_cwd(), "access.log")
    # as ./run.sh serves it: the demo app everywhere but /static/
    extra = ["--no-http2"] if proto == "http/1.1" else []
    s = httpsd("--static", "/static=" + static, "--access-logfile", log, *extra,
               "--pythonpath", REPO, "wsgiapp:application", binds=["127.0.0.1:0"])
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "demo-chromium-%s.png" % proto.replace("/", ""))
    url = "https://127.0.0.1:%d/static/index.html" % s.https.port
    p = subprocess.run(["node", os.path.join(BROWSER_DIR, "check_demo.mjs"), url, shot],
                       capture_output=True, text=True, timeout=120, cwd=BROWSER_DIR)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["errors"] == [], r
    assert r["status"] == 200
    assert r["h1Color"] == "rgb(0, 102, 204)", "stylesheet not applied: %r" % r
    assert r["scriptRan"] and "JavaScript ran" in r["jsStatus"], r
    v = r["video"]
    assert v["readyState"] >= 3 and v["width"] == 320 and v["height"] == 180, v
    assert v["t1"] > v["t0"], "video did not play: %r" % v
    assert os.path.getsize(shot) > 1000
    statuses = {(x["url"].rsplit("/", 1)[-1], x["status"]) for x in r["responses"]}
    assert ("style.css", 200) in statuses and ("script.js", 200) in statuses, statuses
    # every response (the page, its parts, the video's ranges) came over the protocol asked for
    protocols = {(x["url"].rsplit("/", 1)[-1], x["protocol"]) for x in r["protocols"]
                 if x["url"].startswith("https://")}
    assert {"index.html", "style.css", "script.js", "sample.mp4"} <= {u for u, _ in protocols}
    assert {p for _, p in protocols} == {proto}, protocols
    # the server's own account: the video went out as ranges
    s.stop()
    lines = open(log).read().splitlines()
    version = "HTTP/2" if proto == "h2" else "HTTP/1.1"
    assert any('/static/sample.mp4 %s" 206 ' % version in l for l in lines), "\n".join(lines)
