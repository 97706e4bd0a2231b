"""Rendering a family table: one line per record and family, each ending in a newline, identity
labels after account and region, escaped label values, state sets with one series per state, no
sample for a missing number."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.families import RecordFamilies, RenderContext, gauge, render_families, state_set


@dataclass(frozen=True)
class Line:
    id: str
    status: str
    bandwidth: float | None


TABLE = (
    RecordFamilies(
        records=lambda snapshot: snapshot,
        identity=lambda line: (("physical_connection_id", line.id),),
        families=(
            gauge("x_bandwidth", "Bandwidth.", lambda line: line.bandwidth),
            state_set("x_status", "Status.", "status", ("Enabled", "Terminated"),
                      lambda line: line.status),
        ),
    ),
)  # fmt: skip


def test_render_families_for_a_tiny_snapshot() -> None:
    snapshot = [Line("pc-1", "Enabled", 2.5), Line('pc-"2"', "Confirmed", None)]
    ctx = RenderContext("prod", "cn-hangzhou")
    rendered = {name: "".join(out) for name, out in render_families(TABLE, snapshot, ctx)}
    base = 'account="prod",region_id="cn-hangzhou"'
    assert list(rendered) == ["x_bandwidth", "x_status"]
    assert rendered["x_bandwidth"] == f'x_bandwidth{{{base},physical_connection_id="pc-1"}} 2.5\n'
    two = f'{base},physical_connection_id="pc-\\"2\\""'
    assert rendered["x_status"].splitlines() == [
        f'x_status{{{base},physical_connection_id="pc-1",status="Enabled"}} 1',
        f'x_status{{{base},physical_connection_id="pc-1",status="Terminated"}} 0',
        f'x_status{{{two},status="Enabled"}} 0',
        f'x_status{{{two},status="Terminated"}} 0',
        f'x_status{{{two},status="Confirmed"}} 1',  # an undocumented state is not hidden
    ]
