"""traindoc's assistant: sessions, the rule-engine adapter, the API, the client and the CLI."""

# marks this folder as traindoc's own package (checked at start-up: traindoc/_packages.py)
__traindoc__ = True
