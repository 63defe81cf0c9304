"""A Flask app that counts its visits in Redis, reached through REDIS_URL
(the environment deploy writes from [services] redis). The count lives in
Redis, not in the release: it survives a redeploy."""
import os
import socket

import redis
from flask import Flask

VERSION = "v1"


def create_app():
    app = Flask(__name__)
    store = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)

    @app.get("/")
    def index():
        return {"version": VERSION, "host": socket.gethostname()}

    @app.post("/visit")
    def visit():
        return {"visits": store.incr("counter:visits"), "version": VERSION}

    @app.get("/visits")
    def visits():
        return {"visits": int(store.get("counter:visits") or 0), "version": VERSION}

    return app
