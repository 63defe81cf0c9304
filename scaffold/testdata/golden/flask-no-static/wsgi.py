"""The production entry point of hello-flask, for gunicorn:

    gunicorn -w 2 -b 127.0.0.1:5001 wsgi:app

gunicorn listens on loopback only; nginx in front of it is the way in.
"""

from app import app

# Never debug in production, whatever FLASK_DEBUG says: debug mode lets
# errors escape to the server and reloads templates on every request.
app.debug = False
