"""Choosing the API targets (DESIGN.md §7): flag > environment > reconciler.yaml > embedded,
and refusing configurations that would mix the emulator with production or leak a secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reconciler.clients import Credentials, TargetError, Urls, choose_targets
from reconciler.clients.caller import Call

DB = Path(".reconciler/emulator.db")
CREDENTIALS = {
    "COVIU_API_KEY": "coviu-key",
    "COVIU_API_SECRET": "coviu-secret-value",
    "AUVIOUS_CLIENT_ID": "auvious-id",
    "AUVIOUS_CLIENT_SECRET": "auvious-secret-value",
}
FLAGS = Urls(coviu="https://flag.example/v1", auvious="https://flag.example")
ENV = {"COVIU_API_URL": "https://env.example/v1", "AUVIOUS_API_URL": "https://env.example"}
CONFIG = Urls(coviu="https://config.example/v1", auvious="https://config.example")


def urls(flags: Urls, environ: dict[str, str], config: Urls) -> tuple[str, str]:
    chosen = choose_targets(
        flags=flags, environ={**CREDENTIALS, **environ}, config=config, embedded_db=DB
    )
    return chosen.coviu_url, chosen.auvious_url


def test_a_flag_wins_over_the_environment_and_the_config() -> None:
    assert urls(FLAGS, ENV, CONFIG) == ("https://flag.example/v1", "https://flag.example")


def test_the_environment_wins_over_the_config() -> None:
    assert urls(Urls(), ENV, CONFIG) == ("https://env.example/v1", "https://env.example")


def test_the_config_is_used_when_nothing_else_names_a_url() -> None:
    assert urls(Urls(), {}, CONFIG) == ("https://config.example/v1", "https://config.example")


def test_each_service_takes_its_url_from_the_highest_source_that_names_it() -> None:
    flags = Urls(coviu="https://flag.example/v1")
    assert urls(flags, ENV, CONFIG) == ("https://flag.example/v1", "https://env.example")


def test_real_targets_take_their_credentials_from_the_environment() -> None:
    chosen = choose_targets(flags=FLAGS, environ=CREDENTIALS, config=Urls(), embedded_db=DB)
    assert chosen.embedded_db is None
    assert chosen.coviu == Credentials("coviu-key", "coviu-secret-value")
    assert chosen.auvious == Credentials("auvious-id", "auvious-secret-value")
    assert "secret-value" not in repr(chosen)
    assert chosen.describe() == {"coviu": FLAGS.coviu, "auvious": FLAGS.auvious}


def test_nothing_configured_means_the_embedded_emulator() -> None:
    chosen = choose_targets(flags=Urls(), environ={}, config=Urls(), embedded_db=DB)
    assert chosen.embedded_db == DB
    assert chosen.describe()["coviu"] == f"embedded emulator ({DB})"


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        # A wrong scheme is refused after the password check; nothing is ever echoed.
        ("ftp://key:hunter2-secret@host.example/v1", "must not carry a user name or password"),
        ("https://key:hunter2-secret@host.example/v1", "must not carry a user name or password"),
        ("https://hunter2-secret@host.example/v1", "must not carry a user name or password"),
        # The target URL is shown in every plan header and ping line: a token in its
        # query string would go with it.
        ("https://api.example/v1?access_token=hunter2-secret", "must not carry a query"),
        ("https://api.example/v1#hunter2-secret", "must not carry a query or fragment"),
    ],
)
def test_a_url_carrying_a_secret_is_refused_without_echoing_it(url: str, refusal: str) -> None:
    with pytest.raises(TargetError) as caught:
        choose_targets(
            flags=Urls(coviu=url, auvious="https://a.example"),
            environ=CREDENTIALS,
            config=Urls(),
            embedded_db=DB,
        )
    assert refusal in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_url_that_is_not_http_is_refused_naming_its_scheme() -> None:
    with pytest.raises(TargetError, match=r"must be http\(s\)://host/… \(it starts ftp://\)"):
        choose_targets(
            flags=Urls(coviu="ftp://host.example/v1", auvious="https://a.example"),
            environ=CREDENTIALS,
            config=Urls(),
            embedded_db=DB,
        )


def test_a_call_repr_shows_the_masked_path_only() -> None:
    call = Call(
        "PUT",
        "/participants/secret-participant-id",
        "/participants/***",
        form={"client_secret": "form-secret-value"},
        headers={"Authorization": "Basic c2VjcmV0LXZhbHVl"},
        secrets=("secret-participant-id",),
    )
    assert repr(call) == "Call(PUT /participants/***)"


@pytest.mark.parametrize("name", ["httpx", "httpcore.http11", "httpcore.connection"])
def test_httpx_and_httpcore_records_are_masked(name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=name)
    logging.getLogger(name).debug(
        "HTTP Request: %s %s", "GET", "https://api.example/v1/participants/p4rt1c1p4nt-1d"
    )
    assert caplog.messages == ["HTTP Request: GET https://api.example/v1/participants/***"]
