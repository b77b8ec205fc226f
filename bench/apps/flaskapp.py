# Flask hello route for bench/run (Debian's python3-flask), served as flaskapp:app.
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!"
