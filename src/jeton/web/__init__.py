"""Server-rendered pages: the owner's dashboard (`/admin`), later the member pages.

Thin over `jeton.services`; assets are bundled in `static/` (no CDN). See docs.md.
"""

from jeton.web.admin import create_admin_router
from jeton.web.app import create_dashboard_app
from jeton.web.static import mount_static

__all__ = ["create_admin_router", "create_dashboard_app", "mount_static"]
