"""Cloud Storage, Cloud Tasks and Firestore adapters; the only package that imports google.cloud."""
