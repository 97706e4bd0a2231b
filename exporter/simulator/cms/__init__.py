"""CloudMonitor for the VBRs: synthetic metric figures, overrides and settings, the CMS
actions, the Simulator's methods for them and their control-plane routes."""
