"""Writes of the accounts app: users, passwords, tokens and roles."""
