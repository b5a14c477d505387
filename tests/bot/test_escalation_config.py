"""Escalation policies in ops.yaml: the step keys (old `after` still accepted) and `business_hours`, each
mistake named at its key path, from a dict and from a YAML file."""
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, load_config, parse_config

WHERE = "alerts.escalation.P3"


def policy(business_hours=None, steps=None):
    raw = {"steps": steps or [{"unacknowledged_after": "1h", "notify": "U0LEAD"}]}
    if business_hours is not None:
        raw["business_hours"] = business_hours
    return {"alerts": {"escalation": {"P3": raw}}}


def problems(raw):
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    return caught.value.problems


def test_a_full_policy_parses_into_a_calendar():
    cfg = parse_config({"timezone": "America/New_York", **policy(
        {"days": ["mon-wed", "fri"], "hours": "08:30-18:00", "holidays": ["2026-12-25", "2027-01-01"]},
        [{"after": "5m", "notify": "U0ALICE"}, {"unacknowledged_after": "15m", "notify": "U0LEAD"},
         {"unresolved_after": "1h", "notify": "U0CTO"}])})
    p3 = cfg.alerts.escalation["P3"]
    assert [(s.key, s.wait, s.unresolved) for s in p3.steps] == [
        ("unacknowledged_after", timedelta(minutes=5), False), ("unacknowledged_after", timedelta(minutes=15), False),
        ("unresolved_after", timedelta(hours=1), True)]
    cal = p3.calendar(cfg.timezone)
    assert cal is not None
    assert (cal.zone, cal.days, cal.opens, cal.closes) == (
        ZoneInfo("America/New_York"), frozenset({0, 1, 2, 4}), time(8, 30), time(18))
    assert cal.holidays == frozenset({date(2026, 12, 25), date(2027, 1, 1)})


def test_business_hours_default_to_weekdays_nine_to_five_in_the_configs_zone():
    cfg = parse_config({"timezone": "Europe/Berlin", **policy({})})
    cal = cfg.alerts.escalation["P3"].calendar(cfg.timezone)
    assert cal is not None and (cal.zone, cal.days, cal.opens, cal.closes) == (
        ZoneInfo("Europe/Berlin"), frozenset(range(5)), time(9), time(17))
    assert parse_config(policy()).alerts.escalation["P3"].calendar("UTC") is None
    overnight = parse_config(policy({"hours": "22:00-24:00", "days": "fri-mon"})).alerts.escalation["P3"]
    cal = overnight.calendar("UTC")
    assert cal is not None and cal.closes is None and cal.days == frozenset({4, 5, 6, 0})


@pytest.mark.parametrize(("business_hours", "problem"), [
    ({"days": ["mon", "fry"]}, f"{WHERE}.business_hours.days[1]: 'fry' is not a day; valid: mon, tue, wed, thu, "
                               "fri, sat, sun; did you mean `fri`? (or a range like mon-fri)"),
    ({"days": "monday-friday"}, f"{WHERE}.business_hours.days: 'monday-friday' is not a day"),
    ({"days": []}, f"{WHERE}.business_hours.days: no business days: name at least one (mon-fri)"),
    ({"hours": "9-5"}, f"{WHERE}.business_hours.hours: '9-5' is not opening hours: write HH:MM-HH:MM"),
    ({"hours": "09:00-25:00"}, f"{WHERE}.business_hours.hours: '09:00-25:00' has a time that does not exist"),
    ({"hours": "09:60-17:00"}, f"{WHERE}.business_hours.hours: '09:60-17:00' has a time that does not exist"),
    ({"hours": "09:00-09:00"}, f"{WHERE}.business_hours.hours: '09:00-09:00' opens and closes at the same time; "
                               "for the whole day write 00:00-24:00"),
    ({"timezone": "Europe/Berlinn"}, f"{WHERE}.business_hours.timezone: unknown time zone 'Europe/Berlinn'"),
    ({"holidays": ["2026-12-25", "2026-02-30"]},
     f"{WHERE}.business_hours.holidays[1]: '2026-02-30' is not a date: write YYYY-MM-DD, e.g. 2026-12-25"),
    ({"holidays": ["Christmas"]}, f"{WHERE}.business_hours.holidays[0]: 'Christmas' is not a date"),
    ({"holidays": "2026-12-25"}, f"{WHERE}.business_hours.holidays: Input should be a valid tuple"),
    ({"hour": "09:00-17:00"}, f"{WHERE}.business_hours.hour: Extra inputs are not permitted"),
])
def test_bad_business_hours_are_named_at_their_key_path(business_hours, problem):
    assert any(line.startswith(problem) for line in problems(policy(business_hours))), problems(policy(business_hours))


@pytest.mark.parametrize(("steps", "problem"), [
    ([{"after": "5m", "unacknowledged_after": "5m", "notify": "U0LEAD"}],
     f"{WHERE}.steps[0].after: a step has one wait; it already has `unacknowledged_after`"),
    ([{"unacknowledged_after": "5m", "unresolved_after": "1h", "notify": "U0LEAD"}],
     f"{WHERE}.steps[0].unresolved_after: a step has one wait"),
    ([{"notify": "U0LEAD"}], f"{WHERE}.steps[0]: say when the step falls due: `unacknowledged_after: 15m`"),
    ([{"unresolved_after": "1h", "notify": "U0LEAD"}, {"after": "5m", "notify": "U0LEAD"}],
     f"{WHERE}.steps: steps must be in order of their wait"),
    ([{"unresolved_after": "-1h", "notify": "U0LEAD"}], f"{WHERE}.steps[0].unresolved_after: not a duration"),
])
def test_bad_steps_are_named_at_their_key_path(steps, problem):
    assert any(line.startswith(problem) for line in problems(policy(steps=steps))), problems(policy(steps=steps))


def test_a_bad_date_in_a_yaml_file_is_a_config_error_at_its_key_path(tmp_path):
    path = tmp_path / "ops.yaml"
    path.write_text("alerts:\n  escalation:\n    P3:\n      business_hours: {holidays: [2026-12-25, 2026-02-30]}\n"
                    "      steps: [{unacknowledged_after: 1h, notify: U0LEAD}]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{WHERE}.business_hours.holidays[1]: '2026-02-30' is not a date: write "
                                     "YYYY-MM-DD, e.g. 2026-12-25"]
    path.write_text(path.read_text(encoding="utf-8").replace("2026-02-30", "2026-12-26"), encoding="utf-8")
    assert load_config(path).alerts.escalation["P3"].business_hours.holidays == (date(2026, 12, 25), date(2026, 12, 26))


def test_config_check_shows_each_policy_with_its_business_hours():
    from pathlib import Path

    from bot.config.summary import summary

    cfg = parse_config({"timezone": "Europe/Berlin", "alerts": {"escalation": {
        "P1": {"steps": [{"after": "5m", "notify": "U0ALICE"}, {"unresolved_after": "1h", "notify": "U0LEAD"}]},
        "P3": {"business_hours": {"days": ["mon", "wed", "fri"], "holidays": ["2026-12-25"]},
               "steps": [{"unacknowledged_after": "0s", "notify": "U0ALICE"}]}}}})
    assert ("  escalation   2 policies\n"
            "    - P1: 5m U0ALICE, unresolved 1h U0LEAD\n"
            "    - P3 (business hours mon,wed,fri 09:00-17:00 Europe/Berlin, 1 holiday(s)): 0s U0ALICE\n"
            ) in summary(cfg, Path("ops.yaml"))
