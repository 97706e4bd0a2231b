"""PromQL the alert rule generator (``alerts/generate.py``) and the dashboard generator
(``grafana/generate.py``) share: see :mod:`promql.fragments`."""
