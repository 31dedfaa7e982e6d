"""What a test needs beyond its own process, as pytest markers (pytest.ini says what each means;
docs/testing.md has the table).

A fixture that starts a server or runs Node says so once, where it is defined:

    @pytest.fixture()
    @needs("server")  # a JWKS over HTTP on 127.0.0.1
    def pool(): ...

and every test that uses it, directly or through another fixture, carries the marker
(tests/conftest.py). A test that starts one itself carries the marker itself
(`@pytest.mark.server`). A test with none of NOT_FAST is `fast`, and a fast test that opens a
network socket or runs Node, pip or the sandbox fails saying which marker it lacks.
"""

# Each of these keeps a test out of the fast loop (`pytest -m fast`).
NOT_FAST = ("live_sandbox", "browser", "server", "node", "pip", "slow")


def needs(*markers):
    """Every test that uses the decorated fixture gets `markers` (put it under @pytest.fixture)."""
    unknown = set(markers) - set(NOT_FAST)
    if unknown:
        raise ValueError(f"unknown markers {sorted(unknown)}: one of {NOT_FAST}")

    def mark(fixture_function):
        fixture_function.needs = markers
        return fixture_function
    return mark
