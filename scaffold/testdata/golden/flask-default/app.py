"""myapp: the article's Flask app, made by `stackctl new --template flask`.

Run it on its own with `python3 app.py` (Flask's development server on
127.0.0.1:5000; HOST and PORT change that), behind the local proxy with
`stackctl serve`, and in production under gunicorn (see wsgi.py). Routes:

    /          "Hello, World!": an HTML page with the client's address, or
               the article's plain text to a client that asks for text/plain
    /healthz   200 "ok", for readiness checks
    /static/   the files of static/ (nginx serves them itself in production)
"""

import os

from flask import Flask, Response, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)

# The app trusts exactly one proxy in front of it (nginx, or stackctl serve),
# on the same machine: the client's address comes from the last entry of
# X-Forwarded-For and the scheme from X-Forwarded-Proto. Not X-Forwarded-Host:
# nginx sets Host itself but passes a client's X-Forwarded-Host on unchanged,
# so trusting it would let any client choose the host the app believes in.
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)


@app.route("/")
def hello_world():
    """The article's route: "Hello, World!", as a page or as plain text."""
    if request.accept_mimetypes.best_match(["text/html", "text/plain"]) == "text/plain":
        body = Response("Hello, World!", mimetype="text/plain")
    else:
        body = Response(render_template(
            "index.html",
            name="myapp",
            client=request.remote_addr,
            via_proxy="X-Forwarded-For" in request.headers,
            url=request.url_root,
        ))
    body.vary.add("Accept")
    return body


@app.route("/healthz")
def healthz():
    """Readiness check (app.health in stack.toml)."""
    return Response("ok\n", mimetype="text/plain")


def listen_address(environ=os.environ):
    """HOST and PORT from the environment, defaulting to 127.0.0.1:5000:
    loopback only, so the app is reached through the proxy."""
    host = environ.get("HOST") or "127.0.0.1"
    port = environ.get("PORT") or "5000"
    if not (port.isdigit() and 0 < int(port) < 65536):
        raise SystemExit("PORT=%s is not a port: use a number from 1 to 65535" % port)
    return host, int(port)


if __name__ == "__main__":
    # Flask's development server, for trying the app out; production runs
    # wsgi.py under gunicorn. FLASK_DEBUG=1 turns on the debugger, which runs
    # code for whoever reaches it: keep it on loopback.
    host, port = listen_address()
    app.run(host=host, port=port)
