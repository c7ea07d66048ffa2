"""`python -m schema.export` writes schema.graphql, the schema as committed."""

from pathlib import Path

from strawberry.printer import print_schema

from schema.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def sdl() -> str:
    return print_schema(schema) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(sdl())
