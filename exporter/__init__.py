"""Prometheus exporter for Alibaba Cloud Express Connect physical connections."""

__version__ = "0.1.0"
