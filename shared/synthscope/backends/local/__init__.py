"""Embedded defaults: filesystem blobs with locally signed URLs, SQLite reports, a SQLite task queue."""
