"""Simulator tests: real Azure SDKs against azuresim."""
