"""The production entry point of myapp, for gunicorn:

    gunicorn -w 2 -b 127.0.0.1:5000 wsgi:app

gunicorn listens on loopback only; nginx in front of it is the way in.
"""

from app import app

# Never debug in production, whatever FLASK_DEBUG says: with debug on, errors
# would be raised to the server instead of becoming a plain 500.
app.debug = False
