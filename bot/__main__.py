"""`python -m bot` is the `wanbot` command."""

from bot.cli import main

raise SystemExit(main())
