"""File ingestion for vector stores: parse an uploaded file to text, then chunk it."""
