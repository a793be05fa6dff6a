"""The ``voiceguide`` command."""

import click


@click.group()
def main() -> None:
    """Talk a person through a back massage."""
