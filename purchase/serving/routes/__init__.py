"""The HTTP routes: one router per concern, listed in service.py; the app, its OpenAPI document, the codecs."""
