"""The web dashboard (``queuectl dashboard``) and the Prometheus /metrics page."""
