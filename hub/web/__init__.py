"""What people use in a browser or through HTTP: sign-in and roles (`auth`), API tokens (`tokens`, `bearer`, and
their table in `models`), the REST API (`api`, one module per resource), the consoles (`console`, `templates/`),
the figures they show (`stats`), and `init_web`, which puts them on the Flask app."""

from pathlib import Path

from hub.web.models import ApiToken
from hub.web.setup import init_web
from hub.web.stats import collect

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"  # the consoles' CSS and scripts, and vendored assets (static/vendor)

__all__ = ["STATIC", "TEMPLATES", "ApiToken", "collect", "init_web"]
