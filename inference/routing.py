from django.urls import path

from inference.consumers import TextStreamConsumer

websocket_urlpatterns = [path("ws/text/", TextStreamConsumer.as_asgi())]
