//! Configuration: defaults, then a TOML file, then `JST_*` environment variables.
