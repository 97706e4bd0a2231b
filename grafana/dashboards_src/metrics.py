"""The exporter's metric names under the short names the dashboard queries use.

Each is the exporter's own constant (from the module that defines the family), never the string,
so the dashboards cannot drift from what the exporter serves.
"""

from __future__ import annotations

from exporter import regiontable, selfmetrics
from exporter.collectors import failover_tests as ft
from exporter.collectors import health_checks as hc
from exporter.collectors import physical_connections as pc
from exporter.collectors import traffic as tr
from exporter.collectors import virtual_border_routers as vbr

INFO = pc.INFO
STATUS = pc.STATUS
BUSINESS = pc.BUSINESS_STATUS
BANDWIDTH = pc.BANDWIDTH
EXPIRY = pc.EXPIRY
CREATED = pc.CREATION
ENABLED = pc.ENABLED
STATUS_CHANGE = pc.STATUS_CHANGE
REGION_CONNECTIONS = pc.REGION_COUNT
VBR_INFO = vbr.VBR_INFO
VBR_STATUS = vbr.VBR_STATUS
VBR_BANDWIDTH = vbr.VBR_BANDWIDTH
BGP_INFO = vbr.BGP_INFO
BGP_PEER_STATUS = vbr.BGP_PEER_STATUS
BGP_STATUS = vbr.BGP_STATUS
BGP_RECEIVED = vbr.BGP_RECEIVED
BGP_ADVERTISED = vbr.BGP_ADVERTISED
BGP_ROUTE_LIMIT = vbr.BGP_ROUTE_LIMIT
BGP_STATUS_CHANGE = vbr.BGP_STATUS_CHANGE
REGION_VBRS = vbr.REGION_VBRS
REGION_PEERS = vbr.REGION_PEERS
TRAFFIC = tr.TRAFFIC
PACKETS = tr.PACKETS
DROPPED = tr.DROPPED
HEALTH_LATENCY = tr.HEALTH_LATENCY
HEALTH_LOSS = tr.HEALTH_LOSS
SAMPLE_TIME = tr.SAMPLE_TIME
HC_CONFIGURED = hc.CONFIGURED
HC_INFO = hc.INFO
HC_INTERVAL = hc.INTERVAL
HC_THRESHOLD = hc.HEALTHY_THRESHOLD
HC_SWITCHES = hc.SWITCHES_ROUTES
TEST_INFO = ft.TEST_INFO
TEST_STATUS = ft.TEST_STATUS
TEST_START = ft.TEST_START
TEST_STOP = ft.TEST_STOP
TEST_DURATION = ft.TEST_DURATION
TEST_RESOURCE = ft.TEST_RESOURCE
TEST_ACTIVE = ft.LINE_ACTIVE
LAST_TEST = ft.LINE_LAST_TEST
HA_INFO = ft.HA_INFO
HA_STATUS = ft.HA_STATUS
HA_CREATED = ft.HA_CREATION
# The alerts of the rules in config/alerts/ that are firing now.
FIRING_ALERTS = 'ALERTS{alertname=~"ExpressConnect.*", alertstate="firing"}'
# The region health series (one per account, region and collector) and the process's own.
REGION_UP = regiontable.REGION_UP
LAST_SUCCESS = regiontable.REGION_LAST_SUCCESS
REFRESH_DURATION = regiontable.REGION_DURATION
API_DURATION = selfmetrics.API_DURATION
API_REQUESTS = selfmetrics.API_REQUESTS
BUILD_INFO = selfmetrics.BUILD_INFO
REFRESH_ERRORS = selfmetrics.REFRESH_ERRORS
RELOAD_OK = selfmetrics.RELOAD_OK
RELOAD_TIMESTAMP = selfmetrics.RELOAD_TIMESTAMP
UNKNOWN_ENUMS = selfmetrics.UNKNOWN_ENUMS
# The collectors' names, as their ``collector`` label says.
LINES_COLLECTOR = pc.NAME
VBRS_COLLECTOR = vbr.NAME
TRAFFIC_COLLECTOR = tr.NAME
HEALTH_CHECKS_COLLECTOR = hc.NAME
FAILOVER_COLLECTOR = ft.NAME
