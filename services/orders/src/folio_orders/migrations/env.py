"""Alembic environment: migrations run on the connection `folio_platform.database.migrate` passes in."""

from alembic import context

from folio_orders.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
