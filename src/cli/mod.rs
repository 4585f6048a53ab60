//! The command line: `sync`, `pull`, `push`, `demo` and the operator commands.
