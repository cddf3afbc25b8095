"""The stack's floor: the least a turn can cost with UAI's stack, measured beside UAI (bench/floors.py)."""
