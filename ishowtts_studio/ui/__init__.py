"""Gradio user interface. Nothing outside this package (and app.py) imports gradio."""

from ishowtts_studio.ui.app import build_ui, launch_options, server_options

__all__ = ["build_ui", "launch_options", "server_options"]
