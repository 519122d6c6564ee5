"""Folio identity as code: realm, directory seed."""
