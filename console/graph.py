"""A compiled flow laid out for the flow page's drawing: states as boxes in layers (each
state one layer below the first state that hands off to it, breadth first from the start),
handoffs as curves between them labelled with the edge and its guard, and each state's
lint findings attached to its box.

Only coordinates and words are made here; ``templates/_graph.html`` writes the SVG, so
every name and message a flow provides reaches the page through the template engine's
escaping. The layout is linear in states and edges; a flow of a few hundred states still
draws in a few milliseconds (the page caches it per version, a version never changes).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flowctl.engine.compile import CompiledFlow
from flowctl.engine.store import StoredFinding
from flowctl.engine.templates import parse_template

__all__ = ["Box", "Curve", "Drawing", "StateFacts", "draw", "finding_state"]

# Box sizes in SVG user units. A name's width is guessed from its length (the page's
# font is 14px sans-serif; 8 units a character covers capitals), within bounds that keep
# a long name from pushing its layer off the page: the full name is in the box's title.
CHAR = 8.0
MIN_WIDTH, MAX_WIDTH = 120.0, 260.0
HEIGHT = 48.0
GAP_X, GAP_Y = 96.0, 100.0
MARGIN = 24.0
MAX_NAME = 30  # characters shown in a box

_AGENT_AT = re.compile(r"\$\.agents\[(\d+)\](?:\.edges\[(\d+)\])?")


def finding_state(message: str) -> tuple[int, int | None] | None:
    """The state (its index in ``agents``) and edge a finding's message points at
    (`` - at `$.agents[2].edges[0].target_agent` ``), or None for a flow-level one."""
    found = _AGENT_AT.search(message)
    if found is None:
        return None
    edge = found.group(2)
    return int(found.group(1)), int(edge) if edge is not None else None


@dataclass(slots=True)
class Box:
    index: int
    name: str
    shown: str  # the name as the box prints it (shortened when long)
    x: float
    y: float
    width: float
    start: bool
    end: bool
    actions: list[str]  # edges and tools that run and stay in the state
    findings: list[StoredFinding] = field(default_factory=list)

    @property
    def severity(self) -> str | None:
        """``error`` or ``warning``: the worst of the box's findings, if any."""
        if not self.findings:
            return None
        return "error" if any(f.severity == "error" for f in self.findings) else "warning"

    @property
    def note(self) -> str:
        """The box's second line: start, end, and the actions that stay."""
        parts = ["start"] if self.start else []
        if self.end:
            parts.append("end")
        if self.actions:
            acts = ", ".join(self.actions)
            parts.append("↻ " + (acts if len(acts) <= 26 else acts[:25] + "…"))
        return " · ".join(parts)

    @property
    def cx(self) -> float:
        return self.x + self.width / 2


@dataclass(slots=True)
class Curve:
    source: str
    target: str
    label: str  # the edge's name, with its guard in brackets
    path: str  # SVG path data
    label_x: float
    label_y: float
    automatic: bool
    back: bool  # to a state above or beside its source (a loop back)
    flagged: bool = False  # a finding points at this edge


@dataclass(slots=True)
class StateFacts:
    """What a state's panel under the drawing shows."""

    index: int
    name: str
    instructions: str
    greeting: str | None
    tools: list[str]
    reads: list[str]  # variables its texts use
    edges: list[dict[str, Any]]
    end: bool


@dataclass(slots=True)
class Drawing:
    width: float
    height: float
    boxes: list[Box]
    curves: list[Curve]
    global_edges: list[str]
    states: list[StateFacts]
    flow_findings: list[StoredFinding]  # those no state is named by


