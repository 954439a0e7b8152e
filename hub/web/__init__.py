"""What people use in a browser or through HTTP: sign-in and roles (`auth`), the REST API (`api`, one module
per resource), the consoles (`console`, `templates/`), the figures they show (`stats`), and `init_web`, which
puts them on the Flask app."""

from pathlib import Path

from hub.web.setup import init_web
from hub.web.stats import collect

TEMPLATES = Path(__file__).parent / "templates"

__all__ = ["TEMPLATES", "collect", "init_web"]
