"""Server-rendered pages: the owner's dashboard (`/admin`) and the member pages (`/m`).

Thin over `jeton.services`; assets are bundled in `static/` (no CDN). See docs.md.
"""

from jeton.web.admin import create_admin_router
from jeton.web.app import create_dashboard_app
from jeton.web.member import create_member_router
from jeton.web.static import mount_static

__all__ = ["create_admin_router", "create_dashboard_app", "create_member_router", "mount_static"]
