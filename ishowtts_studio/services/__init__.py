"""Services: one per tab (voices, synthesis, nfe, ab, bench), built by `Studio` and handed to the UI.

Each service validates its own input (raising `InputError` with a message for the user) and talks to the
runtime for anything that needs an engine; none imports gradio. Room is left for `chat/` (the live chat
service: sources, policy, queue), which lands here as its own package.
"""
