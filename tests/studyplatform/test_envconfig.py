"""Configuration parsing: defaults, valid values, and specific errors naming the variable."""

import re
from pathlib import Path

import pytest

from studyplatform.envconfig import (
    DEVELOPMENT_SECRET_KEY,
    VARIABLES,
    ConfigurationError,
    Environment,
    database_error_line,
    media_storage,
    parse_database_url,
    read_dotenv,
    redact_url,
    resolve_celery_urls,
    secret_key,
)

BASE = Path("/srv/app")


def test_sqlite_default_is_a_file_under_the_project():
    db = parse_database_url("sqlite:///var/db.sqlite3", BASE)
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == "/srv/app/var/db.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_sqlite_absolute_path():
    assert parse_database_url("sqlite:////tmp/x.db", BASE)["NAME"] == "/tmp/x.db"


def test_postgres_url_is_split_into_parts():
    db = parse_database_url("postgres://alice:s3cret@db.example:6543/studies", BASE)
    assert (db["ENGINE"], db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "django.db.backends.postgresql",
        "studies",
        "alice",
        "s3cret",
        "db.example",
        "6543",
    )


def test_postgres_password_is_percent_decoded():
    """A password with ``@`` or ``:`` must be percent-encoded in a URL; Django needs it decoded."""
    db = parse_database_url("postgres://alice:p%40ss%3Aword@db.example/studies", BASE)
    assert (db["PASSWORD"], db["HOST"], db["PORT"]) == ("p@ss:word", "db.example", "5432")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x/y",
        "not a url",
        "postgres://host-only",
        "postgres:///nohost",
        "postgres://h:port/db",
    ],
)
def test_malformed_database_url_names_the_variable(url):
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        parse_database_url(url, BASE)


def test_broker_defaults_to_a_serverless_filesystem_broker(tmp_path):
    urls = resolve_celery_urls(Environment({}), tmp_path)
    assert urls.broker == "filesystem://"
    assert urls.backend == f"file://{tmp_path / 'celery' / 'results'}"


def test_redis_url_is_broker_and_backend(tmp_path):
    urls = resolve_celery_urls(Environment({"REDIS_URL": "redis://r:6379/2"}), tmp_path)
    assert (urls.broker, urls.backend, urls.filesystem_folder) == (
        "redis://r:6379/2",
        "redis://r:6379/2",
        None,
    )


def test_the_broker_variable_is_the_one_the_url_came_from(tmp_path):
    def variable(values):
        return resolve_celery_urls(Environment(values), tmp_path).broker_variable

    assert variable({"REDIS_URL": "redis://r:6379/2"}) == "REDIS_URL"
    assert variable({"CELERY_BROKER_URL": "redis://b:2/0"}) == "CELERY_BROKER_URL"
    both = {"REDIS_URL": "redis://a:1/0", "CELERY_BROKER_URL": "redis://b:2/0"}
    assert variable(both) == "CELERY_BROKER_URL"
    assert variable({}) == ""


def test_explicit_broker_wins_over_redis_url(tmp_path):
    env = Environment({"REDIS_URL": "redis://a:1/0", "CELERY_BROKER_URL": "redis://b:2/0"})
    assert resolve_celery_urls(env, tmp_path).broker == "redis://b:2/0"


@pytest.mark.parametrize(
    ("variables", "name"),
    [
        ({"CELERY_BROKER_URL": "http://x"}, "CELERY_BROKER_URL"),
        ({"REDIS_URL": "redis://host:notaport/0"}, "REDIS_URL"),
    ],
)
def test_malformed_broker_url_names_the_variable(tmp_path, variables, name):
    with pytest.raises(ConfigurationError, match=name):
        resolve_celery_urls(Environment(variables), tmp_path)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("0", False), ("", False)])
def test_booleans(value, expected):
    assert Environment({"DEBUG": value}).boolean("DEBUG") is expected


def test_bad_boolean_and_integer_and_device_name_the_variable():
    with pytest.raises(ConfigurationError, match="DEBUG"):
        Environment({"DEBUG": "maybe"}).boolean("DEBUG")
    with pytest.raises(ConfigurationError, match="CELERY_TASK_TIME_LIMIT"):
        Environment({"CELERY_TASK_TIME_LIMIT": "soon"}).integer("CELERY_TASK_TIME_LIMIT")
    with pytest.raises(ConfigurationError, match="EXPLAINERS_DEVICE"):
        Environment({"EXPLAINERS_DEVICE": "tpu"}).device()


def test_undeclared_variables_cannot_be_read():
    with pytest.raises(KeyError):
        Environment({}).string("SOMETHING_ELSE")


def test_environment_wins_over_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nDEBUG=true\nexport LOG_LEVEL='DEBUG'\nALLOWED_HOSTS=\"a,b\"\n")
    values = read_dotenv(dotenv)
    assert values == {"DEBUG": "true", "LOG_LEVEL": "DEBUG", "ALLOWED_HOSTS": "a,b"}
    env = Environment({"DEBUG": "false"}, values)
    assert env.boolean("DEBUG") is False
    assert env.items("ALLOWED_HOSTS") == ["a", "b"]


