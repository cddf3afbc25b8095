"""UAI, the Unified Agent Interface: the Django apps (agents, chats, runs, artifacts)."""
