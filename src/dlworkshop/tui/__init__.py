"""The Textual app: it renders events and runs work in workers, never on the UI thread."""
