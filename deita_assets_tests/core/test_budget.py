import pytest

from deita_assets.core.budget import BUDGET_ENV, budget_from_env, resolve_budget


def test_configured_m_wins_then_the_environment_then_the_fraction() -> None:
    assert resolve_budget(50, 0.1, 1000, {BUDGET_ENV: "7"}) == 50
    assert resolve_budget(0, 0.1, 1000, {BUDGET_ENV: "7"}) == 7
    assert resolve_budget(0, 0.1, 1000, {}) == 100
    assert resolve_budget(0, 0.1, 3, {}) == 1  # never zero


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_a_bad_environment_budget_is_an_error_not_a_silent_default(value: str) -> None:
    with pytest.raises(ValueError, match=BUDGET_ENV):
        budget_from_env({BUDGET_ENV: value})
