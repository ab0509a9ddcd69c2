"""Tests of telemed/api."""
