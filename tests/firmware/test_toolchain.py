"""The firmware tests need make and cc: skipped with the reason on a laptop without them,
failed (never skipped) in CI, where CI=true."""

from __future__ import annotations

import pytest


def no_make(tool: str) -> str | None:
    return None if tool == "make" else f"/usr/bin/{tool}"


def test_missing_make_skips_with_the_reason_outside_ci(toolchain_check):
    with pytest.raises(
        pytest.skip.Exception, match="need make and a C compiler; missing: make.*build-essential"
    ):
        toolchain_check({}, no_make)


def test_missing_compiler_fails_in_ci(toolchain_check):
    with pytest.raises(pytest.fail.Exception, match="missing: clang.*CI=true"):
        toolchain_check(
            {"CI": "true", "CC": "clang"}, lambda tool: None if tool == "clang" else "/usr/bin/make"
        )


def test_present_toolchain_neither_skips_nor_fails(toolchain_check):
    toolchain_check({"CI": "true"}, lambda tool: f"/usr/bin/{tool}")
