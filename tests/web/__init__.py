"""Tests of the owner's dashboard: staff services and pages over HTTP."""
