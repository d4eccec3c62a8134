"""Recorded v1 messages keep parsing, and fit the committed JSON Schemas.

The samples in `recorded/` must never change once v1 has shipped (see its
README): a contract change that breaks one of them is a breaking change.
"""

import hashlib
import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from pizzeria_contracts import COMMANDS, EVENTS, QUERIES, REPLIES, OperationResult, WireModel

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "recorded"
SCHEMAS = HERE.parents[1] / "docs" / "schemas"
BODIES: dict[str, dict[str, type[WireModel]]] = {
    "commands": COMMANDS,
    "queries": QUERIES,
    "events": EVENTS,
    "replies": REPLIES,
}
SAMPLES = sorted(path.relative_to(RECORDED).as_posix() for path in RECORDED.glob("*/*/*.json"))


def section_and_name(sample: str) -> tuple[str, str]:
    section, name, _ = sample.split("/")
    return section, name


def _load(sample: str) -> Any:
    return json.loads((RECORDED / sample).read_text(encoding="utf-8"))


def checksums() -> dict[str, str]:
    lines = (RECORDED / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {path: digest for digest, path in (line.split(maxsplit=1) for line in lines if line)}


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_recorded_v1_message_still_parses(sample: str) -> None:
    section, name = section_and_name(sample)
    text = (RECORDED / sample).read_text(encoding="utf-8")

    if section != "replies":
        BODIES[section][name].model_validate_json(text)
        return
    result = OperationResult.model_validate_json(text)
    if result.ok:
        REPLIES[name].model_validate(result.data)
    else:
        assert result.detail, "a failure says what went wrong"


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_recorded_v1_message_fits_its_committed_json_schema(sample: str) -> None:
    if importlib.util.find_spec("jsonschema") is None:
        pytest.skip("jsonschema is not installed: parsed only")
    jsonschema: Any = importlib.import_module("jsonschema")
    section, name = section_and_name(sample)
    schema = json.loads((SCHEMAS / section / f"{name}.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

    errors = [error.message for error in validator.iter_errors(_load(sample))]

    assert errors == []


def test_every_command_query_and_event_has_a_recorded_sample() -> None:
    recorded = {section_and_name(sample) for sample in SAMPLES}

    for section in ("commands", "queries", "events"):
        missing = [name for name in BODIES[section] if (section, name) not in recorded]
        assert missing == [], f"no recorded {section}"


def test_every_sample_is_of_a_message_the_contract_still_has() -> None:
    unknown = [
        sample
        for sample in SAMPLES
        if section_and_name(sample)[1] not in BODIES.get(section_and_name(sample)[0], {})
    ]

    assert unknown == []


def test_fields_a_v1_reader_does_not_know_are_ignored() -> None:
    ignored = 0
    for sample in SAMPLES:
        section, name = section_and_name(sample)
        if section == "replies":
            continue
        model, body = BODIES[section][name], _load(sample)
        unknown = set(body) - set(model.model_fields)

        assert unknown.isdisjoint(model.model_validate(body).model_dump()), sample
        ignored += len(unknown)

    assert ignored, "some samples should carry fields v1 does not know"


def test_recorded_samples_are_never_edited() -> None:
    recorded = checksums()
    actual = {
        sample: hashlib.sha256((RECORDED / sample).read_bytes()).hexdigest() for sample in SAMPLES
    }

    assert sorted(recorded) == SAMPLES, "list every sample in recorded/SHA256SUMS"
    changed = [sample for sample, digest in actual.items() if recorded[sample] != digest]
    assert changed == [], "recorded v1 samples must not change: add a new sample instead"
