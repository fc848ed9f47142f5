"""Live chat: messages from sources through a queue policy, spoken in order in per-viewer voices.

`service.ChatService` is the public face (thread-safe); `policy` and `filters` are pure; `playout` is the
timeline every player follows; `sources/` holds one small class per chat platform.
"""
