"""Folio orders service."""
