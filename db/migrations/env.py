from alembic import context

from db.migrate import run_migrations

run_migrations(context.config.attributes["database_url"], context.config)
