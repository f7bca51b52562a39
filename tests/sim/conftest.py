import pytest

from wearsense import sim


@pytest.fixture(scope="session")
def rec60():
    """One minute of the default mover with 1 % packet loss (shared by the sim tests)."""
    return sim.generate(11, 60.0, loss=0.01)


@pytest.fixture(scope="session")
def reaches():
    """Reaches only, so every movement has a clean agonist burst (seeded)."""
    return sim.generate(7, 90.0, moves=("reach",))
