"""The one settings class of the platform, read from the environment (and `.env`)."""

from settings.config import DEV_JWT_SECRET, Environment, Settings, load_settings

__all__ = ["DEV_JWT_SECRET", "Environment", "Settings", "load_settings"]