def _layers(compiled: CompiledFlow) -> list[list[int]]:
    """States by breadth-first depth over handoffs from the start; states no handoff
    reaches go in a last layer of their own."""
    targets: dict[int, list[int]] = {s.index: [] for s in compiled.states}
    for row in compiled.table:
        if row.dest is not None and row.dest != row.source:
            src, dst = compiled.state_index[row.source], compiled.state_index[row.dest]
            targets[src].append(dst)
    depth = {compiled.start: 0}
    queue = deque([compiled.start])
    while queue:
        at = queue.popleft()
        for nxt in targets[at]:
            if nxt not in depth:
                depth[nxt] = depth[at] + 1
                queue.append(nxt)
    layers: list[list[int]] = [[] for _ in range(max(depth.values()) + 1)]
    for index, d in sorted(depth.items(), key=lambda kv: kv[0]):
        layers[d].append(index)
    unreached = [s.index for s in compiled.states if s.index not in depth]
    if unreached:
        layers.append(unreached)
    # One sweep of barycentres: each state under the mean place of the states that hand
    # off to it, which untangles the common fan-out without a crossing minimiser.
    place = {i: p for layer in layers for p, i in enumerate(layer)}
    sources: dict[int, list[int]] = {}
    for src, dsts in targets.items():
        for dst in dsts:
            sources.setdefault(dst, []).append(src)
    for layer in layers[1:]:
        layer.sort(
            key=lambda i: sum(place[s] for s in sources.get(i, [i])) / len(sources.get(i, [i]))
        )
        for p, i in enumerate(layer):
            place[i] = p
    return layers


