"""Templates as files: the operator's own, in a folder beside the flows.

A template whose id is ``clinic_desk`` is the file ``clinic_desk.json`` of a templates
folder: by default the ``templates`` folder beside the flow file (for a file that is
itself in a folder named ``templates``, that folder), or the folders given with
``--templates``, searched in order. Ids are plain names (``TEMPLATE_ID``), so a
lookup never leaves its folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flowctl.engine.extends import Found, Missing
from flowctl.engine.load import MAX_FILE_BYTES

__all__ = ["TemplateFolders", "template_folders"]


def template_folders(flow: Path, given: Sequence[Path] | None = None) -> list[Path]:
    """Where the templates of the flow file ``flow`` are: ``given`` (``--templates``),
    else the ``templates`` folder beside it (or its own folder, if that is one)."""
    if given:
        return list(given)
    folder = flow.parent
    return [folder] if folder.name == "templates" else [folder / "templates"]


class TemplateFolders:
    """A template lookup (``flowctl.engine.extends.TemplateLookup``) over folders; each
    file is read once per lookup, however many flows extend it."""

    __slots__ = ("_read", "folders")

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = tuple(folders)
        self._read: dict[str, Found | Missing] = {}

    def __repr__(self) -> str:
        return f"TemplateFolders({[str(f) for f in self.folders]})"

    def __call__(self, template_id: str, depth: int, /) -> Found | Missing:
        found = self._read.get(template_id)
        if found is None:
            found = self._read[template_id] = self._find(template_id)
        return found

    def _find(self, template_id: str) -> Found | Missing:
        for folder in self.folders:
            path = folder / f"{template_id}.json"
            try:
                if not path.is_file():
                    continue
                size = path.stat().st_size
                if size > MAX_FILE_BYTES:
                    mib = MAX_FILE_BYTES // 1024 // 1024
                    reason = f"`{path}` is {size / 1024 / 1024:.1f} MiB; the limit is {mib} MiB"
                    return Missing(kind="unreadable", reason=reason)
                data = path.read_bytes()
            except OSError as exc:
                return Missing(kind="unreadable", reason=f"`{path}`: {exc.strerror or exc}")
            return Found(template_id=template_id, data=data, name=str(path))
        return Missing(kind="unknown", known=self._known())

    def _known(self) -> tuple[str, ...]:
        """The ids of the templates in the folders (for a did-you-mean)."""
        names: set[str] = set()
        for folder in self.folders:
            try:
                names.update(p.stem for p in folder.glob("*.json") if p.is_file())
            except OSError:
                continue
        return tuple(sorted(names))
