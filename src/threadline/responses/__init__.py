"""Responses: the Responses API over the same engine and store as runs. A response is a run
of kind `response` on a thread (its conversation's, or one of its own), with what only a
response has kept beside it."""
