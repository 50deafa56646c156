"""The interactive API docs show a realistic example for every request body, and every
example is a body the API accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

import jeton
from jeton.api import create_app
from jeton.api.examples import EXAMPLES
from jeton.api.schemas import Body
from jeton.store.engine import Store


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    store = Store("sqlite://")
    store.create_schema()
    try:
        return create_app(jeton.Jeton(store), operator_token="o" * 40).openapi()
    finally:
        store.dispose()


def _bodies(cls: type[BaseModel]) -> list[type[BaseModel]]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_bodies(sub))
    return out


def _component(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    """The named schema behind a body (`$ref`, or `anyOf: [$ref, null]` for an optional one)."""
    refs = [schema.get("$ref")] + [s.get("$ref") for s in schema.get("anyOf", [])]
    for ref in refs:
        if ref:
            return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return None


def test_every_request_body_in_openapi_has_an_example(spec: dict[str, Any]) -> None:
    missing = []
    count = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                count += 1
                component = _component(spec, media["schema"])
                shown = ("example" in media or media.get("examples")
                         or (component is not None and component.get("examples")))
                if not shown:
                    missing.append(f"{method.upper()} {path}")
    assert count > 40
    assert missing == []


def test_examples_name_real_things_not_placeholders(spec: dict[str, Any]) -> None:
    charge = spec["components"]["schemas"]["ChargeBody"]["examples"][0]
    assert charge["service"] == "files.download"
    assert "string" not in [v for e in EXAMPLES.values() for v in e.values()]
    assert [name for name, e in EXAMPLES.items() if not e] == ["NoBody"]


@pytest.mark.parametrize("model", _bodies(Body), ids=lambda m: m.__name__)
def test_every_example_is_accepted_by_its_model(model: type[BaseModel]) -> None:
    # Every request schema has an example, whether or not a route uses it yet.
    assert model.__name__ in EXAMPLES, model.__name__
    model.model_validate_json(json.dumps(EXAMPLES[model.__name__]))
