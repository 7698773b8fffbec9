"""Deterministic ids are uuid5 in the ledger's namespace, whatever computes them."""

from __future__ import annotations

import pickle
import uuid

from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.base import NAMESPACE, deterministic_id


@given(kind=st.sampled_from(["ticket", "account", "consumption"]) | st.text(), key=st.text())
def test_a_deterministic_id_is_the_uuid5_of_kind_and_key(kind: str, key: str) -> None:
    try:
        expected = uuid.uuid5(NAMESPACE, f"{kind}:{key}")
    except UnicodeEncodeError:  # a lone surrogate: neither can encode it
        return
    made = deterministic_id(kind, key)
    assert made == expected
    assert (str(made), made.hex, made.version, made.variant) == (
        str(expected), expected.hex, 5, uuid.RFC_4122,
    )  # fmt: skip
    assert hash(made) == hash(expected)
    assert made.is_safe == expected.is_safe
    assert pickle.loads(pickle.dumps(made)) == expected  # noqa: S301 - our own bytes


def test_a_key_that_cannot_be_encoded_is_refused_as_uuid5_refuses_it() -> None:
    for compute in (deterministic_id, lambda k, v: uuid.uuid5(NAMESPACE, f"{k}:{v}")):
        try:
            compute("ticket", "\ud800")
        except UnicodeEncodeError:
            continue
        raise AssertionError("a lone surrogate was encoded")
