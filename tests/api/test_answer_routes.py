"""Answer from a screen and intercept over the API: who may, and the refusals a screen sees.

Demo users: agents 1001-1003 and 1004 in team sales, 1005 in support; the supervisor (phone
1006) leads sales. Call 1 is 1001 -> 1002; what rings is scripted in `control.ringing`.
"""

from __future__ import annotations

import pytest
from api_harness import ApiHarness, with_api
from hypothesis import given
from hypothesis import strategies as st

from softswitch.api.answer import MAX_EXTENSION_CHARS, extension_in
from softswitch.api.client import ApiClientError
from softswitch.api.routes import ApiError


def _status(exc: pytest.ExceptionInfo[ApiClientError]) -> int:
    return exc.value.status


def test_an_agent_answers_its_own_ringing_phone_without_naming_it() -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "+4420", "600")
        api.control.ringing.add((1, "1001"))
        agent = await api.client("1001")
        answering = await agent.answer(1)
        assert answering == {"call_id": 1, "leg_id": 7, "extension": "1001"}
        assert api.control.commands == [("answer", 1, None)]

    with_api(scenario)


def test_answer_refusals_404_409_403() -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "+4420", "600")
        api.control.ringing.add((1, "1002"))
        agent = await api.client("1001")
        with pytest.raises(ApiClientError) as refused:
            await agent.answer(9)
        assert _status(refused) == 404
        with pytest.raises(ApiClientError) as refused:
            await agent.answer(1)  # 1002 rings, not 1001
        assert _status(refused) == 409
        with pytest.raises(ApiClientError) as refused:
            await agent.answer(1, "1002")  # another agent's phone
        assert _status(refused) == 403
        supervisor = await api.client("supervisor")
        with pytest.raises(ApiClientError) as refused:
            await supervisor.answer(1, "1005")  # not of its team
        assert _status(refused) == 403
        assert api.control.commands == []
        assert (await supervisor.answer(1, "1002"))["extension"] == "1002"  # its team's agent
        status, body, _ = await api.raw(
            "POST",
            "/api/v1/calls/1/answer",
            json={"extension": 5},
            headers={"Authorization": f"Bearer {agent.token}"},
        )
        assert status == 400, body

    with_api(scenario)


def test_intercept_is_for_supervisors_to_their_own_phone() -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "+4420", "1001")
        api.control.add(2, "+4420", "1005")
        agent = await api.client("1001")
        with pytest.raises(ApiClientError) as refused:
            await agent.intercept(1)
        assert _status(refused) == 403
        supervisor = await api.client("supervisor")
        with pytest.raises(ApiClientError) as refused:
            await supervisor.intercept(1, "1002")  # someone else's phone
        assert _status(refused) == 403
        with pytest.raises(ApiClientError) as refused:
            await supervisor.intercept(2)  # 1005 is in support
        assert _status(refused) == 403
        with pytest.raises(ApiClientError) as refused:
            await supervisor.intercept(9)
        assert _status(refused) == 404
        assert api.control.commands == []
        taken = await supervisor.intercept(1)
        assert taken == {"call_id": 1, "agent": "1001", "supervisor": "1006", "leg_id": 8}
        admin = await api.client("admin")
        assert (await admin.intercept(2, "1003"))["supervisor"] == "1003"

    with_api(scenario)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)


@given(
    body=st.dictionaries(st.sampled_from(["extension", "x", ""]) | st.text(), _JSON),
    default=st.none() | st.text(max_size=70),
)
def test_any_json_body_gives_an_extension_or_a_400(
    body: dict[str, object], default: str | None
) -> None:
    try:
        extension = extension_in(body, default)
    except ApiError as refused:
        assert refused.status == 400
        return
    assert isinstance(extension, str) and 0 < len(extension) <= MAX_EXTENSION_CHARS
    assert extension == body.get("extension", default)
