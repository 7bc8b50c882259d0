"""Screens and lab views."""
