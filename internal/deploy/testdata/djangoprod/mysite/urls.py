from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", RedirectView.as_view(url="/hello/")),
    path("hello/", views.hello),
    path("note/", views.note),
]
