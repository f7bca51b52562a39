"""Hardware tests: skipped unless ``WEARSENSE_HARDWARE`` lists device URIs (see README.md)."""

import os
import shlex

import pytest


def pytest_generate_tests(metafunc):
    if "device_uri" in metafunc.fixturenames:
        uris = shlex.split(os.environ.get("WEARSENSE_HARDWARE", ""))
        metafunc.parametrize("device_uri", uris or [None], ids=uris or ["no-device"])


@pytest.fixture
def seconds() -> float:
    return float(os.environ.get("WEARSENSE_HARDWARE_SECONDS", "5"))


@pytest.fixture(autouse=True)
def _needs_a_device(request):
    if "device_uri" in request.fixturenames and request.getfixturevalue("device_uri") is None:
        pytest.skip("no device: set WEARSENSE_HARDWARE to device URIs (tests/hardware/README.md)")
