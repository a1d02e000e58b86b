"""Tests for :mod:`nurturelab.cadence`: validation messages, YAML round trips, the built-ins."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nurturelab import schema
from nurturelab.cadence import (
    BUILT_IN,
    EVENT_CHANNEL,
    EVENT_NAME,
    STOP_RULES,
    Cadence,
    Touch,
    format_duration,
    get_cadence,
    parse_duration,
    read_cadence,
    write_cadence,
)
from nurturelab.paths import project_root

DAY = 86400.0
CADENCE_DIR = project_root() / "simulations" / "cadences"
PROPERTY = settings(max_examples=100, deadline=None, derandomize=True, database=None)


def _two(*touches: Touch, name: str = "t") -> Cadence:
    return Cadence(name, touches)


# --------------------------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        (np.int64(7), 7.0),
        ("60s", 60.0),
        ("5min", 300.0),
        ("2h", 7200.0),
        ("1d", DAY),
        ("1d 4h", DAY + 4 * 3600),
        ("90 minutes", 5400.0),
        ("60", 60.0),  # a bare number string is seconds, not pandas' nanoseconds
        ("1.5s", 1.5),
        ("-5min", -300.0),
        ("-1d 4h", -(DAY + 4 * 3600)),
    ],
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds
    assert isinstance(parse_duration(value), float)


def test_parse_duration_refuses_a_non_duration_string():
    with pytest.raises(ValueError, match=r"A duration must be .*'1d 4h'\. Got 'soon' instead"):
        parse_duration("soon")


@pytest.mark.parametrize("value", [None, True, [60], {"s": 1}])
def test_parse_duration_refuses_other_types(value):
    with pytest.raises(TypeError, match=r"A duration must be a number of seconds or a string"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (60, "1min"), (300, "5min"), (7200, "2h"), (DAY, "1d"), (13 * DAY, "13d"),
     (DAY + 4 * 3600 + 61, "1d 4h 1min 1s"), (1.5, "1.5s"), (-300, "-5min")],
)
def test_format_duration_is_readable_and_inverted_by_parse(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@PROPERTY
@given(st.one_of(st.integers(-10**9, 10**9).map(float),
                 st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)))
def test_format_then_parse_duration_is_exact(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


# --------------------------------------------------------------------------------------------
# Touch
# --------------------------------------------------------------------------------------------
def test_touch_converts_at_and_window():
    t = Touch("email", at="1d 4h", window=[9, 17.5])
    assert t.at == DAY + 4 * 3600 and isinstance(t.at, float)
    assert t.window == (9.0, 17.5) and isinstance(t.window, tuple)
    assert Touch("call", at="1d") == Touch("call", at=DAY)


@pytest.mark.parametrize(
    ("channel", "automated", "name", "event_channel", "needs_rep"),
    [("call", False, "call_attempt", "call", True),
     ("voicemail", False, "voicemail", "call", True),
     ("sms", True, "sms", "sms", False),
     ("email", False, "email", "email", True)],
)
def test_touch_properties(channel, automated, name, event_channel, needs_rep):
    t = Touch(channel, automated=automated)
    assert (t.event_name, t.event_channel, t.needs_rep) == (name, event_channel, needs_rep)


def test_event_maps_agree_with_the_data_contract():
    assert sorted(EVENT_NAME.values()) == sorted(schema.TOUCH_NAMES)
    assert set(EVENT_CHANNEL.values()) <= set(schema.CHANNELS)
    assert set(STOP_RULES) >= set(schema.RESPONSE_NAMES)


def test_unknown_channel():
    msg = "Touch 'channel' must be one of ['call', 'voicemail', 'sms', 'email']. Got 'fax' instead."
    with pytest.raises(ValueError, match=re.escape(msg)):
        Touch("fax")


def test_unknown_anchor():
    with pytest.raises(
        ValueError,
        match=re.escape("Touch 'anchor' must be one of ['created', 'previous']. Got 'last'"),
    ):
        Touch("sms", anchor="last")


def test_unknown_personalisation():
    with pytest.raises(
        ValueError,
        match=re.escape("Touch 'personalisation' must be one of ['token', 'context']. Got 'ai'"),
    ):
        Touch("email", personalisation="ai")


def test_negative_offset():
    with pytest.raises(ValueError, match=r"Touch 'at' must be a finite, non-negative offset.*"
                                         r"Got '-5min' instead\. .*reorder"):
        Touch("sms", at="-5min")


@pytest.mark.parametrize("at", [float("nan"), float("inf")])
def test_non_finite_offset(at):
    with pytest.raises(ValueError, match=r"Touch 'at' must be a finite, non-negative offset"):
        Touch("sms", at=at)


def test_unreadable_offset():
    with pytest.raises(ValueError, match=r"^Touch 'at': A duration must be .*Got 'tomorrow'"):
        Touch("sms", at="tomorrow")
    with pytest.raises(TypeError, match=r"^Touch 'at': A duration must be .*Got None"):
        Touch("sms", at=None)


@pytest.mark.parametrize("channel", ["call", "voicemail"])
def test_automated_call_or_voicemail(channel):
    with pytest.raises(ValueError, match=rf"Touch 'automated' must be false for a '{channel}' "
                                         r"touch: calls and voicemails need a rep\. Got "
                                         r"automated=True instead\. Set automated=False"):
        Touch(channel, automated=True)


def test_automated_must_be_a_bool():
    with pytest.raises(TypeError, match=r"Touch 'automated' must be true or false\. Got 'yes'"):
        Touch("sms", automated="yes")


@pytest.mark.parametrize("window", [(17, 9), (9, 9), (22, 6)])
def test_window_start_not_before_end(window):
    with pytest.raises(ValueError, match=r"Touch 'window' must satisfy 0 <= start < end <= 24.*"
                                         r"Got \(.*\) instead\..*crossing midnight"):
        Touch("call", window=window)


@pytest.mark.parametrize("window", [(-1, 9), (9, 25), (float("nan"), 9)])
def test_window_outside_the_day(window):
    with pytest.raises(ValueError, match=r"Touch 'window' must satisfy 0 <= start < end <= 24"):
        Touch("call", window=window)


@pytest.mark.parametrize("window", [(9,), (9, 12, 17), "9-17", ("9", "17"), 9])
def test_window_not_a_pair_of_hours(window):
    with pytest.raises(TypeError, match=r"Touch 'window' must be None or a pair of hours"):
        Touch("call", window=window)


def test_content_must_be_a_snake_case_tag():
    with pytest.raises(ValueError, match=r"Touch 'content' must be a snake_case tag.*"
                                         r"Got 'Next step!' instead\. Use 'next_step'\."):
        Touch("email", content="Next step!")
    with pytest.raises(ValueError, match=r"Touch 'content' must be a snake_case tag.*Got ''"):
        Touch("email", content="")


# --------------------------------------------------------------------------------------------
# Cadence
# --------------------------------------------------------------------------------------------
def test_empty_cadence():
    with pytest.raises(ValueError, match=r"Cadence 'e' 'touches' must hold at least one touch\. "
                                         r"Got an empty sequence instead\."):
        Cadence("e", ())


@pytest.mark.parametrize("name", ["", "   ", None])
def test_empty_name(name):
    with pytest.raises(ValueError, match=r"Cadence 'name' must be a non-empty string\. Got"):
        Cadence(name, (Touch("call"),))


def test_name_with_surrounding_spaces():
    with pytest.raises(ValueError, match=r"must not start or end with spaces.*use 'seed'"):
        Cadence(" seed ", (Touch("call"),))


def test_touches_must_be_touch_objects():
    with pytest.raises(TypeError, match=r"Cadence 't' 'touches\[1\]' must be a Touch\. Got "
                                        r"\{'channel': 'sms'\} \(dict\) instead\..*from_dict"):
        Cadence("t", [Touch("call"), {"channel": "sms"}])
    with pytest.raises(TypeError, match=r"Cadence 't' 'touches' must be a sequence of Touch"):
        Cadence("t", Touch("call"))


def test_unordered_offsets():
    with pytest.raises(ValueError, match=r"Cadence 't' touches must be in time order: "
                                         r"'touches\[2\]' \(call\) is at 1d from creation, earlier "
                                         r"than 'touches\[1\]' at 2d\. Reorder the touches"):
        _two(Touch("call"), Touch("email", at="2d"), Touch("call", at="1d"))


def test_equal_offsets_and_previous_anchors_are_in_order():
    c = _two(Touch("call"), Touch("email", at="1d"), Touch("call", at="1d"),
             Touch("sms", at=0, anchor="previous"))
    assert c.offsets().tolist() == [0.0, DAY, DAY, DAY]


def test_first_touch_anchored_to_previous():
    with pytest.raises(ValueError, match=r"'touches\[0\]' must be anchored to 'created'.*"
                                         r"Got anchor='previous' instead"):
        _two(Touch("call", at="1h", anchor="previous"))


def test_voicemail_must_follow_a_call():
    with pytest.raises(ValueError, match=r"'touches\[1\]' is a voicemail, which must come right "
                                         r"after a call touch.*Got: it follows 'sms'\. Put a call"):
        _two(Touch("sms"), Touch("voicemail", anchor="previous"))
    with pytest.raises(ValueError, match=r"'touches\[0\]' is a voicemail.*it is the first touch"):
        _two(Touch("voicemail"))
    with pytest.raises(ValueError, match=r"'touches\[2\]' is a voicemail.*follows 'voicemail'"):
        _two(Touch("call"), Touch("voicemail", anchor="previous"),
             Touch("voicemail", anchor="previous"))
    with pytest.raises(ValueError, match=r"'touches\[3\]' is a voicemail.*follows 'sms'"):
        _two(Touch("call"), Touch("voicemail", anchor="previous"), Touch("sms", at="1h"),
             Touch("voicemail", anchor="previous"))


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_duplicate_message_at_the_same_time(channel):
    with pytest.raises(ValueError, match=rf"'touches\[1\]' and 'touches\[2\]' are both "
                                         rf"'{channel}' touches at 1h from creation.*Remove one"):
        _two(Touch("call"), Touch(channel, at="1h"), Touch(channel, at="1h"))


def test_double_dial_is_allowed():
    c = _two(Touch("call"), Touch("call", anchor="previous"), Touch("voicemail", anchor="previous"))
    assert c.offsets().tolist() == [0.0, 0.0, 0.0]


def test_offset_beyond_ten_years():
    with pytest.raises(ValueError, match=r"'touches\[1\]' is at 3651d from creation; offsets must "
                                         r"be at most 3650d"):
        _two(Touch("call"), Touch("email", at="3651d"))


def test_unknown_stop_rule():
    with pytest.raises(ValueError, match=re.escape(
        "Cadence 't' 'stop_on' rules must be among ['connect', 'reply', 'opt_out', 'qualified']. "
        "Got 'meeting' instead."
    )):
        Cadence("t", (Touch("call"),), stop_on=["reply", "meeting"])


def test_stop_on_as_a_single_string():
    with pytest.raises(TypeError, match=r"'stop_on' must be a collection of rules such as "
                                        r"\['reply', 'opt_out'\]\. Got 'reply' instead\."):
        Cadence("t", (Touch("call"),), stop_on="reply")


def test_lists_become_tuples_and_frozensets():
    c = Cadence("t", [Touch("call")], stop_on=["reply", "opt_out", "reply"])
    assert c.touches == (Touch("call"),)
    assert c.stop_on == frozenset({"reply", "opt_out"})
    assert Cadence("t", [Touch("call")]).stop_on == frozenset(STOP_RULES)
    assert Cadence("t", [Touch("call")], stop_on=[]).stop_on == frozenset()
    assert hash(c) == hash(Cadence("t", (Touch("call"),), stop_on={"opt_out", "reply"}))


def test_offsets_resolve_previous_anchors():
    c = _two(Touch("call", at="5min"), Touch("voicemail", anchor="previous"),
             Touch("sms", at="2min", anchor="previous"), Touch("email", at="1h"),
             Touch("sms", at="1d", anchor="previous"))
    offsets = c.offsets()
    assert offsets.dtype == np.float64
    assert offsets.tolist() == [300.0, 300.0, 420.0, 3600.0, 3600.0 + DAY]
    assert len(c) == 5


# --------------------------------------------------------------------------------------------
# Built-ins
# --------------------------------------------------------------------------------------------
def test_seed_14_day_offsets_exactly_as_specified():
    seed = BUILT_IN["seed_14_day"]
    assert seed.offsets().tolist() == [0.0, 0.0, 120.0, DAY, 3 * DAY, 6 * DAY, 13 * DAY]
    assert [t.channel for t in seed.touches] == [
        "call", "voicemail", "sms", "email", "call", "sms", "email"
    ]
    assert [t.anchor for t in seed.touches[:3]] == ["created", "previous", "previous"]
    assert seed.touches[3].personalisation == "context"
    later_rep_touches = [t for t, at in zip(seed.touches, seed.offsets(), strict=True)
                         if at >= DAY and t.needs_rep]
    assert later_rep_touches and all(t.window == (9.0, 17.0) for t in later_rep_touches)
    assert seed.touches[4].channel == "call" and seed.touches[5].channel != "voicemail"


def test_built_ins():
    assert set(BUILT_IN) == {"seed_14_day", "front_loaded", "email_only", "instant"}
    assert all(name == c.name for name, c in BUILT_IN.items())
    front = BUILT_IN["front_loaded"]
    assert front.offsets().max() < 2 * DAY and len(front) >= 6
    emails = BUILT_IN["email_only"]
    assert all(t.channel == "email" and t.automated for t in emails.touches)
    assert emails.offsets().tolist() == [0.0, DAY, 3 * DAY, 6 * DAY, 13 * DAY]
    instant = BUILT_IN["instant"]
    assert instant.touches[0].channel == "sms" and instant.touches[0].automated
    assert instant.offsets().tolist()[:3] == [60.0, 300.0, 300.0]
    assert instant.offsets().tolist()[3:] == BUILT_IN["seed_14_day"].offsets().tolist()[3:]
    for c in BUILT_IN.values():
        assert len({t.content for t in c.touches}) > 1  # content tags say what each is for


# --------------------------------------------------------------------------------------------
# dicts and YAML
# --------------------------------------------------------------------------------------------
def test_to_dict_writes_durations_as_readable_strings():
    d = BUILT_IN["seed_14_day"].to_dict()
    assert [t["at"] for t in d["touches"]] == ["0s", "0s", "2min", "1d", "3d", "6d", "13d"]
    assert d["touches"][3]["window"] == [9, 17]
    assert d["stop_on"] == list(STOP_RULES)
    assert list(d) == ["name", "stop_on", "touches"]


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_yaml_round_trip_of_every_built_in(name, tmp_path):
    path = tmp_path / f"{name}.yaml"
    write_cadence(BUILT_IN[name], path)
    assert read_cadence(path) == BUILT_IN[name]
    assert Cadence.from_dict(BUILT_IN[name].to_dict()) == BUILT_IN[name]


def test_yaml_is_readable(tmp_path):
    write_cadence(BUILT_IN["seed_14_day"], tmp_path / "s.yaml")
    text = (tmp_path / "s.yaml").read_text()
    assert "at: 13d" in text and "window: [9, 17]" in text
    assert "stop_on: [connect, reply, opt_out, qualified]" in text


@pytest.mark.parametrize(
    ("file", "expected"),
    [(f"{name}.yaml", c) for name, c in BUILT_IN.items()]
    + [("stretched_28_day.yaml",
        BUILT_IN["seed_14_day"].stretched(2, name="stretched_28_day"))],
)
def test_shipped_cadence_files_equal_the_built_ins(file, expected):
    assert read_cadence(CADENCE_DIR / file) == expected


def test_from_dict_unknown_top_level_key():
    d = BUILT_IN["email_only"].to_dict() | {"owner": "ana"}
    with pytest.raises(ValueError, match=re.escape(
        "my.yaml: unknown key(s) ['owner'] in the cadence; allowed keys are "
        "['name', 'touches', 'stop_on']."
    )):
        Cadence.from_dict(d, source="my.yaml")


def test_from_dict_unknown_touch_key():
    d = BUILT_IN["email_only"].to_dict()
    d["touches"][2]["delay"] = "1d"
    with pytest.raises(ValueError, match=re.escape(
        "my.yaml: touches[2]: unknown key(s) ['delay']; allowed keys are ['channel', 'at', "
        "'anchor', 'window', 'content', 'automated', 'personalisation', 'skip']."
    )):
        Cadence.from_dict(d, source="my.yaml")


def test_from_dict_missing_keys_and_wrong_shapes():
    with pytest.raises(ValueError, match=r"^cadence: missing key\(s\) \['touches'\]"):
        Cadence.from_dict({"name": "x"})
    with pytest.raises(ValueError, match=r"^cadence: touches\[0\]: missing key 'channel'"):
        Cadence.from_dict({"name": "x", "touches": [{"at": "1d"}]})
    with pytest.raises(TypeError, match=r"^f\.yaml: a cadence must be a mapping"):
        Cadence.from_dict(["x"], source="f.yaml")
    with pytest.raises(TypeError, match=r"^cadence: touches\[0\] must be a mapping"):
        Cadence.from_dict({"name": "x", "touches": ["call"]})
    with pytest.raises(TypeError, match=r"^cadence: 'touches' must be a list"):
        Cadence.from_dict({"name": "x", "touches": "call"})


def test_from_dict_errors_start_with_the_source_and_name_the_touch():
    d = {"name": "x", "touches": [{"channel": "call"}, {"channel": "fax"}]}
    with pytest.raises(ValueError, match=r"^f\.yaml: touches\[1\]: Touch 'channel' must be one"):
        Cadence.from_dict(d, source="f.yaml")
    d = {"name": "x", "touches": [{"channel": "call", "at": "2d"}, {"channel": "sms", "at": "1d"}]}
    with pytest.raises(ValueError, match=r"^f\.yaml: Cadence 'x' touches must be in time order"):
        Cadence.from_dict(d, source="f.yaml")


def test_from_dict_converts_strings_and_lists():
    c = Cadence.from_dict({"name": "x", "stop_on": ["reply"], "touches": [
        {"channel": "email", "at": "1d 4h", "window": [9, 17], "automated": True}]})
    assert c == Cadence("x", (Touch("email", at=DAY + 4 * 3600, window=(9.0, 17.0),
                                    automated=True),), stop_on=frozenset({"reply"}))


def test_read_cadence_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml: no such cadence file"):
        read_cadence(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: not valid YAML"):
        read_cadence(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(ValueError, match=r"empty\.yaml: the cadence file is empty"):
        read_cadence(empty)
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("name: x\ntouches:\n- {channel: call, automated: true}\n")
    with pytest.raises(ValueError, match=r"invalid\.yaml: touches\[0\]: Touch 'automated'"):
        read_cadence(invalid)


def test_read_cadence_refuses_a_repeated_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: x\ntouches:\n- channel: call\n  at: 1d\n  at: 2d\n")
    with pytest.raises(ValueError, match=r"dup\.yaml: not valid YAML.*key 'at' is given twice"):
        read_cadence(path)


def test_write_cadence_needs_a_cadence(tmp_path):
    with pytest.raises(TypeError, match=r"write_cadence needs a Cadence\. Got dict instead"):
        write_cadence(BUILT_IN["instant"].to_dict(), tmp_path / "x.yaml")


# --------------------------------------------------------------------------------------------
# stretched and get_cadence
# --------------------------------------------------------------------------------------------
def test_stretched():
    seed = BUILT_IN["seed_14_day"]
    double = seed.stretched(2)
    assert double.name == "seed_14_day_x2"
    assert double.offsets().tolist() == (2 * seed.offsets()).tolist()
    assert [t.window for t in double.touches] == [t.window for t in seed.touches]
    assert [t.anchor for t in double.touches] == [t.anchor for t in seed.touches]
    assert double.stop_on == seed.stop_on
    odd = seed.stretched(1.37, name="odd")
    assert odd.name == "odd"
    np.testing.assert_allclose(odd.offsets(), 1.37 * seed.offsets(), rtol=1e-12)
    assert seed.stretched(1) == Cadence("seed_14_day_x1", seed.touches)


@pytest.mark.parametrize("factor", [0, -1, float("nan"), float("inf"), "2", True])
def test_stretched_refuses_a_bad_factor(factor):
    with pytest.raises(ValueError, match=r"'factor' must be a positive finite number"):
        BUILT_IN["seed_14_day"].stretched(factor)


def test_get_cadence_by_name_path_and_object(tmp_path):
    assert get_cadence("instant") is BUILT_IN["instant"]
    c = BUILT_IN["front_loaded"].stretched(0.5, name="half")
    assert get_cadence(c) is c
    write_cadence(c, tmp_path / "half.yaml")
    assert get_cadence(tmp_path / "half.yaml") == c
    assert get_cadence(str(tmp_path / "half.yaml")) == c


def test_get_cadence_unknown_name():
    with pytest.raises(ValueError, match=re.escape(
        "Unknown cadence 'seed_14_days': the built-in cadences are ['email_only', "
        "'front_loaded', 'instant', 'seed_14_day']. Give one of them, or a path"
    )):
        get_cadence("seed_14_days")
    with pytest.raises(TypeError, match=r"get_cadence needs a built-in name, a YAML path or a "
                                        r"Cadence\. Got 14 \(int\) instead"):
        get_cadence(14)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------
_delays = st.one_of(
    st.sampled_from([0.0, 60.0, 120.0, 3600.0, DAY]),
    st.integers(0, 30 * 86400).map(float),
    st.floats(0, 30 * DAY, allow_nan=False, allow_infinity=False),
)
_windows = st.one_of(
    st.none(),
    st.tuples(st.integers(0, 23), st.integers(1, 24)).filter(lambda w: w[0] < w[1]),
    st.tuples(st.floats(0, 12), st.floats(12.5, 24)),
)


@st.composite
def valid_touch_lists(draw, max_size: int = 10) -> list[Touch]:
    """Touches obeying every rule: first created, order, voicemail after call, no duplicates."""
    n = draw(st.integers(1, max_size))
    touches: list[Touch] = []
    prev = 0.0
    seen: set[tuple[str, float]] = set()
    for _ in range(n):
        channels = ["call", "sms", "email"] + (
            ["voicemail"] if touches and touches[-1].channel == "call" else []
        )
        channel = draw(st.sampled_from(channels))
        anchor = draw(st.sampled_from(["created", "previous"])) if touches else "created"
        delay = draw(_delays)
        absolute = prev + delay
        if (channel, absolute) in seen:
            delay += 1.0
            absolute = prev + delay
        at = absolute if anchor == "created" else delay
        touches.append(Touch(
            channel,
            at=at,
            anchor=anchor,
            window=draw(_windows),
            content=draw(st.sampled_from(["intro", "next_step", "pricing", "objection_budget"])),
            automated=channel in ("sms", "email") and draw(st.booleans()),
            personalisation=draw(st.sampled_from(["token", "context"])),
        ))
        prev = absolute
        seen.add((channel, absolute))
    return touches


_stop_on = st.frozensets(st.sampled_from(STOP_RULES))


@PROPERTY
@given(valid_touch_lists(), _stop_on)
def test_round_trip_is_exact_and_offsets_non_decreasing(touches, stop_on):
    c = Cadence("random", touches, stop_on=stop_on)
    offsets = c.offsets()
    assert offsets.shape == (len(touches),)
    assert np.all(np.diff(offsets) >= 0)
    d = c.to_dict()
    assert all(isinstance(t["at"], str) for t in d["touches"])
    assert Cadence.from_dict(d) == c
    with tempfile.TemporaryDirectory() as tmp:
        write_cadence(c, Path(tmp) / "c.yaml")
        assert read_cadence(Path(tmp) / "c.yaml") == c


@PROPERTY
@given(valid_touch_lists(), st.floats(0.01, 100))
def test_stretched_scales_offsets(touches, factor):
    c = Cadence("random", touches)
    assume(factor * c.offsets()[-1] <= 3650 * 86400)  # beyond ten years is refused, by design
    s = c.stretched(factor)
    assert np.all(np.diff(s.offsets()) >= 0)
    np.testing.assert_allclose(s.offsets(), factor * c.offsets(), rtol=1e-9)
    assert Cadence.from_dict(s.to_dict()) == s


@PROPERTY
@given(st.sampled_from(["call", "sms", "email"]),
       st.floats(1e-9, 1e9, allow_nan=False, allow_infinity=False))
def test_negative_offsets_are_refused(channel, magnitude):
    with pytest.raises(ValueError, match=r"Touch 'at' must be a finite, non-negative offset"):
        Touch(channel, at=-magnitude)
    with pytest.raises(ValueError, match=r"Touch 'at' must be a finite, non-negative offset"):
        Touch(channel, at=f"-{format_duration(magnitude)}")


@PROPERTY
@given(valid_touch_lists(), st.data())
def test_created_touch_before_the_previous_is_refused(touches, data):
    prev = Cadence("ok", touches).offsets()[-1]
    if prev == 0:  # make room before the last touch (calls have no duplicate rule)
        touches = [*touches, Touch("call", at="1h", anchor="previous")]
        prev = 3600.0
    fraction = data.draw(st.floats(0, 0.999))
    early = Touch(data.draw(st.sampled_from(["call", "sms", "email"])), at=prev * fraction)
    with pytest.raises(ValueError, match=r"touches must be in time order: "
                                         rf"'touches\[{len(touches)}\]'"):
        Cadence("bad", [*touches, early])
