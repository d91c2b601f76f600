"""De-identification per project: configs, tag operations, pseudonyms, the engine, leak checks."""
