"""Folio payment service."""
