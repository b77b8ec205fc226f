"""WSGI app loading: APP syntax, factory, --chdir, --pythonpath, --virtualenv, --version,
startup failures (exit 1, traceback, never half-started) and usage errors (exit 2)."""

import os
import re
import shutil
import subprocess
import textwrap

import pytest

from conftest import get, run_cli
from wsgihelp import (APPS, HTTP, PYTHON, env_of, get_json, markers, python_version_str,  # noqa: F401
                      read_marker, server_env, start)


def test_module_colon_callable(httpsd):
    srv = start(httpsd, "wsgi_basic:app")
    r = get(srv, "/some/path")
    assert r.status == 200, r
    assert r.body == b"app: GET /some/path"
    assert r.header("Content-Type") == "text/plain"


def test_module_alone_uses_application(httpsd):
    srv = start(httpsd, "only_application")
    r = get(srv, "/")
    assert r.status == 200 and r.body == b"only-application-module", r


def test_module_alone_without_application_fails(markers):
    p = run_cli(["-b", HTTP, "--pythonpath", APPS, "no_application"], env=server_env(markers))
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "listening on" not in p.stderr + p.stdout
    assert "application" in p.stderr and "no_application" in p.stderr, p.stderr


def test_factory_called_once(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:factory()", marker_dir=markers)
    for _ in range(3):
        r = get(srv, "/which")
        assert r.status == 200 and r.body == b"factory-app", r
    r = get(srv, "/x")
    assert r.body == b"app: GET /x"
    assert read_marker(markers, "factory-calls") == ["called"], \
        "factory() must be called exactly once at startup"


def test_factory_called_at_startup_not_first_request(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:factory()", marker_dir=markers)
    # no request yet: the factory already ran before "listening on"
    assert read_marker(markers, "factory-calls") == ["called"]
    srv.assert_alive()


def test_dotted_module(httpsd, tmp_path):
    pkg = tmp_path / "pkgroot" / "mypkg" / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / "pkgroot" / "mypkg" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "web.py").write_text(textwrap.dedent("""
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"dotted " + __name__.encode()]
    """))
    srv = start(httpsd, "mypkg.sub.web:app", pythonpath=str(tmp_path / "pkgroot"))
    r = get(srv, "/")
    assert r.status == 200 and r.body == b"dotted mypkg.sub.web", r


def test_chdir(httpsd, tmp_path):
    d = tmp_path / "appdir"
    d.mkdir()
    shutil.copy(os.path.join(APPS, "wsgi_basic.py"), str(d / "chdir_app.py"))
    (d / "data.txt").write_text("relative-data")
    srv = start(httpsd, "chdir_app:app", "--chdir", str(d), pythonpath=None)
    info = get_json(srv, "/info")
    assert os.path.realpath(info["cwd"]) == os.path.realpath(str(d))
    assert os.path.realpath(info["sys_path"][0]) == os.path.realpath(str(d)), info["sys_path"][:3]
    assert os.path.realpath(info["module_file"]) == os.path.realpath(str(d / "chdir_app.py"))


def test_pythonpath_multiple_dirs(httpsd, tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "ppapp.py").write_text(textwrap.dedent("""
        import pphelper
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [pphelper.VALUE]
    """))
    (b / "pphelper.py").write_text("VALUE = b'helper-from-second-dir'\n")
    srv = start(httpsd, "ppapp", pythonpath="%s:%s" % (a, b))
    r = get(srv, "/")
    assert r.status == 200 and r.body == b"helper-from-second-dir", r


def test_pythonpath_prepended(httpsd, tmp_path):
    """--pythonpath comes before the standard library: a local json.py shadows it."""
    d = tmp_path / "shadow"
    d.mkdir()
    (d / "shadowapp.py").write_text(textwrap.dedent("""
        import sys
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [repr(sys.path.index(%r)).encode()]
    """ % str(d)))
    srv = start(httpsd, "shadowapp", pythonpath=str(d))
    r = get(srv, "/")
    assert r.status == 200, r
    idx = int(r.body)
    # it must precede every stdlib / dist-packages entry (index 0, or 1 after '')
    assert idx <= 1, "pythonpath entry is at sys.path[%d]" % idx


def make_venv(tmp_path, marker_value):
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    sp = list(venv.glob("lib/python3*/site-packages"))
    assert len(sp) == 1, sp
    pkg = sp[0] / "venvmarker"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("MARKER = %r\n" % marker_value)
    return venv, sp[0]


def test_virtualenv_flag(httpsd, tmp_path):
    venv, sp = make_venv(tmp_path, "venv-marker-flag")
    srv = start(httpsd, "wsgi_basic:app", "--virtualenv", str(venv),
                env=server_env(VIRTUAL_ENV=None))
    info = get_json(srv, "/info?import=venvmarker")
    assert info.get("imported") == "venv-marker-flag", info
    assert os.path.realpath(os.path.dirname(info["imported_file"])) == \
        os.path.realpath(str(sp / "venvmarker"))
    # the app itself still comes from --pythonpath
    assert os.path.realpath(info["module_file"]) == os.path.realpath(os.path.join(APPS, "wsgi_basic.py"))


def test_virtual_env_environment_variable(httpsd, tmp_path):
    venv, sp = make_venv(tmp_path, "venv-marker-env")
    srv = start(httpsd, "wsgi_basic:app", env=server_env(VIRTUAL_ENV=str(venv)))
    info = get_json(srv, "/info?import=venvmarker")
    assert info.get("imported") == "venv-marker-env", info


def test_no_virtualenv_no_marker_package(httpsd, tmp_path):
    """Control: without the venv the marker package is not importable (the venv tests mean it)."""
    srv = start(httpsd, "wsgi_basic:app", env=server_env(VIRTUAL_ENV=None))
    info = get_json(srv, "/info?import=venvmarker")
    assert "imported" not in info and "ModuleNotFoundError" in info.get("import_error", ""), info


def test_embedded_python_is_the_system_one(httpsd):
    srv = start(httpsd, "wsgi_basic:app")
    info = get_json(srv, "/info")
    assert info["version"].split()[0] == python_version_str()
    assert info["name"] == "wsgi_basic"


def test_version_names_python():
    p = run_cli(["--version"])
    assert p.returncode == 0, p.stderr
    out = p.stdout.strip() or p.stderr.strip()
    assert len(out.splitlines()) == 1, out
    assert re.search(r"\bhttpsd\b", out), out
    assert "Python %s" % python_version_str() in out, out
    assert "OpenSSL" in out, out


def test_help_mentions_wsgi_options():
    p = run_cli(["--help"])
    assert p.returncode == 0
    text = p.stdout + p.stderr
    for flag in ("--threads", "--timeout", "--max-queue", "--chdir", "--pythonpath", "--virtualenv"):
        assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(flag), text), (flag, text)


