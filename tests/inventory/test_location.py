"""Where an inventory lives, as `--state` names it: a path stays a path; a PostgreSQL URL
becomes a location that names its schema and never shows its password.

libpq's own reading of a URL (psycopg's `conninfo_to_dict`) is the independent witness:
the location must hand the driver the connection the user wrote, and hide the password
the driver will use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from reconciler.inventory import LocationError, PostgresLocation, parse_location


def _postgres(text: str) -> PostgresLocation:
    location = parse_location(text)
    assert isinstance(location, PostgresLocation)
    return location


@pytest.mark.parametrize(
    "text", ["state.db", ".reconciler/state.db", "/var/lib/reconciler/state.db", "a:b.db"]
)
def test_a_path_stays_a_path(text: str) -> None:
    assert parse_location(text) == Path(text)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_names_the_default_schema(scheme: str) -> None:
    location = _postgres(f"{scheme}://ci@db.example:5433/inventories")
    assert location.schema == "reconciler"
    assert str(location) == f"{scheme}://ci@db.example:5433/inventories?schema=reconciler"
    assert conninfo_to_dict(location.conninfo) == {
        "user": "ci",
        "host": "db.example",
        "port": "5433",
        "dbname": "inventories",
    }


def test_the_schema_parameter_names_the_schema_and_is_not_passed_to_libpq() -> None:
    location = _postgres("postgresql://ci@db/inventories?sslmode=require&schema=team_2")
    assert location.schema == "team_2"
    assert "schema" not in conninfo_to_dict(location.conninfo)
    assert conninfo_to_dict(location.conninfo)["sslmode"] == "require"
    assert str(location).endswith("schema=team_2")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ci@db.example:5433/inventories",
        "postgresql://ci:s3cret@db.example/inventories?sslmode=verify-full&connect_timeout=3",
        "postgresql://ci@%2Fvar%2Frun%2Fpostgresql/inventories",
        "postgresql://ci@[::1]:5432/inventories",
        "postgresql://ci@db/inventories?application_name=a%2Bb",
        "postgresql://ci@db/inventories?options=-c%20search_path%3Dpublic",
    ],
)
def test_libpq_reads_the_connection_the_user_wrote(url: str) -> None:
    assert conninfo_to_dict(_postgres(url).conninfo) == conninfo_to_dict(url)
    with_schema = f"{url}{'&' if '?' in url else '?'}schema=other"
    assert conninfo_to_dict(_postgres(with_schema).conninfo) == conninfo_to_dict(url)


def test_an_empty_host_is_kept_for_a_local_socket() -> None:
    location = _postgres("postgresql:///inventories?host=/var/run/postgresql")
    assert location.conninfo.startswith("postgresql:///inventories?")
    assert conninfo_to_dict(location.conninfo) == {
        "dbname": "inventories",
        "host": "/var/run/postgresql",
    }


@pytest.mark.parametrize("schema", ["Reconciler", "1st", "team-2", "a;drop", "", "x" * 64, "scé"])
def test_a_schema_name_postgresql_would_need_quoted_is_refused(schema: str) -> None:
    with pytest.raises(LocationError, match="schema") as caught:
        parse_location(f"postgresql://ci:s3cret@db/inventories?schema={schema}")
    assert "s3cret" not in str(caught.value)


def test_the_longest_schema_name_postgresql_keeps_is_accepted() -> None:
    assert _postgres(f"postgresql://db/x?schema={'s' * 63}").schema == "s" * 63


@pytest.mark.parametrize(
    "text",
    [
        "mysql://ci:s3cret@db/inventories",
        "https://ci:s3cret@db.example/state.db",
        "file:///var/lib/reconciler/state.db",
        "sqlite:///state.db",
        "://ci:s3cret@db/inventories",
    ],
)
def test_a_url_of_another_scheme_is_refused_without_showing_its_password(text: str) -> None:
    with pytest.raises(LocationError, match="give a file path, or a postgresql://") as caught:
        parse_location(text)
    assert "s3cret" not in str(caught.value)


def test_a_malformed_url_is_a_location_error_without_its_password() -> None:
    with pytest.raises(LocationError) as caught:
        parse_location("postgresql://ci:s3cret@[::1/inventories")
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ci:s3cret@db/inventories",
        "postgres://ci:p%40ss%2Fw0rd@db:5432/inventories",
        "postgresql://ci@db/inventories?password=s3cret&sslmode=require",
        "postgresql://ci@db/inventories?password=p%26q%3Dr",
        "postgresql://ci@db/inventories?password=a+b",
        "postgresql://:s3cret@db/inventories",
    ],
)
def test_the_password_is_never_shown_and_is_scrubbed_from_messages(url: str) -> None:
    location = _postgres(url)
    password = conninfo_to_dict(url)["password"]  # as libpq reads it, and will send it
    assert isinstance(password, str)
    assert conninfo_to_dict(location.conninfo)["password"] == password
    for shown in (str(location), repr(location), location.shown):
        assert password not in shown
        assert "password" not in shown
    scrubbed = location.scrub(f'connection failed: password "{password}" was refused')
    assert scrubbed == 'connection failed: password "***" was refused'
    assert location.scrub("nothing secret here") == "nothing secret here"


@pytest.mark.parametrize(
    "url",
    [
        # libpq reads each of these passwords whole and connects; shown as Python reads
        # the URL, each would have printed the password (or part of it).
        "postgresql://ci:Zq9?Xk7@db:5432/inventories",
        "postgresql://ci:Zq9/Xk7@db:5432/inventories",
        "postgresql://ci:Zq9#Xk7@db:5432/inventories",
        "postgresql://ci:Zq9@Xk7@db:5432/inventories",
    ],
)
def test_a_password_with_unencoded_special_characters_is_refused_unshown(url: str) -> None:
    with pytest.raises(LocationError, match="percent-encode") as caught:
        parse_location(url)
    assert "Zq9" not in str(caught.value)
    assert "Xk7" not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "postgresql:/ci:s3cret@db:5432/inventories",
        "PostgreSQL:ci:s3cret@db/inventories",
        "postgres:/ci:s3cret@db/inventories",
    ],
)
def test_a_postgresql_url_with_a_slash_missing_is_refused_not_taken_for_a_file(
    text: str,
) -> None:
    with pytest.raises(LocationError, match="://") as caught:
        parse_location(text)
    assert "s3cret" not in str(caught.value)


def test_a_key_value_connection_string_is_refused_not_taken_for_a_file() -> None:
    with pytest.raises(LocationError, match="postgresql://") as caught:
        parse_location("host=db dbname=inventories password=s3cret")
    assert "s3cret" not in str(caught.value)
