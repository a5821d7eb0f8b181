"""The experiment spec: a YAML/TOML file a person writes, validated by pydantic."""
