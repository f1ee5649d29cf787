"""Plumbing the rest stands on: file and database locks, SQLite store files, and where Keras
keeps its downloads."""
