# Flask hello route for bench/wsgi.sh (Debian's python3-flask). Served as flaskapp:app.
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!"
