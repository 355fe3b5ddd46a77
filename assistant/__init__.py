"""traindoc's assistant: sessions, the rule-engine adapter, the API, the client and the CLI."""
