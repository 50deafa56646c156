"""The events domain: see docs.md beside this file."""