# -- startup failures: exit 1, no "listening on", message naming the app, traceback ------------

def startup_fail(app, markers, *extra, pythonpath=APPS):
    args = ["-b", HTTP]
    if pythonpath:
        args += ["--pythonpath", pythonpath]
    args += list(extra) + [app]
    p = run_cli(args, env=server_env(markers), timeout=30)
    assert p.returncode == 1, "exit %s for %s; stderr:\n%s" % (p.returncode, app, p.stderr)
    assert "listening on" not in p.stderr + p.stdout, p.stderr
    return p


def test_missing_module(markers):
    p = startup_fail("no_such_module_q7z:app", markers)
    assert "no_such_module_q7z" in p.stderr
    assert "ModuleNotFoundError" in p.stderr, p.stderr


def test_missing_attribute(markers):
    p = startup_fail("wsgi_basic:no_such_callable_x9", markers)
    assert "no_such_callable_x9" in p.stderr, p.stderr
    assert "wsgi_basic" in p.stderr


def test_attribute_not_callable(markers):
    p = startup_fail("wsgi_basic:not_callable", markers)
    assert "not_callable" in p.stderr, p.stderr
    assert "callable" in p.stderr.replace("not_callable", ""), p.stderr


def test_exception_at_import(markers):
    p = startup_fail("broken_import:app", markers)
    assert "broken_import" in p.stderr
    assert "Traceback (most recent call last)" in p.stderr, p.stderr
    assert "RuntimeError: broken-import-sentinel-7f3a" in p.stderr, p.stderr
    assert re.search(r'File ".*broken_import\.py", line 3', p.stderr), p.stderr


