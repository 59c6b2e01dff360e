from litestar import Controller

__all__ = ["ChatController"]


class ChatController(Controller):
    path = "/try"
