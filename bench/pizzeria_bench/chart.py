"""The results side by side as a PNG (matplotlib, from the `bench` extra)."""

from pathlib import Path

from .results import BASELINE, CLIENT, FASTSTREAM, RAW_DB, RAW_NO_DB, WORKER, Report, Row

FIGURES = [
    ("throughput", "messages a second (wall clock)"),
    ("cpu_ms_per_message", "CPU ms per message (consumer)"),
    ("database_commands_per_message", "database commands per message"),
    ("publishes_per_message", "broker publishes per message"),
    ("sequential_p50_ms", "one at a time: p50 ms"),
]
LABELS = {
    BASELINE: "place\nbaseline",
    WORKER: "place\nworker",
    CLIENT: "get: worker\nPizzeriaClient",
    FASTSTREAM: "get: worker\nFastStream",
    RAW_DB: "get: raw\n+ find_one",
    RAW_NO_DB: "get: raw\nno database",
}
REFERENCES = (BASELINE, RAW_DB, RAW_NO_DB)


def _colour(row: Row) -> str:
    return "#9e9e9e" if row.contender in REFERENCES else "#c62828"


def draw(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 3, figsize=(18, 10))
    for axis, (figure_name, title) in zip(axes.flat, FIGURES, strict=False):
        rows = [row for row in report.rows if getattr(row, figure_name) is not None]
        labels = [LABELS.get(row.contender, row.contender) for row in rows]
        values = [getattr(row, figure_name) for row in rows]
        bars = axis.bar(range(len(rows)), values, color=[_colour(row) for row in rows])
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
        axis.set_title(title)
        axis.set_xticks(range(len(rows)), labels, fontsize=8)
    _memory(axes.flat[5], report)
    figure.suptitle(
        "pizzeria-bench on mongo-java-server (2 cores): grey = hand-written aio-pika + pymongo, "
        "red = the worker; ratios within one run are what counts"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _memory(axis: "object", report: Report) -> None:
    from matplotlib.axes import Axes

    assert isinstance(axis, Axes)
    axis.set_title("worker RSS, MiB")
    if report.memory is None:
        axis.text(0.5, 0.5, "not measured", ha="center")
        return
    stages = list(report.memory.points)
    values = list(report.memory.points.values())
    axis.plot(range(len(stages)), values, marker="o", color="#c62828")
    for x, value in enumerate(values):
        axis.annotate(f"{value:.0f}", (x, value), textcoords="offset points", xytext=(0, 6))
    axis.set_xticks(range(len(stages)), stages, fontsize=7)
    axis.set_ylim(0, max(values) * 1.25)