def _shown(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def draw(compiled: CompiledFlow, findings: Sequence[StoredFinding]) -> Drawing:
    """The drawing of ``compiled`` with ``findings`` (a stored version's) on its boxes."""
    global_names = {e.name for e in compiled.flow.global_edges}
    actions: dict[str, list[str]] = {s.name: [] for s in compiled.states}
    for row in compiled.table:
        if row.trigger not in global_names and (row.dest is None or row.dest == row.source):
            actions[row.source].append(row.trigger)
    layers = _layers(compiled)
    widths = {
        s.index: min(MAX_WIDTH, max(MIN_WIDTH, CHAR * len(_shown(s.name)) + 28))
        for s in compiled.states
    }
    row_widths = [sum(widths[i] for i in layer) + GAP_X * (len(layer) - 1) for layer in layers]
    width = max(row_widths) + 2 * MARGIN
    boxes: dict[int, Box] = {}
    for depth, layer in enumerate(layers):
        x = MARGIN + (width - 2 * MARGIN - row_widths[depth]) / 2
        for i in layer:
            state = compiled.states[i]
            boxes[i] = Box(
                index=i,
                name=state.name,
                shown=_shown(state.name),
                x=x,
                y=MARGIN + 28 + depth * (HEIGHT + GAP_Y),
                width=widths[i],
                start=i == compiled.start,
                end=state.end,
                actions=actions[state.name],
            )
            x += widths[i] + GAP_X
    flagged: set[tuple[int, int]] = set()
    flow_findings: list[StoredFinding] = []
    for finding in findings:
        where = finding_state(finding.message)
        if where is None or where[0] not in boxes:
            flow_findings.append(finding)
            continue
        at, edge = where
        boxes[at].findings.append(finding)
        if edge is not None:
            flagged.add((at, edge))
    curves = _curves(compiled, boxes, global_names, flagged)
    height = MARGIN * 2 + 28 + len(layers) * HEIGHT + (len(layers) - 1) * GAP_Y + 16
    return Drawing(
        width=round(width, 1),
        height=round(height, 1),
        boxes=[boxes[s.index] for s in compiled.states],
        curves=curves,
        global_edges=sorted(global_names),
        states=[_facts(compiled, i) for i in range(len(compiled.states))],
        flow_findings=flow_findings,
    )


def _curves(
    compiled: CompiledFlow,
    boxes: dict[int, Box],
    global_names: set[str],
    flagged: set[tuple[int, int]],
) -> list[Curve]:
    curves: list[Curve] = []
    seen: dict[tuple[int, int], int] = {}  # parallel edges between one pair fan out
    labels = _Labels()
    for row in compiled.table:
        if row.trigger in global_names or row.dest is None or row.dest == row.source:
            continue
        a = boxes[compiled.state_index[row.source]]
        b = boxes[compiled.state_index[row.dest]]
        nth = seen.get((a.index, b.index), 0)
        seen[(a.index, b.index)] = nth + 1
        spread = nth * 14.0
        guard = f" [{' and '.join(row.conditions)}]" if row.conditions else ""
        label = row.trigger + guard
        label = label if len(label) <= 48 else label[:47] + "…"
        back = False
        if b.y > a.y:  # down to a later layer
            x1, y1 = a.cx + spread, a.y + HEIGHT
            x2, y2 = b.cx + spread, b.y
            mid = (y1 + y2) / 2
            path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"
            lx, ly = (x1 + x2) / 2, mid
        elif b.y == a.y:  # across a layer: under the boxes between
            left = a.x < b.x
            x1 = a.x + a.width * (0.75 if left else 0.25)
            x2 = b.x + b.width * (0.25 if left else 0.75)
            y1 = y2 = a.y + HEIGHT
            dip = y1 + 34 + spread
            path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{dip:.1f} {x2:.1f},{dip:.1f} {x2:.1f},{y2:.1f}"
            lx, ly = (x1 + x2) / 2, dip - 6
        else:  # back up: around the right-hand sides
            x1, y1 = a.x + a.width, a.y + HEIGHT / 2 + spread / 2
            x2, y2 = b.x + b.width, b.y + HEIGHT / 2 - spread / 2
            bend = max(x1, x2) + 48 + spread * 2
            path = f"M{x1:.1f},{y1:.1f} C{bend:.1f},{y1:.1f} {bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            lx, ly, back = bend - 8, (y1 + y2) / 2, True
        lx, ly = labels.place(lx, ly, len(label))
        edge_index = _edge_index(compiled, a.index, row.trigger)
        curves.append(
            Curve(
                source=a.name,
                target=b.name,
                label=label,
                path=path,
                label_x=round(lx, 1),
                label_y=round(ly, 1),
                automatic=row.kind == "auto",
                back=back,
                flagged=(a.index, edge_index) in flagged,
            )
        )
    return curves


class _Labels:
    """Where edge labels went, so that the next one is moved down until it overlaps
    none (looked up in bands of the page's height: linear in the number of labels)."""

    BAND = 16.0
    CHAR = 6.8  # 11px monospace

    def __init__(self) -> None:
        self._bands: dict[int, list[tuple[float, float, float, float]]] = {}

    def place(self, x: float, y: float, length: int) -> tuple[float, float]:
        half = length * self.CHAR / 2 + 4
        x = max(x, half + 2)  # never off the drawing's left edge
        for _ in range(8):
            box = (x - half, y - 9, x + half, y + 6)
            band = int(y // self.BAND)
            near = [r for b in (band - 1, band, band + 1) for r in self._bands.get(b, [])]
            if not any(_overlap(box, r) for r in near):
                self._bands.setdefault(band, []).append(box)
                return x, y
            y += self.BAND
        return x, y


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _edge_index(compiled: CompiledFlow, state: int, trigger: str) -> int:
    for i, edge in enumerate(compiled.states[state].spec.edges):
        if edge.name == trigger:
            return i
    return -1


def _reads(*texts: str | None) -> list[str]:
    names: set[str] = set()
    for text in texts:
        if text:
            names.update(p.name for p in parse_template(text))
    return sorted(names)


def _facts(compiled: CompiledFlow, index: int) -> StateFacts:
    state = compiled.states[index]
    spec = state.spec
    edges = [
        {
            "name": e.name,
            "kind": e.action,
            "target": e.target_agent,
            "description": e.description,
            "parameters": sorted(e.parameters),
            "requires": list(e.requires),
        }
        for e in spec.edges
    ]
    says = [e.say for e in spec.edges]
    return StateFacts(
        index=index,
        name=state.name,
        instructions=spec.instructions,
        greeting=spec.on_enter_prompt,
        tools=list(spec.tools),
        reads=_reads(spec.instructions, spec.on_enter_prompt, *says),
        edges=edges,
        end=state.end,
    )
