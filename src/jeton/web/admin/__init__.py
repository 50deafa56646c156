"""The owner's dashboard (`/admin`): staff sign-in, roles, and the page framework.

How to add a page is in `jeton/web/docs.md`.
"""

from jeton.web.admin.router import create_admin_router

__all__ = ["create_admin_router"]
