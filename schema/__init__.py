"""The one Strawberry schema: types, inputs, result unions, context, the ASGI app."""
