"""flaskr: a blog in the shape of Flask's own tutorial app.

An application factory; the SQLite database lives in the instance folder,
which the project's .gitignore keeps out of version control.
"""
import os

from flask import Flask


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY", "dev"),
        DATABASE=os.path.join(app.instance_path, "flaskr.sqlite"),
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    # a simple page that says hello
    @app.route("/hello")
    def hello():
        return "Hello, World!"

    from . import db, blog

    db.init_app(app)
    app.register_blueprint(blog.bp)
    app.add_url_rule("/", endpoint="index")
    return app
