"""The arithmetic and parsing the benchmark reports rest on (run: pytest bench/test_benchlib.py).

The benchmarks themselves are run by hand; if these helpers were wrong, their numbers would be
wrong without anyone noticing.
"""

from __future__ import annotations

import math

import pytest

from bench.benchlib import (
    Window,
    http,
    least_squares_slope,
    mismatches,
    pages,
    parse_labels,
    pass_window,
    samples,
)

EXPOSITION = """\
# HELP expressconnect_region_up 1 when ...
# TYPE expressconnect_region_up gauge
expressconnect_region_up{account="a",region_id="cn-hangzhou",collector="physical_connections"} 1
expressconnect_region_up{account="a",region_id="cn-beijing",collector="physical_connections"} 0
expressconnect_region_upper{account="a"} 7
expressconnect_physical_connection_info{name="a \\"q\\" b}",region_id="r"} 1
process_max_fds 1024.0
"""


def test_samples_take_only_the_named_families_with_their_labels() -> None:
    found = list(samples(EXPOSITION, ("expressconnect_region_up",)))
    assert [(s.labels["region_id"], s.value) for s in found] == [
        ("cn-hangzhou", 1.0),
        ("cn-beijing", 0.0),
    ]


def test_samples_unescape_labels_and_read_unlabelled_values() -> None:
    (info,) = samples(EXPOSITION, ("expressconnect_physical_connection_info",))
    assert info.labels == {"name": 'a "q" b}', "region_id": "r"}
    (fds,) = samples(EXPOSITION, ("process_max_fds",))
    assert (fds.name, fds.labels, fds.value) == ("process_max_fds", {}, 1024.0)


def test_parse_labels_undoes_backslash_escapes() -> None:
    assert parse_labels(r'a="x\\y",b="line\nnext"') == {"a": "x\\y", "b": "line\nnext"}


def test_least_squares_slope_of_a_noisy_line() -> None:
    points = [(x, 3.0 * x + 2.0 + (0.1 if x % 2 else -0.1)) for x in range(10)]
    assert least_squares_slope(points) == pytest.approx(3.0, abs=0.05)
    assert math.isnan(least_squares_slope([(1.0, 2.0)]))
    assert math.isnan(least_squares_slope([(1.0, 2.0), (1.0, 3.0)]))


def test_pages_count_the_first_page_of_an_empty_listing() -> None:
    assert [pages(n, 50) for n in (0, 1, 50, 51, 500)] == [1, 1, 1, 2, 10]


def test_pass_window_spans_first_start_to_last_end() -> None:
    window = pass_window([(110.0, 10.0), (105.0, 2.0), (120.0, 5.0)])
    assert window == Window(100.0, 120.0)
    assert window.seconds == 20.0
    with pytest.raises(ValueError):
        pass_window([])


def test_mismatches_count_missing_extra_and_changed_objects() -> None:
    truth = {"r1": {"pc-1": "Enabled/Normal", "pc-2": "Initial/Normal"}, "r2": {}}
    seen = {"r1": {"pc-1": "Enabled/FinancialLocked", "pc-3": "Enabled/Normal"}, "r3": {"x": "a"}}
    found = mismatches(seen, truth)
    assert len(found) == 4
    assert any("pc-2 missing" in line for line in found)
    assert any("pc-3 exported" in line for line in found)
    assert any(
        "pc-1 exported as Enabled/FinancialLocked, is Enabled/Normal" in line for line in found
    )
    assert mismatches(truth, truth) == []


def test_http_refuses_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match="not a loopback URL"):
        http("http://example.invalid:80/")
