"""Identity primitives: password hashing, access tokens, API key secrets, the viewer."""
