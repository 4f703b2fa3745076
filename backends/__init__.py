"""sparcc backends: one folder per target."""
