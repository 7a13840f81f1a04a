"""Imports: a file or an HTTP batch becomes one receipt and one transaction."""
