"""Registering a member who exists (decision 0114), on SQLite and PostgreSQL: the same details,
or details left out, return the member as stored (no second sign-up bonus); a name, email or
metadata that differs from the stored one is refused as `already_exists`, naming the field and
both values, and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import jeton
from jeton.store.engine import Store
from threads import run_together


@pytest.fixture
def club(jeton_app: jeton.Jeton) -> jeton.Community:
    c = jeton_app.create_community("Chess club", community_id="chess")
    c.set_signup_bonus(10)
    return c


def test_the_same_details_or_details_left_out_return_the_member_as_stored(
        club: jeton.Community, invariants: Callable[[Store], None],
        jeton_app: jeton.Jeton) -> None:
    first = club.create_member("ann", name="Ann", email="ann@chess.example",
                               metadata={"plan": "gold"})
    for again in (club.create_member("ann", name="Ann", email="ann@chess.example",
                                     metadata={"plan": "gold"}),
                  club.create_member("ann"),
                  club.create_member("ann", name="Ann"),
                  club.create_member("ann", email="", metadata={})):
        assert again == first
    assert club.balance("ann").available == 10  # the bonus, once
    invariants(jeton_app.store)


@pytest.mark.parametrize(("details", "field", "refused"), [
    ({"name": "Annie"}, "name",
     "member 'ann' exists with name 'Ann', not 'Annie'; nothing changed"),
    ({"name": "Ann", "email": "annie@chess.example"}, "email",
     "member 'ann' exists with email 'ann@chess.example', not 'annie@chess.example'; "
     "nothing changed"),
    ({"metadata": {"plan": "silver"}}, "metadata",
     'member \'ann\' exists with metadata {"plan": "gold"}, not {"plan": "silver"}; '
     "nothing changed"),
])
def test_a_detail_that_differs_from_the_stored_one_is_refused_and_changes_nothing(
        club: jeton.Community, details: dict[str, Any], field: str, refused: str) -> None:
    first = club.create_member("ann", name="Ann", email="ann@chess.example",
                               metadata={"plan": "gold"})
    with pytest.raises(jeton.Conflict) as conflict:
        club.create_member("ann", **details)
    assert conflict.value.status == jeton.Status.already_exists
    assert conflict.value.detail == refused
    assert conflict.value.extra == {"field": field}
    assert club.get_member("ann") == first
    assert club.balance("ann").available == 10


def test_a_detail_the_member_was_registered_without_is_not_filled_in(
        club: jeton.Community) -> None:
    club.create_member("bob")
    with pytest.raises(jeton.Conflict) as conflict:
        club.create_member("bob", name="Bob", email="bob@chess.example")
    assert conflict.value.detail == "member 'bob' exists with no name, not 'Bob'; nothing changed"
    assert (club.get_member("bob").name, club.get_member("bob").email) == ("", None)


def test_members_registered_at_the_same_instant_are_each_one_member_with_one_bonus(
        club: jeton.Community, invariants: Callable[[Store], None],
        jeton_app: jeton.Jeton) -> None:
    """Two sign-ins of a new member at once: on PostgreSQL the second insert met the first's
    key and raised IntegrityError (a 500 over HTTP) instead of returning the member."""
    answers: list[jeton.MemberInfo] = []
    members = [f"racer-{n}" for n in range(5)]
    for member in members:
        assert run_together(4, lambda _, m=member: answers.append(
            club.create_member(m, name="Racer"))) == []
    assert len(answers) == 20
    for member in members:
        assert [a for a in answers if a.id == member] == [club.get_member(member)] * 4
        assert club.balance(member).available == 10
    invariants(jeton_app.store)
