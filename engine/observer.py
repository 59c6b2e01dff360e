"""What a session tells whoever watches it, as it happens: each event the moment the
history records it, and for a refusal why, in a word. The worker's metrics
(``flowctl.metrics``) plug in here, so the engine stays free of Prometheus and of any
idea of what is counted.

A refusal's ``reason`` is written for the model and quotes names it may have made up;
its :data:`RefusalCause` is one of a few fixed words, which is what may be counted.
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args

from flowctl.engine.events import Event

__all__ = ["REFUSAL_CAUSES", "Observer", "RefusalCause"]

# Why the conversation refused a call: it had ended; the function is not offered in the
# current state; the arguments do not fit the function's schema; a value does not fit
# its variable's type; a variable the edge `requires` is unset; its `when` is false.
RefusalCause = Literal[
    "ended", "not_offered", "invalid_arguments", "invalid_value", "requires", "condition"
]
REFUSAL_CAUSES: tuple[RefusalCause, ...] = get_args(RefusalCause)


class Observer(Protocol):
    """Called with each event as the conversation appends it to its history, and with
    the refusal's cause when the event is a ``RefusedEvent`` (None otherwise). It runs
    on the conversation's own path: it must be quick and must not raise."""

    def __call__(self, event: Event, cause: RefusalCause | None, /) -> None: ...
