"""Command line contract: --help, --version, usage errors (2), startup errors (1)."""

import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import run_cli, free_port

README_FLAGS = [
    "--bind", "-b", "--certfile", "--keyfile", "--static", "--access-logfile",
    "--error-logfile", "--log-level", "--limit-request-line", "--limit-request-field-size",
    "--limit-request-fields", "--limit-request-body", "--keep-alive", "--header-timeout",
    "--handshake-timeout", "--io-timeout", "--graceful-timeout", "--version", "--help", "-h",
]


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_and_lists_every_flag(flag):
    p = run_cli([flag])
    assert p.returncode == 0, p.stderr
    text = p.stdout + p.stderr
    missing = [f for f in README_FLAGS
               if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(f), text)]
    assert not missing, "help does not mention %s:\n%s" % (missing, text)
    assert "listening on" not in text


def test_version_exits_0():
    p = run_cli(["--version"])
    assert p.returncode == 0, p.stderr
    text = (p.stdout + p.stderr).strip()
    assert text, "--version printed nothing"
    assert any(ch.isdigit() for ch in text), text
    assert "listening on" not in text


def test_unknown_flag_exit_2():
    p = run_cli(["-b", "http://127.0.0.1:0", "--no-such-flag"])
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "--no-such-flag" in p.stderr, p.stderr
    assert "listening on" not in p.stderr


@pytest.mark.parametrize("args", [
    ["--keep-alive", "abc"],
    ["--keep-alive", "-1"],
    ["--limit-request-line", "-5"],
    ["--limit-request-line", "abc"],
    ["--limit-request-field-size", "12abc"],
    ["--limit-request-fields", "-1"],
    ["--limit-request-body", "12x"],
    ["--header-timeout", "soon"],
    ["--handshake-timeout", "-3"],
    ["--io-timeout", ""],
    ["--graceful-timeout", "x1"],
    ["--bind", "127.0.0.1:99999"],
    ["--bind", "127.0.0.1:-1"],
    ["--bind", "ftp://127.0.0.1:0"],
    ["--static", "no-equals-sign"],
    ["--log-level", "loud"],
    ["--keep-alive"],  # missing value
], ids=lambda a: " ".join(a) or "empty")
def test_bad_value_exit_2(args):
    p = run_cli(["-b", "http://127.0.0.1:0"] + args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip(), "no error message"
    assert "listening on" not in p.stderr


@pytest.mark.parametrize("arg", ["no_such_module_xyz:application", "no_such_pkg.mod:app"])
def test_missing_app_module_exit_1(arg):
    p = run_cli(["-b", "http://127.0.0.1:0", arg])
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "cannot import module '%s'" % arg.split(":")[0] in p.stderr
    assert "ModuleNotFoundError" in p.stderr  # the Python traceback
    assert "listening on" not in p.stderr


@pytest.mark.parametrize("arg", [":app", "mod:", "mod:fa(ctory", "1mod:app", "mod..x:app",
                                 "mod:app()x", "mod:a-b"])
def test_malformed_app_exit_2(arg):
    p = run_cli(["-b", "http://127.0.0.1:0", arg])
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "bad APP" in p.stderr
    assert "listening on" not in p.stderr


@pytest.mark.parametrize("scheme", ["http://", ""])
def test_port_in_use_exit_1(scheme):
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        p = run_cli(["-b", "%s127.0.0.1:%d" % (scheme, port)])
    finally:
        blocker.close()
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert any(str(port) in l for l in lines), "error does not name the address:\n" + p.stderr
    assert "Traceback" not in p.stderr
    assert len(lines) <= 6, "expected one clear line, got:\n" + p.stderr
    assert "listening on" not in p.stderr


def test_unreadable_certfile_exit_1(tmp_path):
    p = run_cli(["-b", "127.0.0.1:0", "--certfile", str(tmp_path / "nope.pem"),
                 "--keyfile", str(tmp_path / "nokey.pem")], cwd=str(tmp_path))
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "nope.pem" in p.stderr or "nokey.pem" in p.stderr, p.stderr
    assert "listening on" not in p.stderr


def test_garbage_certfile_exit_1(tmp_path):
    (tmp_path / "c.pem").write_text("this is not a certificate\n")
    (tmp_path / "k.pem").write_text("this is not a key\n")
    p = run_cli(["-b", "127.0.0.1:0", "--certfile", str(tmp_path / "c.pem"),
                 "--keyfile", str(tmp_path / "k.pem")], cwd=str(tmp_path))
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "listening on" not in p.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_mismatched_key_exit_1(tmp_path):
    for name in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp_path / (name + "key.pem")),
                        "-out", str(tmp_path / (name + "cert.pem")), "-subj", "/CN=localhost",
                        "-days", "2"], check=True, capture_output=True, timeout=30)
    p = run_cli(["-b", "127.0.0.1:0", "--certfile", str(tmp_path / "acert.pem"),
                 "--keyfile", str(tmp_path / "bkey.pem")], cwd=str(tmp_path))
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "listening on" not in p.stderr



def test_access_log_in_missing_dir_exit_1(tmp_path):
    p = run_cli(["-b", "http://127.0.0.1:0", "--access-logfile", str(tmp_path / "no" / "dir" / "a.log")])
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "listening on" not in p.stderr


def test_error_log_in_missing_dir_exit_1(tmp_path):
    p = run_cli(["-b", "http://127.0.0.1:0", "--error-logfile", str(tmp_path / "no" / "dir" / "e.log")])
    assert p.returncode == 1, (p.returncode, p.stderr)


def test_unix_socket_in_missing_dir_exit_1(tmp_path):
    p = run_cli(["-b", "unix:%s" % (tmp_path / "no" / "dir" / "s.sock")])
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "listening on" not in p.stderr


def test_same_address_twice_exit_1():
    port = free_port()
    p = run_cli(["-b", "http://127.0.0.1:%d" % port, "-b", "http://127.0.0.1:%d" % port])
    assert p.returncode == 1, (p.returncode, p.stderr)
