"""A Flask app with a job queue: the web app enqueues, worker.py does the
jobs, tick.py runs on a schedule. Everything lives in SQLite in the
instance folder (the app's data folder on servers)."""
import json
import os
import socket

from flask import Flask, request

from . import db

VERSION = "v1"


def create_app():
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)

    @app.get("/")
    def index():
        return {"version": VERSION, "host": socket.gethostname()}

    @app.post("/enqueue")
    def enqueue():
        n = int(request.args.get("n", "1"))
        ids = db.enqueue(app.instance_path, n)
        return {"queued": ids}

    @app.get("/jobs")
    def jobs():
        return json.dumps(db.jobs(app.instance_path)), 200, {"Content-Type": "application/json"}

    return app
