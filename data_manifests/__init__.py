"""Tables installed as ``leadattn.tables``: scored classes, weights and unscored codes."""
