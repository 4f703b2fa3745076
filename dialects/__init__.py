"""sparcc dialects: one file per dialect."""
