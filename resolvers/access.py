"""Authorization at the top of every private resolver: who may do what."""

from strawberry.types import Info

from auth.viewer import Via, Viewer
from db.enums import ApiScope
from schema.common import Forbidden, NotAuthenticated
from schema.context import Context


def signed_in(
    info: Info[Context, None], scope: ApiScope = ApiScope.READ
) -> Viewer | NotAuthenticated | Forbidden:
    """The viewer, if signed in (token, or API key with `scope`)."""
    viewer = info.context.viewer
    if viewer is None:
        problem = info.context.auth_problem
        return NotAuthenticated(message=problem) if problem else NotAuthenticated()
    if not viewer.can(scope):
        return Forbidden(message=f"This API key lacks the {scope.value} scope.")
    return viewer


def session_user(info: Info[Context, None]) -> Viewer | NotAuthenticated | Forbidden:
    """The viewer, signed in with a session token: money and key management refuse API keys."""
    viewer = signed_in(info)
    if isinstance(viewer, Viewer) and viewer.via is not Via.TOKEN:
        return Forbidden(message="This needs a signed-in session; API keys cannot do it.")
    return viewer


def admin(info: Info[Context, None]) -> Viewer | NotAuthenticated | Forbidden:
    viewer = session_user(info)
    if isinstance(viewer, Viewer) and not viewer.is_admin:
        return Forbidden(message="Only an administrator can do this.")
    return viewer
