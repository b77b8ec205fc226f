"""The demo site in a real browser: Debian's headless Chromium driven by playwright-core."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO

BROWSER_DIR = os.path.join(REPO, "tests", "browser")
ARTIFACTS = os.path.join(REPO, "tests", "artifacts")


def test_demo_site_in_chromium(httpsd):
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("chromium is not installed (./test.sh installs it)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        pytest.skip("playwright-core is not installed (./test.sh installs it)")
    static = os.path.join(REPO, "static")
    log = os.path.join(httpsd.new_cwd(), "access.log")
    # as ./run.sh serves it: the demo app everywhere but /static/
    s = httpsd("--static", "/static=" + static, "--access-logfile", log,
               "--pythonpath", REPO, "wsgiapp:application", binds=["127.0.0.1:0"])
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "demo-chromium.png")
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
    # the server's own account: the video went out as ranges
    s.stop()
    lines = open(log).read().splitlines()
    assert any('/static/sample.mp4 HTTP/1.1" 206 ' in l for l in lines), "\n".join(lines)
