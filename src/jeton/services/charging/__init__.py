"""The charging domain: see docs.md beside this file."""
