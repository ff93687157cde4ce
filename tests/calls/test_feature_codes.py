"""softswitch/calls/feature_codes.py: feature codes matched from digits, on a stepped clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from softswitch.calls.feature_codes import FeatureMatcher, FeaturePressed, MatchState
from softswitch.config_features import InCallFeatures


def press(matcher: FeatureMatcher, digits: str, now: float = 0.0) -> list[FeaturePressed]:
    out = []
    for digit in digits:
        result = matcher.pressed(digit, now)
        if result is not None:
            out.append(result)
    return out


def test_blind_transfer_number_ends_with_hash_or_timeout() -> None:
    matcher = FeatureMatcher(InCallFeatures())
    assert press(matcher, "#11003#") == [FeaturePressed("blind_transfer", "1003")]
    assert press(matcher, "#1600") == []
    assert matcher.expire(2.9) is None
    assert matcher.expire(3.0) == FeaturePressed("blind_transfer", "600")
    assert matcher.state is MatchState.IDLE


def test_disconnect_and_attended_codes() -> None:
    matcher = FeatureMatcher(InCallFeatures())
    assert press(matcher, "*0") == [FeaturePressed("disconnect")]
    assert press(matcher, "*21003#") == [FeaturePressed("attended_transfer", "1003")]
    assert press(matcher, "*2600") == []
    assert matcher.expire(3.0) == FeaturePressed("attended_transfer", "600")


def test_while_consulting_the_attended_code_completes_at_once() -> None:
    matcher = FeatureMatcher(InCallFeatures())
    matcher.consulting = True
    assert press(matcher, "*2") == [FeaturePressed("attended_transfer")]
    assert matcher.state is MatchState.IDLE
    assert press(matcher, "#11003#") == [FeaturePressed("blind_transfer", "1003")]
    assert press(matcher, "*3") == [FeaturePressed("three_way")]
    matcher.consulting = False
    assert press(matcher, "*2") == [] and matcher.state is MatchState.NUMBER
    matcher.expire(10.0)
    assert press(matcher, "*31003#") == [FeaturePressed("three_way", "1003")]


def test_plain_digits_pass_and_code_digits_are_held() -> None:
    matcher = FeatureMatcher(InCallFeatures())
    assert not matcher.holds("5") and press(matcher, "123") == []
    assert matcher.holds("#") and matcher.holds("*")
    press(matcher, "#")
    assert matcher.holds("1") and matcher.holds("5")
    assert press(matcher, "5") == []  # "#5" is no code: back to idle
    assert matcher.state is MatchState.IDLE and not matcher.holds("5")


def test_a_code_left_half_pressed_expires() -> None:
    matcher = FeatureMatcher(InCallFeatures())
    press(matcher, "*")
    assert matcher.expire(1.0) is None and matcher.state is MatchState.IDLE


def test_codes_turned_off_hold_nothing() -> None:
    matcher = FeatureMatcher(InCallFeatures("", "", "", ""))
    assert not matcher.holds("#") and press(matcher, "#1*0") == []


@given(st.text(alphabet="0123456789*#ABCD", max_size=40))
def test_any_digits_give_only_known_features(digits: str) -> None:
    matcher = FeatureMatcher(InCallFeatures())
    for result in press(matcher, digits):
        assert result.feature in ("blind_transfer", "attended_transfer", "disconnect", "three_way")
        assert result.feature == "disconnect" or result.number
