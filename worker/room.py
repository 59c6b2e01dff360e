"""The room side of a call: everything a session needs from LiveKit beyond the session.

:class:`CallRoom` is what ``worker/call.py`` uses; :class:`LiveKitRoom` implements it on
a job's ``JobContext`` (``flowctl.worker.fakes.FakeRoom`` on queues and lists, for tests):

- the first participant's attributes, when routing needs them;
- starting the session in the room (audio in and out, transcriptions);
- a publisher for the text-stream topics;
- whether the caller is on a phone line (SIP) and their number, a SIP transfer, hanging
  up (deleting the room ends the call for every participant, the phone line included),
  and ending the job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from flowctl.worker.publish import Publisher, RoomPublisher

if TYPE_CHECKING:
    from livekit import api, rtc
    from livekit.agents import Agent, AgentSession, JobContext

__all__ = ["CallRoom", "LiveKitRoom", "transfer_request"]

logger = logging.getLogger(__name__)


class CallRoom(Protocol):
    @property
    def publisher(self) -> Publisher: ...

    async def attributes(self) -> Mapping[str, str] | None:
        """The first participant's attributes (waiting for one to join)."""
        ...

    async def start(self, session: AgentSession[Any], agent: Agent) -> None: ...

    def caller_is_sip(self) -> bool: ...

    def caller_number(self) -> str | None:
        """The caller's phone number, when they are on a phone line (SIP)."""
        ...

    async def transfer(self, to: str) -> None:
        """Transfer the (SIP) caller to ``to``, a phone number or SIP URI."""
        ...

    async def hang_up(self) -> None: ...

    def shutdown(self, reason: str) -> None: ...


def transfer_request(room: str, identity: str, to: str) -> api.TransferSIPParticipantRequest:
    """LiveKit's request to transfer a SIP participant (a cold transfer: the caller
    leaves the room for ``to``). A bare number becomes a ``tel:`` URI, as LiveKit asks."""
    from livekit import api

    target = to if to.startswith(("sip:", "tel:")) else f"tel:{to}"
    return api.TransferSIPParticipantRequest(
        room_name=room, participant_identity=identity, transfer_to=target, play_dialtone=False
    )


class LiveKitRoom:
    """A job's room."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._caller: rtc.RemoteParticipant | None = None
        self._publisher: RoomPublisher | None = None

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = RoomPublisher(self._ctx.room)
        return self._publisher

    async def attributes(self) -> Mapping[str, str] | None:
        self._caller = await self._ctx.wait_for_participant()
        return dict(self._caller.attributes)

    async def start(self, session: AgentSession[Any], agent: Agent) -> None:
        # RoomIO connects to the room and follows the first participant.
        await session.start(agent, room=self._ctx.room)
        if self._caller is None:
            self._caller = session.room_io.linked_participant

    def _participant(self) -> rtc.RemoteParticipant | None:
        if self._caller is None:
            found: Any = next(iter(self._ctx.room.remote_participants.values()), None)
            self._caller = found
        return self._caller

    def caller_is_sip(self) -> bool:
        from livekit import rtc

        caller = self._participant()
        return caller is not None and caller.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP

    def caller_number(self) -> str | None:
        caller = self._participant()
        if caller is None or not self.caller_is_sip():
            return None
        # LiveKit's SIP bridge sets it to the number the caller dialled from.
        return caller.attributes.get("sip.phoneNumber") or None

    async def transfer(self, to: str) -> None:
        caller = self._participant()
        if caller is None:
            raise RuntimeError("no caller to transfer")
        request = transfer_request(self._ctx.room.name, caller.identity, to)
        await self._ctx.api.sip.transfer_sip_participant(request)

    async def hang_up(self) -> None:
        await self._ctx.delete_room()

    def shutdown(self, reason: str) -> None:
        self._ctx.shutdown(reason=reason)
