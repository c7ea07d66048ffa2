"""Thin functions behind the schema's fields: parse, authorize, call db or workers, map."""
