"""The headless `dlworkshop` command: the same events as the TUI, printed with Rich or JSON."""
