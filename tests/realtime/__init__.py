"""Tests of telemed/realtime."""
