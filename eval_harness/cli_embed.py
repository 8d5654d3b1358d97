"""Commands of this module (placeholder: filled in by its issue)."""
import click  # noqa: F401

COMMANDS: list = []
