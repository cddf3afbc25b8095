"""Adapters: one module per framework, each turning its output into ``agents.events``."""
