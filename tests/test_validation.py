"""The shared input checks of grainseg_core._validation."""

from __future__ import annotations

import numpy as np
import pytest

from grainseg_core._validation import check_int
from grainseg_core.errors import InputError


def test_check_int_returns_python_ints() -> None:
    assert check_int(3, "bins", low=1) == 3
    out = check_int(np.uint16(0), "margin_px", low=0)
    assert out == 0 and type(out) is int


@pytest.mark.parametrize(
    ("value", "shown"), [(0, "0"), (True, "True"), (2.0, "2.0"), ("3", "'3'"), (None, "None")]
)
def test_check_int_refuses_with_a_message_naming_the_argument(value, shown) -> None:
    with pytest.raises(InputError, match=rf"^tile must be an integer >= 1; got {shown}\.$"):
        check_int(value, "tile", low=1)
