from __future__ import annotations

import pytest

from azbatch_operator.settings import Settings, SettingsError

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.image_max_dedicated_nodes, s.image_max_low_priority_nodes) == (2500, 1000)
    assert s.default_subscription_id is None
    assert s.poll_fast_seconds < s.poll_slow_seconds


def test_reads_environment() -> None:
    s = Settings.from_env(
        {
            "AZURE_SUBSCRIPTION_ID": "sub",
            "AZBATCH_IMAGE_MAX_DEDICATED_NODES": "100",
            "AZBATCH_POLL_FAST_SECONDS": "2.5",
            "AZBATCH_QUOTA_RECHECK_SECONDS": " 30 ",
            "AZBATCH_MAX_WORKERS": "",
        }
    )
    assert s.default_subscription_id == "sub"
    assert s.image_max_dedicated_nodes == 100
    assert s.poll_fast_seconds == 2.5
    assert s.quota_recheck_seconds == 30
    assert s.max_workers == 200  # empty means default


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        (
            {"AZBATCH_IMAGE_MAX_DEDICATED_NODES": "lots"},
            "AZBATCH_IMAGE_MAX_DEDICATED_NODES must be an integer",
        ),
        ({"AZBATCH_IMAGE_MAX_DEDICATED_NODES": "2.5"}, "must be an integer"),
        ({"AZBATCH_POLL_SLOW_SECONDS": "nan"}, "must be a number"),
        ({"AZBATCH_POLL_FAST_SECONDS": "0"}, "AZBATCH_POLL_FAST_SECONDS must be > 0"),
        ({"AZBATCH_POLL_FAST_SECONDS": "900"}, "must not exceed AZBATCH_POLL_SLOW_SECONDS"),
        ({"AZBATCH_RETRY_BASE_SECONDS": "500"}, "must not exceed AZBATCH_RETRY_MAX_SECONDS"),
        ({"AZBATCH_JITTER_FRACTION": "1.5"}, "AZBATCH_JITTER_FRACTION"),
    ],
)
def test_rejects_invalid(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(env)
