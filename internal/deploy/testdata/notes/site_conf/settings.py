"""Production settings: secrets and the database from the environment
(DATABASE_URL, REDIS_URL, as a PaaS gives them), DEBUG off, only the
site's domain allowed."""
import os
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "not-secret-in-tests")
DEBUG = False
ALLOWED_HOSTS = ["notes.test"]

INSTALLED_APPS = ["django.contrib.contenttypes", "notes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "site_conf.urls"
WSGI_APPLICATION = "site_conf.wsgi.application"

db = urlparse(os.environ["DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": db.path.lstrip("/"),
        "USER": db.username,
        "PASSWORD": db.password,
        "HOST": db.hostname,
        "PORT": db.port or 5432,
    }
}
REDIS_URL = os.environ.get("REDIS_URL", "")

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
