"""Jeton's pure domain: amounts, assets, lots and spend order, transfers, holds, statuses.

Nothing in this package performs I/O or imports a framework; see docs.md.
"""
