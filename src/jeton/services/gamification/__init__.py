"""Gamification: points, badges, levels, challenges and leaderboards (see docs.md)."""
