"""`python -m bot` is `opsbot`."""
from bot.cli import main

raise SystemExit(main())
