"""Label names derived from configured values, shared by configuration and rendering.

Neutral ground: the configuration checks that two tag keys do not give one label, rendering
writes the labels, and neither imports the other.
"""

from __future__ import annotations

import re


def tag_label_name(key: str) -> str:
    """The label for resource tag ``key``: ``tag_`` + the key with every character outside
    ``[A-Za-z0-9_]`` replaced by ``_`` (``cost-center`` → ``tag_cost_center``)."""
    return "tag_" + re.sub(r"[^A-Za-z0-9_]", "_", key)
