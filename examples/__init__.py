"""Runnable agents from docs/agents/: one per framework, each registered in examples/agents.toml."""
