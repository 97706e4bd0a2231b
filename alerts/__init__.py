"""Alert rule generator for expressconnect-exporter (see generate.py)."""
