from flask import Blueprint, redirect, render_template, request, url_for

from .db import get_db

bp = Blueprint("blog", __name__)


@bp.route("/")
def index():
    posts = get_db().execute("SELECT id, title FROM post ORDER BY id").fetchall()
    return render_template("index.html", posts=posts)


@bp.route("/create", methods=("POST",))
def create():
    db = get_db()
    db.execute("INSERT INTO post (title) VALUES (?)", (request.form["title"],))
    db.commit()
    return redirect(url_for("index"))
