"""Conversations: a thread seen through the Responses API's Conversations, its messages and
run steps as items."""
