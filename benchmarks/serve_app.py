"""`trialbot serve`, unchanged, with Telegram's send pacing optionally turned off.

`python -m benchmarks.serve_app [--no-pacing] -- <trialbot serve options>`. trialbot keeps to one
message a second per Telegram chat and 30 a second in all (bot/channels/telegram.py PER_CHAT_GAP and
OVERALL_GAP), as Telegram asks of real bots. The fake Bot API has no such limits and neither has the
baseline PTB bot, so for the engine-to-engine comparison the benchmark sets both gaps to 0 here.
Everything else is the `trialbot serve` command itself (bot.cli), configured by environment variables.
"""

from __future__ import annotations

import faulthandler
import signal
import sys


def main() -> None:
    """Patch the pacing if asked, then run `trialbot serve` with the remaining arguments."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: every thread's stack to the log
    args = sys.argv[1:]
    if args and args[0] == "--no-pacing":
        args = args[1:]
        import bot.channels.telegram as telegram

        telegram.PER_CHAT_GAP = 0.0
        telegram.OVERALL_GAP = 0.0
    if args and args[0] == "--":
        args = args[1:]
    from bot.cli import main as trialbot

    trialbot(["serve", *args], prog_name="trialbot")


if __name__ == "__main__":
    main()
