"""Alembic's environment for claimwatch's migrations. There is no alembic.ini: `db.engine` builds
the configuration (`migrations_config`) and hands over an open connection, already inside the
transaction (and lock) it upgrades in, as `config.attributes["connection"]`.

To write a new revision after changing db/models.py, autogenerate it against a database at head
and hand-check it (data migrations, use_alter foreign keys, SQLite batch operations):

    claimwatch --db scratch.db db upgrade
    python -c 'from alembic import command; from db.engine import migrations_config as c
    command.revision(c("sqlite:///scratch.db"), "what changed", autogenerate=True,
                     rev_id="0003_what_changed")'

Revision ids are `NNNN_name`, at most 32 characters (alembic_version.version_num), and name
their file: `db.engine` reads the head revision from the file names. tests/test_migrations.py
fails while db/models.py and the migrations disagree.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from db.models import Base


def run(connection: Connection) -> None:
    # render_as_batch: SQLite can only ALTER by copying the table, which batch operations do
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url", ""),
                           poolclass=pool.NullPool)
    with engine.connect() as connection:
        run(connection)
