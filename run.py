"""Command line: `python run.py --help`."""
from bot.cli import register_all

if __name__ == "__main__":
    register_all()(prog_name="run.py")
