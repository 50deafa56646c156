"""The dashboard's pages, one module per section; each has a `router` made by `page_router()`."""
