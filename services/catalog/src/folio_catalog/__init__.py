"""Folio catalog service."""
