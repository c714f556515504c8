"""Root conftest: the shared fixtures (real servers, the simulator) for every test folder."""

pytest_plugins = ["tests.fixtures", "tests.fleet"]
