"""The Grafana dashboards: ``generate.py`` writes ``dashboards/*.json`` from the builders in
``dashboards_src/``; ``provisioning/`` tells Grafana where to find them."""
