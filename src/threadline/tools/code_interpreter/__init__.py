"""The `code_interpreter` tool: Python run in a sandboxed, stateful session per thread."""
