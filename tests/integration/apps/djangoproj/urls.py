from django.urls import path

from djangoproj import views

urlpatterns = [
    path("", views.index),
    path("hello/<str:name>", views.hello),
    path("form", views.form),
    path("meta", views.meta),
    path("stream", views.stream),
    path("boom", views.boom),
]
