"""A small Flask application for test_wsgi_flask.py."""

import hashlib
import os

from flask import (Flask, Response, jsonify, redirect, request, send_file,
                   stream_with_context)

app = Flask(__name__)
MARKER_DIR = os.environ.get("WSGI_MARKER_DIR", "/nonexistent")


@app.route("/")
def index():
    return "flask-index"


@app.route("/json", methods=["POST"])
def json_echo():
    data = request.get_json()
    return jsonify({"got": data, "n": len(data.get("items", [])), "method": request.method})


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    content = f.read()
    return jsonify({
        "name": request.form.get("name"),
        "filename": f.filename,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "content_type": f.mimetype,
    })


@app.route("/form", methods=["POST"])
def form():
    return jsonify({k: request.form.getlist(k) for k in request.form})


@app.route("/download/<name>")
def download(name):
    # send_file goes through environ['wsgi.file_wrapper'] (werkzeug.wsgi.wrap_file)
    return send_file(os.path.join(MARKER_DIR, name), mimetype="application/octet-stream",
                     conditional=True)


@app.route("/stream")
def stream():
    n = int(request.args.get("n", 5))

    @stream_with_context
    def gen():
        for i in range(n):
            yield "line %d of %s\n" % (i, request.args.get("tag", "none"))
    return Response(gen(), mimetype="text/plain")


@app.route("/boom")
def boom():
    raise RuntimeError("flask-boom-sentinel")


@app.route("/go")
def go():
    return redirect("/")


@app.route("/cookie")
def cookie():
    resp = jsonify({"seen": request.cookies.get("flavour")})
    resp.set_cookie("flavour", "oatmeal")
    resp.set_cookie("second", "two")
    return resp


@app.route("/info")
def info():
    return jsonify({"scheme": request.scheme, "host": request.host, "url": request.url,
                    "path": request.path, "args": request.args.to_dict(flat=False),
                    "remote_addr": request.remote_addr})


@app.errorhandler(404)
def not_found(e):
    return jsonify({"error": "custom-404", "path": request.path}), 404


@app.errorhandler(500)
def server_error(e):
    return jsonify({"error": "custom-500"}), 500


application = app
