"""The `predmarket` command line: the launcher of every role."""
