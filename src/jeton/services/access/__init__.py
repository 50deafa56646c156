"""The access domain: see docs.md beside this file."""
