"""NEWS2 against the published chart (RCP 2017, Chart 1: the NEWS scoring system)."""
import pytest

from telemed.services.news2 import priority_floor, score, triaged_priority
from tests.helpers import consultation_body

NORMAL = {"rr": 16, "spo2": 97, "on_oxygen": False, "sbp": 125, "hr": 72, "avpu": "A", "temp_c": 36.8}


def points(parameter, value):
    vitals = dict(NORMAL, **{parameter: value})
    return score(50, vitals)["score"]


# Every band edge of Chart 1, both sides.
@pytest.mark.parametrize("parameter, value, expected", [
    ("rr", 8, 3), ("rr", 9, 1), ("rr", 11, 1), ("rr", 12, 0), ("rr", 20, 0), ("rr", 21, 2),
    ("rr", 24, 2), ("rr", 25, 3),
    ("spo2", 91, 3), ("spo2", 92, 2), ("spo2", 93, 2), ("spo2", 94, 1), ("spo2", 95, 1),
    ("spo2", 96, 0),
    ("on_oxygen", True, 2),
    ("sbp", 90, 3), ("sbp", 91, 2), ("sbp", 100, 2), ("sbp", 101, 1), ("sbp", 110, 1),
    ("sbp", 111, 0), ("sbp", 219, 0), ("sbp", 220, 3),
    ("hr", 40, 3), ("hr", 41, 1), ("hr", 50, 1), ("hr", 51, 0), ("hr", 90, 0), ("hr", 91, 1),
    ("hr", 110, 1), ("hr", 111, 2), ("hr", 130, 2), ("hr", 131, 3),
    ("avpu", "V", 3), ("avpu", "P", 3), ("avpu", "U", 3),
    ("temp_c", 35.0, 3), ("temp_c", 35.1, 1), ("temp_c", 36.0, 1), ("temp_c", 36.1, 0),
    ("temp_c", 38.0, 0), ("temp_c", 38.1, 1), ("temp_c", 39.0, 1), ("temp_c", 39.1, 2),
])
def test_chart_bands(parameter, value, expected):
    assert points(parameter, value) == expected


# Worked by hand from Chart 1; the comment gives each parameter's points.
WORKED = [
    # rr 16:0 spo2 97:0 air:0 sbp 125:0 hr 72:0 A:0 temp 36.8:0
    (NORMAL, 0, None),
    # rr 7:3, the rest normal -> a single 3 is an urgent response
    (dict(NORMAL, rr=7), 3, "urgent"),
    # hr 115:2 temp 39.2:2 spo2 95:1 -> 5, urgent
    (dict(NORMAL, hr=115, temp_c=39.2, spo2=95), 5, "urgent"),
    # rr 22:2 spo2 93:2 air:0 sbp 108:1 hr 104:1 A:0 temp 38.4:1 -> 7, emergency
    ({"rr": 22, "spo2": 93, "on_oxygen": False, "sbp": 108, "hr": 104, "avpu": "A",
      "temp_c": 38.4}, 7, "emergency"),
    # rr 26:3 spo2 90:3 oxygen:2 sbp 88:3 hr 135:3 V:3 temp 34.8:3 -> 20, the maximum
    ({"rr": 26, "spo2": 90, "on_oxygen": True, "sbp": 88, "hr": 135, "avpu": "V",
      "temp_c": 34.8}, 20, "emergency"),
]


@pytest.mark.parametrize("vitals, expected, floor", WORKED)
def test_worked_examples(vitals, expected, floor):
    result = score(60, vitals)
    assert result["score"] == expected
    assert priority_floor(result) == floor


def test_reasons_and_missing_parameters():
    result = score(70, {"rr": 26, "hr": 95})
    assert result["score"] == 4
    assert result["reasons"] == ["rr 3", "hr 1"]
    assert result["missing"] == ["spo2", "on_oxygen", "sbp", "avpu", "temp_c"]


def test_children_and_empty_vitals_get_no_score():
    assert score(15, NORMAL) is None
    assert score(None, NORMAL) is None
    assert score(40, {}) is None
    assert score(40, {"glucose_mmol": 5.5}) is None


def test_floor_only_raises():
    assert triaged_priority("emergency", score(40, NORMAL)) == "emergency"
    assert triaged_priority("routine", score(40, dict(NORMAL, rr=7))) == "urgent"
    assert triaged_priority("routine", None) == "routine"


def test_the_post_sees_the_score_and_why_priority_changed(login, district):
    vitals = {"rr": 22, "spo2": 93, "on_oxygen": False, "sbp": 108, "hr": 104, "avpu": "A",
              "temp_c": 38.4}
    created = login(district.feldsher_a).post("/consultations", json=consultation_body(
        priority="routine", vitals=vitals)).get_json()
    assert created["priority"] == "routine"
    assert created["effective_priority"] == "emergency"
    assert created["news2"]["score"] == 7
    assert created["news2"]["reasons"] == ["rr 2", "spo2 2", "sbp 1", "hr 1", "temp_c 1"]
    child = login(district.feldsher_a).post("/consultations", json=consultation_body(
        priority="routine", patient={"age_years": 6, "sex": "female"}, vitals=vitals)).get_json()
    assert child["news2"] is None and child["effective_priority"] == "routine"
