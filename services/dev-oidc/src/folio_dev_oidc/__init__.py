"""DEVELOPMENT ONLY OpenID provider standing in for Keycloak on a laptop."""
