"""Redundancy and failover readiness in the simulator: CEN VBR health checks
(``DescribeCenVbrHealthCheck``), Express Connect failover tests (``DescribeFailoverTestJobs``,
``DescribeFailoverTestJob``) and VBR HA groups (``DescribeVbrHa``).

``model`` holds the records and settings, ``growth`` the data grown from the fleet, ``state``
the thread-safe methods (``Simulator.resilience``), ``api`` the actions, ``control`` the
``/_sim/`` routes, ``specs``/``steps`` the scenario steps. This module imports none of them,
so the scenario module can import ``specs`` without a cycle.
"""
