"""The agent blueprint (its guard is in `guard`)."""

from flask import Blueprint

bp = Blueprint("agent", __name__)
