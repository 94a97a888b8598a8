from django.urls import path

from inference.consumers import ImageGenerationConsumer, TextStreamConsumer

websocket_urlpatterns = [
    path("ws/text/", TextStreamConsumer.as_asgi()),
    path("ws/images/", ImageGenerationConsumer.as_asgi()),
]
