"""Folio test harness (fixtures only; nothing here is imported by a service)."""
