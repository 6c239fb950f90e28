"""Accounts: users, passwords, email links, API tokens, OAuth identities, the audit log."""
