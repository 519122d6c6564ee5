"""Folio cart service."""
