"""Functions offered as tools to the openai_chat example (a model with no code of its own)."""


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"
