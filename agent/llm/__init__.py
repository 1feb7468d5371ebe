"""The model layer: client.py (the only importer of anthropic), events, models (aliases + prices),
tools and the tool-use loop. Its tests reach it through tests/fakeapi.py, a loopback fake of the
Messages API that stays out of the wheel."""
