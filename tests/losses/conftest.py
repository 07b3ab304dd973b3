"""Run these small-tensor tests on one torch thread.

On a shared 2-core machine, two intra-op threads mostly wait for each other
(a 0.5 M-element sigmoid took 12 ms on two threads, 1 ms on one); the tests check
behaviour, not speed. The previous setting is restored after each test.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
