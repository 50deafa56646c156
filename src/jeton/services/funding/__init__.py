"""The funding domain: see docs.md beside this file."""
