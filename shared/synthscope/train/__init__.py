"""Training-data tooling: corpus builder, augmentation, sources."""
