"""The command-line group; each concern registers its own commands on it."""
from __future__ import annotations

import click

from bot.config import ConfigError, load_config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Chinese FAQ and escalation bot for enterprise service groups."""


def config_option(func):
    """The shared --config FILE option."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML config file (default: built-in settings, bundled FAQ).",
    )(func)


def get_config(config_path: str | None):
    """Load config or fail the command with one clear line."""
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def register_all() -> click.Group:
    """Import every module that adds commands, then return the group."""
    import faq.cli  # noqa: F401  (registers faq, ask)

    for optional in ("bot.server", "bot.queue_cli", "bot.db_cli"):
        try:
            __import__(optional)
        except ModuleNotFoundError as exc:
            if exc.name != optional:
                raise
    return cli
