from django.urls import path
from django.views.generic.base import RedirectView

from notes import views

urlpatterns = [
    path("", RedirectView.as_view(url="/notes/")),
    path("notes/", views.notes),
    path("notes/clear", views.clear),
    path("visits", views.visits),
]
