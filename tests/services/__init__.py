"""Tests of telemed/services."""
