"""The command-line group; each concern registers its own commands on it."""
from __future__ import annotations

import importlib

import click

from bot.config import ConfigError, load_config


# Each command's module; imported when the command runs, so `run.py ask` never loads the web server.
COMMAND_MODULES = {
    "ask": "faq.cli",
    "faq": "faq.cli",
    "serve": "bot.server",
    "queue": "bot.queue_cli",
    "deliver": "bot.queue_cli",
    "db": "bot.db_cli",
}


class LazyGroup(click.Group):
    """A command group that imports a command's module only when that command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(COMMAND_MODULES[name])
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    """The command group; each command's module is imported when that command runs."""
    return cli
