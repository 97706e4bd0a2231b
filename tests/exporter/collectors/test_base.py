"""The collector seam's base: the settings model every collector's ``collectors.<name>`` block
extends, and the declarations the registry's collectors make."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from exporter.collectors import COLLECTORS, by_name
from exporter.collectors.base import CollectorConfig, PassContext, filter_params


def test_collector_config_leaves_unset_fields_to_inherit() -> None:
    assert CollectorConfig().enabled is None and CollectorConfig().interval is None
    assert CollectorConfig.model_validate({"interval": "2m"}).interval == 120.0
    with pytest.raises(ValidationError, match="at least 1s"):
        CollectorConfig.model_validate({"interval": "500ms"})
    with pytest.raises(ValidationError):
        CollectorConfig.model_validate({"intervl": "1m"})


def test_the_registry_declares_todays_defaults() -> None:
    declared = {c.name: (c.default_interval, c.timeout_policy, c.needs) for c in COLLECTORS}
    assert declared == {
        "physical_connections": (None, "refresh", None),
        "virtual_border_routers": (60.0, "interval", None),
        "traffic": (300.0, "interval", "virtual_border_routers"),
        "health_checks": (600.0, "interval", "virtual_border_routers"),
        "failover_tests": (600.0, "interval", "virtual_border_routers"),
    }
    names = set(by_name())
    assert all(c.needs in names for c in COLLECTORS if c.needs)
    # A collector that needs another runs after it (the registry's order).
    order = [c.name for c in COLLECTORS]
    assert all(order.index(c.needs) < order.index(c.name) for c in COLLECTORS if c.needs)


def test_pass_context_carries_default_settings() -> None:
    ctx = PassContext(client=None, account="a", region_id="r")  # type: ignore[arg-type]
    assert isinstance(ctx.settings, CollectorConfig)


def test_filter_params() -> None:
    assert filter_params({"Status": ["Enabled", "Terminated"], "Name": ["x"]}) == {
        "Filter.1.Key": "Name",
        "Filter.1.Value.1": "x",
        "Filter.2.Key": "Status",
        "Filter.2.Value.1": "Enabled",
        "Filter.2.Value.2": "Terminated",
    }


def test_filter_params_sort_keys_and_keep_value_order() -> None:
    assert filter_params({"Status": ("Enabled", "Allocated"), "LineOperator": ("CT",)}) == {
        "Filter.1.Key": "LineOperator",
        "Filter.1.Value.1": "CT",
        "Filter.2.Key": "Status",
        "Filter.2.Value.1": "Enabled",
        "Filter.2.Value.2": "Allocated",
    }
