"""`needs_sandbox`: skip a test that runs the agent's code where no sandbox works (fba refuses to
run it there; tests/test_sandbox_hostile.py checks that refusal)."""

import pytest

from agent.edits.sandbox import probe

needs_sandbox = pytest.mark.skipif(not probe().works, reason=f"no sandbox works here: {probe().problem}")