def test_sys_exit_at_import(markers):
    p = startup_fail("exit_import:app", markers)
    assert "exit_import" in p.stderr, p.stderr


def test_syntax_error_in_module(markers, tmp_path):
    (tmp_path / "syntaxbad.py").write_text("def application(:\n    pass\n")
    p = startup_fail("syntaxbad:application", markers, pythonpath=str(tmp_path))
    assert "SyntaxError" in p.stderr, p.stderr
    assert "syntaxbad" in p.stderr


def test_factory_raises(markers):
    p = startup_fail("factory_raises:factory()", markers)
    assert "Traceback (most recent call last)" in p.stderr, p.stderr
    assert "ValueError: factory-raises-sentinel-91c2" in p.stderr, p.stderr
    assert "factory_raises" in p.stderr


def test_factory_returns_not_callable(markers, tmp_path):
    (tmp_path / "facnone.py").write_text("def make():\n    return None\n")
    p = startup_fail("facnone:make()", markers, pythonpath=str(tmp_path))
    assert "facnone" in p.stderr, p.stderr


def test_missing_factory(markers):
    p = startup_fail("wsgi_basic:no_factory_here()", markers)
    assert "no_factory_here" in p.stderr, p.stderr


def test_chdir_missing_dir(markers, tmp_path):
    p = run_cli(["-b", HTTP, "--chdir", str(tmp_path / "nope"), "wsgi_basic:app"],
                env=server_env(markers))
    assert p.returncode in (1, 2), (p.returncode, p.stderr)
    assert "nope" in p.stderr
    assert "listening on" not in p.stderr


def test_startup_failure_one_line_message_first(markers):
    """The clear one-line message names the app (module:callable as given)."""
    p = startup_fail("broken_import:app", markers)
    own = [l for l in p.stderr.splitlines()
           if "broken_import" in l and not l.startswith((" ", "Traceback", "RuntimeError"))]
    assert own, "no server message naming the app outside the traceback:\n%s" % p.stderr


@pytest.mark.parametrize("app", [":app", "mod:", "mod:fa(ctory", "mod:fa)", "mod:()"])
def test_malformed_app_string_exit_2(app):
    p = run_cli(["-b", HTTP, "--pythonpath", APPS, app], env=server_env())
    assert p.returncode == 2, (app, p.returncode, p.stderr)
    assert p.stderr.strip()
    assert "listening on" not in p.stderr
    assert "Traceback" not in p.stderr, "a usage error must not need Python: %s" % p.stderr


@pytest.mark.parametrize("args", [
    ["--threads", "-1"], ["--threads", "abc"], ["--threads", "4x"],
    ["--timeout", "soon"], ["--timeout", "-1"],
    ["--max-queue", "-1"], ["--max-queue", "x"],
    ["--threads"],
], ids=lambda a: " ".join(a))
def test_bad_wsgi_option_values_exit_2(args):
    p = run_cli(["-b", HTTP, "--pythonpath", APPS] + args + ["wsgi_basic:app"], env=server_env())
    assert p.returncode == 2, (args, p.returncode, p.stderr)
    assert "listening on" not in p.stderr


def test_two_apps_is_usage_error():
    p = run_cli(["-b", HTTP, "--pythonpath", APPS, "wsgi_basic:app", "only_application"],
                env=server_env())
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "listening on" not in p.stderr


def test_wsgi_options_without_app_still_serve_static(httpsd, site):
    """No APP: the static-only server still works (no Python needed)."""
    srv = httpsd("--static", "/static=%s" % site.root, binds=[HTTP])
    r = get(srv, "/static/hello.txt")
    assert r.status == 200
    r = get(srv, "/elsewhere")
    assert r.status == 404, r


def test_virtualenv_missing_dir_fails(markers, tmp_path):
    p = run_cli(["-b", HTTP, "--pythonpath", APPS, "--virtualenv", str(tmp_path / "no-venv"),
                 "wsgi_basic:app"], env=server_env(markers))
    assert p.returncode in (1, 2), (p.returncode, p.stderr)
    assert "no-venv" in p.stderr, p.stderr
    assert "listening on" not in p.stderr
