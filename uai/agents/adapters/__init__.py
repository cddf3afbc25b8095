"""Adapters: one module per framework, each turning its output into ``agents.events``."""


def instance_or_factory(target: object, kind: type, what: str) -> tuple[object, bool]:
    """How to get the framework object for a run: ``(maker, shared)``.

    An instance of ``kind`` is shared by every run (``maker`` returns it); any other callable is a
    factory called per run. Anything else is refused, naming ``what`` was expected.
    """
    if isinstance(target, kind):
        return (lambda: target), True
    if callable(target):
        return target, False
    raise TypeError(f"{target!r} is not {what} (or a factory of one)")
