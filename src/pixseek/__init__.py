"""pixseek: self-hosted, offline image search by words, by example and by tags."""

__version__ = "0.1.0"
