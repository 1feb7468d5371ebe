"""The model layer: client.py (the only importer of anthropic), events, models (aliases + prices),
tools, the tool-use loop, and fakeapi (a loopback fake of the Messages API for tests)."""
