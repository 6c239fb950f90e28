"""Transports below the domain: object storage and mail delivery."""
