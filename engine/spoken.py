"""The spoken field of a structured answer, as the answer streams in.

A state with structured output makes the model answer in JSON, e.g.
``{"system_response": "Hello!", "credibility_score": 7}``. Only the spoken field goes to
text-to-speech, and a voice agent should start speaking before the whole object has
arrived. :class:`SpokenField` reads the answer chunk by chunk and hands out the spoken
field's text as soon as its characters arrive, JSON escapes decoded (``\\n``, ``\\"``,
``\\u00e9``, surrogate pairs), even when a chunk ends in the middle of an escape.

It is a scanner, not a validator: the whole answer is still validated against the
state's schema once it is complete (``Conversation.record_output``).
"""

from __future__ import annotations

import json
import re

__all__ = ["SpokenField"]

_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_SIMPLE_ESCAPES["t"] = "\t"


class SpokenField:
    """Feed it the answer's text with :meth:`feed`; each call returns the spoken text
    that became available."""

    def __init__(self, field: str) -> None:
        # The key as JSON writes it, then optional whitespace, a colon, whitespace and
        # the opening quote of a string value. Nesting is not tracked: the spoken field
        # is a top-level string, and a nested key of the same name before it would be
        # an odd schema (the compiled output types are flat).
        self._key = re.compile(re.escape(json.dumps(field)) + r'\s*:\s*"')
        self._buffer = ""  # text not yet consumed
        self._state = "seek"  # seek → value → done
        self._high: str | None = None  # a high surrogate waiting for its low half
        self.text = ""  # all of the spoken text so far

    @property
    def done(self) -> bool:
        """The spoken field's closing quote has been read."""
        return self._state == "done"

    def feed(self, chunk: str) -> str:
        if self._state == "done":
            return ""
        self._buffer += chunk
        if self._state == "seek":
            found = self._key.search(self._buffer)
            if found is None:
                # Keep a tail long enough to hold a key cut between chunks.
                self._buffer = self._buffer[-(len(self._key.pattern) + 64) :]
                return ""
            self._buffer = self._buffer[found.end() :]
            self._state = "value"
        out = self._value()
        self.text += out
        return out

    def _value(self) -> str:
        buf = self._buffer
        out: list[str] = []
        i = 0
        n = len(buf)
        while i < n:
            c = buf[i]
            if c == '"':
                if self._high is not None:
                    out.append("\ufffd")
                    self._high = None
                self._state = "done"
                i += 1
                break
            if c != "\\":
                if self._high is not None:
                    out.append("\ufffd")
                    self._high = None
                j = i
                while j < n and buf[j] not in '"\\':
                    j += 1
                out.append(buf[i:j])
                i = j
                continue
            if i + 1 >= n:
                break  # an escape cut between chunks: wait for the rest
            e = buf[i + 1]
            if e in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[e])
                i += 2
                continue
            if e != "u":
                out.append(e)  # not valid JSON; say the character rather than stall
                i += 2
                continue
            if i + 6 > n:
                break
            try:
                code = int(buf[i + 2 : i + 6], 16)
            except ValueError:
                i += 2
                continue
            i += 6
            if self._high is not None and not 0xDC00 <= code < 0xE000:
                out.append("\ufffd")  # a high half with no low half after it
                self._high = None
            if 0xD800 <= code < 0xDC00:
                self._high = chr(code)
                continue
            if 0xDC00 <= code < 0xE000 and self._high is not None:
                pair = (self._high + chr(code)).encode("utf-16", "surrogatepass")
                out.append(pair.decode("utf-16"))
                self._high = None
                continue
            self._high = None
            out.append("\ufffd" if 0xDC00 <= code < 0xE000 else chr(code))  # a lone half
        self._buffer = buf[i:]
        return "".join(out)
