"""Virtual border routers and BGP peers on the lines: records, store, fleet, the VPC actions
that describe them, the Simulator's methods for them and their control-plane routes."""