def test_malformed_dotenv_line_is_reported_with_its_line_number(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("DEBUG=true\njust words\n")
    with pytest.raises(ConfigurationError, match=r"\.env:2"):
        read_dotenv(dotenv)


def test_redact_url_hides_passwords():
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"


def test_env_example_documents_exactly_the_declared_variables():
    example = Path(__file__).resolve().parents[2] / ".env.example"
    assert set(read_dotenv(example)) == {v.name for v in VARIABLES}


def test_readme_configuration_table_lists_exactly_the_declared_variables():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| (`[^`]*`|—) \|", readme, flags=re.M)
    documented = {name: default for name, default in rows}
    assert set(documented) == {v.name for v in VARIABLES}
    for variable in VARIABLES:
        shown = f"`{variable.default}`" if variable.default else "—"
        assert documented[variable.name] == shown, variable.name


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "not set"),
        ("   ", "not set"),
        (read_dotenv(ROOT / ".env.example")["SECRET_KEY"], "placeholder"),
        ("replace-me", "placeholder"),
        (DEVELOPMENT_SECRET_KEY, "placeholder"),
        ("k" * 49, "too short (49 characters)"),
    ],
)
def test_production_refuses_a_missing_published_or_short_secret_key(value, reason):
    with pytest.raises(ConfigurationError, match=r"^SECRET_KEY is ") as raised:
        secret_key(value, debug=False)
    assert reason in str(raised.value)
    if value.strip():
        assert value not in str(raised.value)  # the refused key itself is never printed


def test_a_long_secret_key_is_accepted_and_development_has_a_fallback():
    key = "k" * 50
    assert secret_key(f" {key} ", debug=False) == key
    assert secret_key("", debug=True) == DEVELOPMENT_SECRET_KEY
    assert secret_key("replace-me", debug=True) == "replace-me"  # development: anything goes


def test_database_error_line_names_the_variable_and_hides_the_password():
    line = database_error_line(
        'connection to server at "db", port 9 failed: Connection refused\n\tIs the server '
        "running?\n",
        "postgres://app:s3cret@db:9/studies",
    )
    assert line == (
        'Database error: connection to server at "db", port 9 failed: Connection refused '
        "(check DATABASE_URL=postgres://app:***@db:9/studies)"
    )
    echoed = database_error_line("bad password s3cret", "postgres://app:s3cret@db/x")
    assert "s3cret" not in echoed and "DATABASE_URL" in echoed
    assert database_error_line("", "sqlite:///x").startswith("Database error: unknown error")


def test_the_filesystem_broker_has_a_folder_per_database(tmp_path):
    """Two DATABASE_URL values never share the embedded queue (issue 23)."""
    from studyplatform.dbidentity import identity_of

    one = identity_of({"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "a.db")})
    two = identity_of({"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "b.db")})
    pg = {"ENGINE": "django.db.backends.postgresql", "NAME": "s", "HOST": "h", "PORT": "5432"}
    assert len({one, two, identity_of(pg)}) == 3
    # the role and its password are no part of a database's identity
    assert identity_of({**pg, "USER": "a", "PASSWORD": "x"}) == identity_of(pg)
    first = resolve_celery_urls(Environment({}), tmp_path, database_key=one)
    second = resolve_celery_urls(Environment({}), tmp_path, database_key=two)
    assert first.filesystem_folder == tmp_path / "celery" / one
    assert second.filesystem_folder == tmp_path / "celery" / two
    assert first.backend == f"file://{tmp_path / 'celery' / one / 'results'}"
    explicit = Environment({"CELERY_BROKER_URL": "filesystem://"})
    assert (
        resolve_celery_urls(explicit, tmp_path, one).filesystem_folder == tmp_path / "celery" / one
    )


def test_media_storage_is_the_file_system_by_default():
    assert media_storage(Environment({})) == {
        "BACKEND": "django.core.files.storage.FileSystemStorage"
    }


def test_media_storage_s3_takes_django_storages_own_variables():
    entry = media_storage(
        Environment(
            {
                "MEDIA_STORAGE": "S3",
                "AWS_STORAGE_BUCKET_NAME": "lab-media",
                "AWS_S3_ENDPOINT_URL": "http://minio:9000",
                "AWS_ACCESS_KEY_ID": "key",
                "AWS_SECRET_ACCESS_KEY": "secret",
                "AWS_S3_REGION_NAME": "eu-west-1",
                "AWS_QUERYSTRING_EXPIRE": "60",
            }
        )
    )
    assert entry["BACKEND"] == "studyplatform.storage.MediaStorage"  # django-storages' S3
    options = entry["OPTIONS"]
    assert options["bucket_name"] == "lab-media"
    assert options["endpoint_url"] == "http://minio:9000"
    assert (options["access_key"], options["secret_key"]) == ("key", "secret")
    assert options["region_name"] == "eu-west-1"
    assert options["querystring_auth"] is True and options["querystring_expire"] == 60
    assert options["default_acl"] is None and options["file_overwrite"] is False
    config = options["client_config"]
    assert config.request_checksum_calculation == "when_required"
    assert config.s3 == {"addressing_style": "path"}


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"MEDIA_STORAGE": "nfs"}, "MEDIA_STORAGE"),
        ({"MEDIA_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME"),
        ({"AWS_S3_ENDPOINT_URL": "ftp://minio"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "http://minio:port"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_ACCESS_KEY_ID": "key"}, "AWS_SECRET_ACCESS_KEY"),
        ({"AWS_SECRET_ACCESS_KEY": "secret"}, "AWS_ACCESS_KEY_ID"),
        ({"AWS_QUERYSTRING_EXPIRE": "0"}, "AWS_QUERYSTRING_EXPIRE"),
        ({"MEDIA_PUBLIC_ENDPOINT_URL": "media.example.org"}, "MEDIA_PUBLIC_ENDPOINT_URL"),
    ],
)
def test_media_storage_errors_name_the_variable(values, name):
    environ = {"MEDIA_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "media", **values}
    if values.get("MEDIA_STORAGE") == "s3":
        environ["AWS_STORAGE_BUCKET_NAME"] = ""
    with pytest.raises(ConfigurationError, match=name):
        media_storage(Environment(environ))
