"""Helpers for the lifecycle tests: shared request helpers and a killable server process."""
