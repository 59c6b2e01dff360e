"""The web console of ``flowctl serve`` (docs/console.md): server-rendered pages over the
same store, keys and roles as the admin API, at ``/``.

``console_routes()`` are its pages and static files, ``template_config()`` the templates
they render, and :class:`Console` what it keeps between requests (sign-ins, drawn graphs,
chats); ``flowctl.api.create_app`` mounts them all.
"""

from flowctl.console.app import Console, console_routes, template_config

__all__ = ["Console", "console_routes", "template_config"]
