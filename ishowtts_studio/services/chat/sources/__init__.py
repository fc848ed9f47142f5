"""Chat sources: one small class per platform, each satisfying `base.ChatSource`."""
