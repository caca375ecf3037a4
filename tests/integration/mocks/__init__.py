"""Fake upstream servers for pier's integration tests."""
