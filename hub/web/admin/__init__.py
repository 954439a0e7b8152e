"""The admin's pages: users (create, deactivate, reset password, role, language), teams (skills, lead) and agents
(capacity, teams, presence).

Every page is the admin's alone: no session → the login page; any other role → 403. Forms are Flask-WTF forms
(CSRF); a change that succeeds redirects back to a page (Post/Redirect/Get), one that is refused shows the form
again with each field's error. Changes to agents and teams go through hub.tickets and run their effects after the
commit, so routing reacts at once (a raised capacity or a new team member takes waiting tickets)."""

from hub.web.admin import teams, users  # the routes register on the blueprint
from hub.web.admin.blueprint import bp

__all__ = ["bp", "teams", "users"]
