"""NEWS2 (Royal College of Physicians, National Early Warning Score 2, 2017) and the triage floor.

The bands are the published NEWS2 chart, SpO2 on scale 1 (scale 2 is for confirmed hypercapnic
respiratory failure, which a post cannot establish). NEWS2 is defined for adults (16 and over, not
pregnant): for children the score is not computed. Missing parameters score nothing and are listed,
so a partial score can only understate the risk, never overstate it.
"""
from __future__ import annotations

from telemed.models.vocabulary import most_urgent

ADULT_AGE = 16

# (upper bound inclusive, points) per parameter, scanned in order; the last bound is open.
_BANDS = {
    "rr": [(8, 3), (11, 1), (20, 0), (24, 2), (None, 3)],
    "spo2": [(91, 3), (93, 2), (95, 1), (None, 0)],
    "sbp": [(90, 3), (100, 2), (110, 1), (219, 0), (None, 3)],
    "hr": [(40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (None, 3)],
    "temp_c": [(35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (None, 2)],
}
PARAMETERS = ("rr", "spo2", "on_oxygen", "sbp", "hr", "avpu", "temp_c")


def _band_points(parameter: str, value: float) -> int:
    for upper, points in _BANDS[parameter]:
        if upper is None or value <= upper:
            return points
    raise AssertionError("unreachable: the last band is open")


def score(age_years: int | None, vitals: dict) -> dict | None:
    """The NEWS2 aggregate with its non-zero parameters, or None for children or no vitals."""
    if age_years is None or age_years < ADULT_AGE:
        return None
    present = [p for p in PARAMETERS if vitals.get(p) is not None]
    if not present:
        return None
    points: dict[str, int] = {}
    for parameter in present:
        value = vitals[parameter]
        if parameter == "on_oxygen":
            points[parameter] = 2 if value else 0
        elif parameter == "avpu":
            points[parameter] = 0 if value == "A" else 3
        else:
            points[parameter] = _band_points(parameter, value)
    return {
        "score": sum(points.values()),
        "reasons": [f"{p} {n}" for p, n in points.items() if n],
        "missing": [p for p in PARAMETERS if p not in points],
        "max_single": max(points.values()),
    }


def priority_floor(news2: dict | None) -> str | None:
    """The least urgent priority the score allows: 7+ emergency; 5-6 or any single 3 urgent."""
    if news2 is None:
        return None
    if news2["score"] >= 7:
        return "emergency"
    if news2["score"] >= 5 or news2["max_single"] >= 3:
        return "urgent"
    return None


def triaged_priority(requested: str, news2: dict | None) -> str:
    """The requested priority, raised to the NEWS2 floor when the score calls for more."""
    floor = priority_floor(news2)
    return most_urgent(requested, floor) if floor else requested
