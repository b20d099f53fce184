"""Purchase prediction: will this user buy this item? Training, model store and serving logic."""

__version__ = "1.0.0"
