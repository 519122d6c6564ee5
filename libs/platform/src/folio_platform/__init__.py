"""Folio's platform library: the few things every service needs, and nothing service-specific."""
