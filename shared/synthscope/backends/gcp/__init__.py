"""Cloud Storage, Cloud Tasks and Firestore adapters (arrive with their own issue)."""
