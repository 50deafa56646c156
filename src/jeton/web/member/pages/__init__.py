"""Member page modules: each has `router = page_router()`."""
