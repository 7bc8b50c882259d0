"""`python -m dlworkshop` runs the headless CLI."""

from dlworkshop.cli.main import main

raise SystemExit(main())
