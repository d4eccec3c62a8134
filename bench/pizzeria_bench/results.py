"""What a run found: one row per scenario and contender, the ratios against the
issue's targets, and the worker's memory; as Markdown tables or as JSON."""

import dataclasses
import math
from typing import Any

BASELINE, WORKER = "baseline", "worker"
RAW_DB, RAW_NO_DB = "raw server + find_one", "raw server, no database"
CLIENT, FASTSTREAM = "worker, PizzeriaClient", "worker, FastStream request()"
PLACE, GET = "orders.place", "orders.get"
CONTENDERS = {PLACE: [BASELINE, WORKER], GET: [RAW_DB, RAW_NO_DB, CLIENT, FASTSTREAM]}


@dataclasses.dataclass
class Row:
    """One contender in one scenario; per-message figures are over the loaded run."""

    scenario: str
    contender: str
    messages: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_message: float
    database_commands_per_message: float
    publishes_per_message: float
    failures: int
    sequential_p50_ms: float | None = None
    sequential_p99_ms: float | None = None
    sequential_throughput: float | None = None
    database_commands: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Memory:
    """The worker's resident memory (MiB) after each stage of one process's life."""

    points: dict[str, float]
    growth_percent: float
    """From the first query stage to the last."""


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    scenario: str
    contender: str
    against: str
    figure: str
    at_most: bool
    limit: float


TARGETS = [
    Target("place throughput / baseline", PLACE, WORKER, BASELINE, "throughput", False, 1.0),
    Target("place CPU per command / baseline", PLACE, WORKER, BASELINE, "cpu_ms_per_message",
           True, 1.0),
    Target("place DB round trips / baseline", PLACE, WORKER, BASELINE,
           "database_commands_per_message", True, 1.0),
    Target("get throughput / raw + find_one", GET, CLIENT, RAW_DB, "throughput", False, 0.9),
    Target("get throughput / FastStream request()", GET, CLIENT, FASTSTREAM, "throughput",
           False, 3.0),
    Target("get CPU per query / raw + find_one", GET, CLIENT, RAW_DB, "cpu_ms_per_message",
           True, 1.2),
    Target("get sequential p50 / raw + find_one", GET, CLIENT, RAW_DB, "sequential_p50_ms",
           True, 1.3),
]  # fmt: skip


@dataclasses.dataclass
class Ratio:
    name: str
    value: float
    limit: str
    met: bool


@dataclasses.dataclass
class Report:
    options: dict[str, Any]
    rows: list[Row] = dataclasses.field(default_factory=list)
    memory: Memory | None = None
    checks: list[str] = dataclasses.field(default_factory=list)
    """What the run verified besides speed (guarantees), one sentence each."""

    def row(self, scenario: str, contender: str) -> Row | None:
        return next(
            (r for r in self.rows if r.scenario == scenario and r.contender == contender), None
        )

    def ratios(self) -> list[Ratio]:
        found = []
        for target in TARGETS:
            ours, theirs = (
                self.row(target.scenario, target.contender),
                self.row(target.scenario, target.against),
            )
            if ours is None or theirs is None:
                continue
            mine, other = getattr(ours, target.figure), getattr(theirs, target.figure)
            value = mine / other if other else math.inf if mine else 1.0
            met = value <= target.limit if target.at_most else value >= target.limit
            limit = f"{'≤' if target.at_most else '≥'} {target.limit:g}x"
            found.append(Ratio(target.name, round(value, 3), limit, met))
        if self.memory is not None:
            growth = self.memory.growth_percent
            found.append(Ratio("RSS growth over the query stages, %", growth, "≤ 10", growth <= 10))
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "options": self.options,
            "rows": [dataclasses.asdict(row) for row in self.rows],
            "memory": None if self.memory is None else dataclasses.asdict(self.memory),
            "ratios": [dataclasses.asdict(ratio) for ratio in self.ratios()],
            "checks": self.checks,
        }


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(report: Report) -> str:
    """The tables of docs/performance.md."""
    lines = [
        "| scenario | contender | msgs | msg/s | p50 ms | p99 ms | seq p50 ms | seq p99 ms "
        "| seq msg/s | CPU ms/msg | DB cmds/msg | publishes/msg | failed |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in report.rows:
        lines.append(
            f"| {r.scenario} | {r.contender} | {r.messages:,} | {_cell(r.throughput, 0)} "
            f"| {_cell(r.p50_ms)} | {_cell(r.p99_ms)} | {_cell(r.sequential_p50_ms, 2)} "
            f"| {_cell(r.sequential_p99_ms, 2)} | {_cell(r.sequential_throughput, 0)} "
            f"| {_cell(r.cpu_ms_per_message, 2)} | {_cell(r.database_commands_per_message, 2)} "
            f"| {_cell(r.publishes_per_message, 2)} | {r.failures} |"
        )
    lines += ["", "| target | ratio | wanted | met |", "|---|--:|---|---|"]
    for ratio in report.ratios():
        lines.append(
            f"| {ratio.name} | {ratio.value:.2f} | {ratio.limit} | {'yes' if ratio.met else 'NO'} |"
        )
    if report.memory is not None:
        points = ", ".join(f"{k}: {v:.1f} MiB" for k, v in report.memory.points.items())
        lines += ["", f"Worker RSS: {points}."]
    if report.checks:
        lines += ["", *(f"- {check}" for check in report.checks)]
    return "\n".join(lines)
