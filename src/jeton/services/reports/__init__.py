"""The reports domain: see docs.md beside this file."""
