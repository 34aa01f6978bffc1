"""Portfolio pages. ``portfolio.views.healthz`` stays importable for the load balancer route."""

from portfolio.views.health import healthz
from portfolio.views.home import home

__all__ = ["healthz", "home"]
