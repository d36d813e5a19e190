"""Views of results for people and machines: text, JSON, GitHub annotations. No logic."""
