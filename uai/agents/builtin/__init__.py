"""Built-in agents that run offline: echo, steps, slow and fail."""
