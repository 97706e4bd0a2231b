"""Region IDs the VPC API serves and their endpoints (Alibaba Cloud's endpoint documentation, 2026).

Shared by config validation (catching ``cn-hangzou`` before the first request), the client
(endpoint per region) and the simulator (``DescribeRegions``).
"""

from __future__ import annotations

REGION_IDS: tuple[str, ...] = (
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-nanjing",
    "cn-fuzhou",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-wuhan-lr",
    "cn-hongkong",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "us-east-1",
    "us-west-1",
    "eu-central-1",
    "eu-west-1",
    "me-east-1",
    "me-central-1",
    "na-south-1",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-beijing-finance-1",
    "cn-hangzhou-finance",
)

_CENTRAL = {
    "cn-hangzhou",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-beijing-finance-1",
    "cn-hangzhou-finance",
}


def endpoint_host(region_id: str) -> str:
    """``vpc.aliyuncs.com`` for cn-hangzhou and the finance regions, else ``vpc.<region>...``."""
    if region_id in _CENTRAL:
        return "vpc.aliyuncs.com"
    return f"vpc.{region_id}.aliyuncs.com"
