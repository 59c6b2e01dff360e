from litestar import Controller

__all__ = ["CallsController"]


class CallsController(Controller):
    path = "/calls"
