"""SymblResource: credentials (config, EnvVar, symbl.conf), one client per instance, no secret in Dagster."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import responses
from dagster import AssetExecutionContext, DagsterInstance, Definitions, EnvVar, MaterializeResult, asset, materialize

from symbl_dagster import SymblResource
from symbl_dagster.client import PollingPolicy, RetryPolicy, SymblClient, Timeouts
from symbl_dagster.errors import SymblConfigurationError
from symbl_dagster.resource import PollingConfig, RetryConfig, TimeoutsConfig


def test_get_client_builds_one_client_for_all_threads():
    resource = SymblResource(
        app_id="id", app_secret="secret", base_url="http://127.0.0.1:9", retry=RetryConfig(max_retries=2)
    )
    seen: list[SymblClient] = []
    threads = [threading.Thread(target=lambda: seen.append(resource.get_client())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 1
    client = seen[0]
    assert client.base_url == "http://127.0.0.1:9" and client.retry.max_retries == 2


def test_every_setting_is_described():
    for config in (SymblResource, RetryConfig, PollingConfig, TimeoutsConfig):
        for name, spec in config.model_fields.items():
            assert spec.description, f"{config.__name__}.{name}"


def test_the_setting_groups_default_to_the_clients_policies():
    client = SymblResource(app_id="id", app_secret="secret").get_client()
    assert (client.retry, client.polling, client.timeouts) == (RetryPolicy(), PollingPolicy(), Timeouts())


def test_nested_settings_from_run_config_reach_the_client():
    seen = {}

    @asset
    def probe(symbl: SymblResource) -> None:
        client = symbl.get_client()
        seen.update(retry=client.retry, polling=client.polling, timeouts=client.timeouts)

    config = {
        "app_id": "id",
        "app_secret": "secret",
        "retry": {"max_retries": 8},
        "polling": {"initial_interval": 0.5, "max_interval": 4.0},
        "timeouts": {"read": 30.0},
    }
    result = materialize(
        [probe],
        resources={"symbl": SymblResource.configure_at_launch()},
        run_config={"resources": {"symbl": {"config": config}}},
    )
    assert result.success
    assert seen == {
        "retry": RetryPolicy(max_retries=8),
        "polling": PollingPolicy(initial_interval=0.5, max_interval=4.0),
        "timeouts": Timeouts(read=30.0),
    }


def test_an_invalid_setting_group_fails_with_a_configuration_error():
    resource = SymblResource(
        app_id="id", app_secret="secret", polling=PollingConfig(initial_interval=5, max_interval=1)
    )
    with pytest.raises(SymblConfigurationError, match="max_interval >= initial_interval"):
        resource.get_client()


def test_secret_is_absent_from_repr_and_str():
    resource = SymblResource(app_id="id", app_secret="do-not-show-me")
    assert "do-not-show-me" not in repr(resource) and "do-not-show-me" not in str(resource)
    assert "do-not-show-me" not in repr(resource.get_client())


def test_credentials_from_env_vars(monkeypatch):
    monkeypatch.setenv("SYMBL_APP_ID", "env-id")
    monkeypatch.setenv("SYMBL_APP_SECRET", "env-secret")
    seen = {}

    @asset
    def probe(symbl: SymblResource) -> None:
        seen["app_id"] = symbl.get_client().app_id

    resource = SymblResource(app_id=EnvVar("SYMBL_APP_ID"), app_secret=EnvVar("SYMBL_APP_SECRET"))
    assert materialize([probe], resources={"symbl": resource}).success
    assert seen["app_id"] == "env-id"


def write_conf(directory, app_id="conf-id", app_secret="conf-secret"):
    (directory / "symbl.conf").write_text(f"[credentials]\napp_id={app_id}\napp_secret={app_secret}\n")


def test_symbl_conf_in_the_working_directory_wins_over_home(tmp_path, monkeypatch):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    write_conf(work, app_id="from-cwd")
    write_conf(home, app_id="from-home")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    assert SymblResource().get_client().app_id == "from-cwd"
    (work / "symbl.conf").unlink()
    assert SymblResource().get_client().app_id == "from-home"


def test_no_credentials_anywhere_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SymblConfigurationError, match=r"EnvVar\('SYMBL_APP_ID'\).*symbl\.conf"):
        SymblResource().get_client()


@pytest.mark.parametrize(
    ("text", "match"),
    [("[credentials]\napp_id=only-id\n", "needs both"), ("not an ini file", "not a valid INI")],
)
def test_a_broken_symbl_conf_is_a_clear_error(tmp_path, monkeypatch, text, match):
    (tmp_path / "symbl.conf").write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SymblConfigurationError, match=match):
        SymblResource().get_client()


def test_half_given_credentials_are_refused(tmp_path, monkeypatch):
    write_conf(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SymblConfigurationError, match="both"):
        SymblResource(app_id="id").get_client()


def test_secret_and_token_never_reach_dagster_events_or_metadata(tmp_path):
    secret, token = "literal-secret-in-code", "token-that-must-not-leak"
    with responses.RequestsMock() as mock:
        answer = {"accessToken": token, "expiresIn": 60}
        mock.add(responses.POST, "https://symbl.test/oauth2/token:generate", json=answer)
        mock.add(responses.GET, "https://symbl.test/v1/job/j", status=500, json={"message": f"echo {token} {secret}"})
        mock.add(responses.GET, "https://symbl.test/v1/job/j", json={"id": "j", "status": "completed"})

        @asset
        def job_status(context: AssetExecutionContext, symbl: SymblResource) -> MaterializeResult:
            client = symbl.get_client()
            context.log.info(f"client {client!r}, resource {symbl!r}")
            return MaterializeResult(metadata={"status": client.get_job("j").status, **client.usage.as_metadata()})

        @asset(deps=[job_status])
        def failing(symbl: SymblResource) -> None:
            symbl.get_client().get_job("j")

        mock.add(responses.GET, "https://symbl.test/v1/job/j", status=400, json={"message": f"bad {token}"})
        resource = SymblResource(
            app_id="id",
            app_secret=secret,
            base_url="https://symbl.test",
            retry=RetryConfig(backoff_initial=0.01, backoff_max=0.01),
        )
        with DagsterInstance.ephemeral() as instance:
            defs = Definitions(assets=[job_status, failing], resources={"symbl": resource})
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, raise_on_error=False
            )
            assert not result.success  # "failing" failed on the 400; its error is in the event log
            records = instance.all_logs(result.run_id)
            text = "\n".join(str(record) for record in records)
            run = instance.get_run_by_id(result.run_id)
            text += str(run.run_config) + str(run.tags)
    assert "symbl/api_calls" in text and "bad ***" in text
    assert secret not in text and token not in text


def test_the_package_imports_without_dagster_until_the_resource_is_used():
    script = (
        "import sys, symbl_dagster\n"
        "assert 'dagster' not in sys.modules, 'client, models and server must stay Dagster-free'\n"
        "symbl_dagster.SymblResource\n"
        "assert 'dagster' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[2])
