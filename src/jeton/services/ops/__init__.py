"""The ops domain: see docs.md beside this file."""
