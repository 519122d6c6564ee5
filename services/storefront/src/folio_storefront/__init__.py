"""Folio storefront service."""
