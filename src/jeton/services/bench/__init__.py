"""The bench domain: see docs.md beside this file."""
