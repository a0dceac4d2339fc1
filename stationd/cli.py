"""`stationd …` commands."""

import click


@click.group()
def main() -> None:
    """stationd — the packing station."""
