from litestar import Controller

__all__ = ["EditController"]


class EditController(Controller):
    path = "/flows"
