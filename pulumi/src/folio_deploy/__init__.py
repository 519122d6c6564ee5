"""Folio's Pulumi program: a Cluster, the Platform on it and the folio App on the Platform."""
