"""The camera-host agent (no boto3, no prefect: it runs on small hosts)."""

# Reported in health; keep in step with pyproject.toml.
AGENT_VERSION = "0.1.0"
